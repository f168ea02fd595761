#!/usr/bin/env bash
# Runs kazoo 2.11's own test suite through kazoo's own harness, which starts its servers with
# `java ... QuorumPeerMain zoo.cfg`.
#
#   --server zookeeper   Apache ZooKeeper 3.8.0 from Debian.
#   --server corral      (default) the `java` shim is first on PATH, so the same harness starts
#                        `corral-sidecar node --zoo-cfg <zoo.cfg>` instead.
#
# Acceptance rule: every test that passes against ZooKeeper 3.8.0 with the same cluster size
# (kazoo-baseline-zk380-size<N>.txt) passes against corral, except the tests listed in
# kazoo-exceptions.txt (`test-id  # reason`). A corral run deselects every other test, runs the
# rest and exits non-zero if any fails. `--server zookeeper --refresh-baseline` rewrites the
# baseline from a ZooKeeper run. The last line printed is pytest's own summary line.
#
# --cluster-size 3 (kazoo's default) runs every test against a 3-member ensemble: kazoo's
# harness starts one server per member, each from its own zoo.cfg with server.N lines and myid.
#
# Usage: e2e/compat/kazoo.sh [--cluster-size 1|3] [--server corral|zookeeper] [--refresh-baseline]
#                            [--test-timeout SECONDS] [-- extra pytest args, e.g. -k test_create]
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_size=1
server=corral
refresh=0
# Per-test bound: the slowest test against ZooKeeper takes well under a minute; a test that
# outlives this is hung and fails instead of stalling the run.
test_timeout=180
# Whole-run bound (the ZooKeeper run with every extra installed takes ~4 minutes on 2 cores).
run_timeout=2700
extra_pytest=()

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --cluster-size)
        cluster_size="${2:?--cluster-size needs a number}"
        shift 2
        ;;
    --server)
        server="${2:?--server needs corral or zookeeper}"
        shift 2
        ;;
    --refresh-baseline)
        refresh=1
        shift
        ;;
    --test-timeout)
        test_timeout="${2:?--test-timeout needs seconds}"
        shift 2
        ;;
    --)
        shift
        extra_pytest=("$@")
        break
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "kazoo.sh: unknown argument '$1'" >&2
        usage
        exit 2
        ;;
    esac
done

case "$server" in
corral | zookeeper) ;;
*)
    echo "kazoo.sh: --server must be corral or zookeeper, not '$server'" >&2
    exit 2
    ;;
esac
if ! [[ "$cluster_size" =~ ^[1-9][0-9]*$ ]]; then
    echo "kazoo.sh: --cluster-size must be a positive integer, not '$cluster_size'" >&2
    exit 2
fi
if [ "$refresh" -eq 1 ] && [ "$server" != zookeeper ]; then
    echo "kazoo.sh: --refresh-baseline records ZooKeeper's results; use it with --server zookeeper" >&2
    exit 2
fi

baseline_file="$COMPAT_DIR/kazoo-baseline-zk380-size${cluster_size}.txt"
exceptions_file="$COMPAT_DIR/kazoo-exceptions.txt"

"$COMPAT_DIR/setup.sh"
compat_init

if [ "$server" = corral ]; then
    ensure_corral_bin
    # Absolute: the servers are started from kazoo's directory, not from here.
    CORRAL_BIN="$(readlink -f "$(corral_bin)")"
    export CORRAL_BIN
    shim_bin="$COMPAT_TMP/shim-bin"
    mkdir -p "$shim_bin"
    ln -s "$COMPAT_DIR/java" "$shim_bin/java"
    export PATH="$shim_bin:$PATH"
    compat_log "java shim first on PATH: kazoo's harness will start $CORRAL_BIN"
fi

site_packages="$("$COMPAT_VENV/bin/python" -c 'import kazoo, os; print(os.path.dirname(os.path.dirname(kazoo.__file__)))')"
# Each harness server uses 10 consecutive ports from the offset (client, peer, election, admin,
# secure client); pick a free block so that a stray server elsewhere cannot break the run.
port_offset="$(pick_free_port_block 20000 $((cluster_size * 10)))"

