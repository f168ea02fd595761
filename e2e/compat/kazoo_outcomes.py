"""pytest plugin: records one `<outcome> <nodeid>` line per test in $CORRAL_PYTEST_OUTCOMES.

kazoo.sh compares these against the ZooKeeper baseline. A test counts as `passed` only when
setup, call and teardown all passed; an error in any phase makes it `failed`; a skip in any
phase makes it `skipped` (unless a phase failed).
"""

import os

_RANK = {"passed": 0, "skipped": 1, "failed": 2}
_outcomes = {}


def pytest_runtest_logreport(report):
    outcome = report.outcome
    if outcome not in _RANK:
        return
    previous = _outcomes.get(report.nodeid, "passed")
    if _RANK[outcome] > _RANK[previous]:
        _outcomes[report.nodeid] = outcome
    else:
        _outcomes.setdefault(report.nodeid, previous)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("CORRAL_PYTEST_OUTCOMES")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as out:
        for nodeid in sorted(_outcomes):
            out.write("%s %s\n" % (_outcomes[nodeid], nodeid))