export ZOOKEEPER_PATH=/usr/share/java
export ZOOKEEPER_VERSION=3.8.0
export ZOOKEEPER_CLUSTER_SIZE="$cluster_size"
export ZOOKEEPER_PORT_OFFSET="$port_offset"
export PYTHONPATH="$COMPAT_DIR${PYTHONPATH:+:$PYTHONPATH}"
export CORRAL_PYTEST_OUTCOMES="$COMPAT_TMP/outcomes.txt"
# The harness leaves server data in fresh temp dirs; keep them inside COMPAT_TMP.
export TMPDIR="$COMPAT_TMP"

pytest_base=("$COMPAT_VENV/bin/python" -m pytest -p kazoo_outcomes -p no:cacheprovider
    --rootdir "$site_packages" -q -o console_output_style=classic --timeout "$test_timeout")

# Test ids are `kazoo/tests/test_x.py::Class::test_name` (relative to site-packages).
cd "$site_packages"
"${pytest_base[@]}" --collect-only kazoo/tests 2>/dev/null | grep '::' | sort -u >"$COMPAT_TMP/collected.txt" || true
collected_count=$(wc -l <"$COMPAT_TMP/collected.txt")
if [ "$collected_count" -eq 0 ]; then
    echo "kazoo.sh: pytest collected no kazoo tests from $site_packages/kazoo/tests; rerun setup.sh" >&2
    exit 1
fi

# Lines of a list file without comments and blank lines (the first field is the test id).
list_ids() {
    sed -e 's/#.*$//' -e 's/[[:space:]]*$//' "$1" | awk 'NF { print $1 }'
}

deselect_args=()
: >"$COMPAT_TMP/expected.txt"
if [ "$server" = corral ]; then
    if [ ! -f "$baseline_file" ]; then
        echo "kazoo.sh: no baseline $baseline_file for cluster size $cluster_size; create it with" \
            "'$0 --cluster-size $cluster_size --server zookeeper --refresh-baseline'" >&2
        exit 1
    fi
    list_ids "$baseline_file" | sort -u >"$COMPAT_TMP/baseline.txt"
    if [ -f "$exceptions_file" ]; then
        list_ids "$exceptions_file" | sort -u >"$COMPAT_TMP/exceptions.txt"
    else
        : >"$COMPAT_TMP/exceptions.txt"
    fi
    # Expected to pass: in the baseline and not an exception (an exception may be a prefix,
    # e.g. a whole class).
    python3 - "$COMPAT_TMP" <<'EOF'
import sys
tmp = sys.argv[1]
read = lambda name: [l.strip() for l in open(f"{tmp}/{name}") if l.strip()]
collected, baseline, exceptions = read("collected.txt"), set(read("baseline.txt")), read("exceptions.txt")
expected, deselected = [], []
for test in collected:
    excepted = any(test == e or test.startswith(e + "::") or test.startswith(e + "[") for e in exceptions)
    (expected if test in baseline and not excepted else deselected).append(test)
open(f"{tmp}/expected.txt", "w").write("".join(t + "\n" for t in expected))
open(f"{tmp}/deselected.txt", "w").write("".join(t + "\n" for t in deselected))
missing = sorted(baseline - set(collected))
if missing:
    print("kazoo.sh: %d baseline tests were not collected (kazoo version changed?): %s"
          % (len(missing), ", ".join(missing[:5])), file=sys.stderr)
    sys.exit(1)
EOF
    while IFS= read -r test; do
        deselect_args+=(--deselect "$test")
    done <"$COMPAT_TMP/deselected.txt"
    compat_log "kazoo suite against corral: $(wc -l <"$COMPAT_TMP/expected.txt") tests expected to pass," \
        "${#deselect_args[@]} args deselecting $(wc -l <"$COMPAT_TMP/deselected.txt") tests" \
        "(not passing on ZooKeeper 3.8.0 or listed in kazoo-exceptions.txt)"
else
    compat_log "kazoo suite against Apache ZooKeeper 3.8.0: $collected_count tests, cluster size $cluster_size"
fi

pytest_log="$COMPAT_TMP/pytest.log"
compat_log "running pytest (port offset $port_offset, per-test timeout ${test_timeout}s)"
set +e
timeout --kill-after=30 "$run_timeout" "${pytest_base[@]}" "${deselect_args[@]}" "${extra_pytest[@]}" kazoo/tests 2>&1 |
    tee "$pytest_log"
pytest_rc=${PIPESTATUS[0]}
set -e

summary_line="$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|deselected|error|errors|xfailed|xpassed)' "$pytest_log" | tail -n 1 || true)"
if [ -z "$summary_line" ]; then
    summary_line="$(tail -n 1 "$pytest_log")"
fi
if [ "$pytest_rc" -eq 124 ] || [ "$pytest_rc" -eq 137 ]; then
    compat_log "pytest did not finish within ${run_timeout}s and was stopped"
fi

outcomes="$COMPAT_TMP/outcomes.txt"
[ -f "$outcomes" ] || : >"$outcomes"
count_outcome() { grep -c "^$1 " "$outcomes" || true; }
echo
echo "kazoo.sh: server=$server cluster_size=$cluster_size passed=$(count_outcome passed)" \
    "failed=$(count_outcome failed) skipped=$(count_outcome skipped)"

status=0
if [ "$server" = corral ]; then
    # Every expected test must have run and passed.
    # With extra pytest arguments (e.g. -k) only the tests that ran are checked.
    python3 - "$COMPAT_TMP" "${#extra_pytest[@]}" <<'EOF' || status=1
import sys
tmp, partial = sys.argv[1], sys.argv[2] != "0"
expected = [l.strip() for l in open(f"{tmp}/expected.txt") if l.strip()]
outcome = {}
for line in open(f"{tmp}/outcomes.txt"):
    state, _, test = line.strip().partition(" ")
    outcome[test] = state
if partial:
    expected = [t for t in expected if t in outcome]
bad = [(t, outcome.get(t, "not run")) for t in expected if outcome.get(t) != "passed"]
for test, state in bad:
    print("kazoo.sh: %-7s %s (passes against ZooKeeper 3.8.0)" % (state, test))
print("kazoo.sh: %d of %d tests that pass against ZooKeeper 3.8.0 passed against corral"
      % (len(expected) - len(bad), len(expected)))
sys.exit(1 if bad else 0)
EOF
    if [ "$pytest_rc" -ne 0 ]; then
        status=1
    fi
elif [ "$refresh" -eq 1 ]; then
    if [ "$pytest_rc" -ne 0 ] && [ "$pytest_rc" -ne 1 ]; then
        echo "kazoo.sh: pytest exited with $pytest_rc (not a completed run); baseline left unchanged"
        status=1
    elif [ "${#extra_pytest[@]}" -gt 0 ]; then
        echo "kazoo.sh: extra pytest arguments given; a partial run does not refresh the baseline"
        status=1
    else
        {
            echo "# kazoo 2.11.0 tests that PASS against Apache ZooKeeper 3.8.0 (Debian), cluster size $cluster_size."
            echo "# Produced by: e2e/compat/kazoo.sh --cluster-size $cluster_size --server zookeeper --refresh-baseline"
            echo "# Run of $(date -u +%Y-%m-%d): passed=$(count_outcome passed) failed=$(count_outcome failed) skipped=$(count_outcome skipped)"
            echo "# Failed against ZooKeeper: $(grep '^failed ' "$outcomes" | cut -d' ' -f2- | tr '\n' ' ')"
            grep '^passed ' "$outcomes" | cut -d' ' -f2- | sort
        } >"$baseline_file"
        echo "kazoo.sh: wrote $(count_outcome passed) passing test ids to $baseline_file"
    fi
else
    # A full ZooKeeper run: report drift from the recorded baseline (e.g. flaky tests).
    if [ -f "$baseline_file" ] && [ "${#extra_pytest[@]}" -eq 0 ]; then
        list_ids "$baseline_file" | sort -u >"$COMPAT_TMP/baseline.txt"
        grep '^passed ' "$outcomes" | cut -d' ' -f2- | sort -u >"$COMPAT_TMP/passed-now.txt"
        lost="$(comm -23 "$COMPAT_TMP/baseline.txt" "$COMPAT_TMP/passed-now.txt")"
        gained="$(comm -13 "$COMPAT_TMP/baseline.txt" "$COMPAT_TMP/passed-now.txt")"
        if [ -n "$lost" ]; then
            echo "kazoo.sh: in the baseline but not passing now:"
            while IFS= read -r test; do echo "  $test"; done <<<"$lost"
            status=1
        fi
        if [ -n "$gained" ]; then
            echo "kazoo.sh: passing now but not in the baseline:"
            while IFS= read -r test; do echo "  $test"; done <<<"$gained"
        fi
    fi
fi

# pytest's own summary line comes last.
echo "$summary_line"
exit "$status"
