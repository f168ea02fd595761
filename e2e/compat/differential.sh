#!/usr/bin/env bash
# Differential test: the same seeded random operations go to Apache ZooKeeper 3.8.0 and to a
# second server, and every result and watch notification is compared (see e2e/differential).
#
#   --against corral     (default) the second server is corral-sidecar node.
#   --against zookeeper  a second ZooKeeper 3.8.0: validates the tester itself (any mismatch
#                        is then the tester's fault, e.g. a timing-dependent comparison).
#   --self-test          also alter one of the second server's results and require that the
#                        tester reports it (shows the comparison can fail).
#
# Both servers run on loopback with extended types (TTL, container) enabled, no connection
# limit, no admin server, fresh data dirs. The last line is `N passed, M failed`, counting
# seeds (plus the self-test when it is asked for).
#
# Usage: e2e/compat/differential.sh [--seeds 20] [--ops 600] [--first-seed 1]
#                                   [--against corral|zookeeper] [--self-test]
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seeds=20
ops=600
first_seed=1
against=corral
self_test=0
# Whole-run bound; the default run takes about a minute against ZooKeeper on 2 cores.
run_timeout=1200

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --seeds)
        seeds="${2:?--seeds needs a number}"
        shift 2
        ;;
    --ops)
        ops="${2:?--ops needs a number}"
        shift 2
        ;;
    --first-seed)
        first_seed="${2:?--first-seed needs a number}"
        shift 2
        ;;
    --against)
        against="${2:?--against needs corral or zookeeper}"
        shift 2
        ;;
    --self-test)
        self_test=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "differential.sh: unknown argument '$1'" >&2
        usage
        exit 2
        ;;
    esac
done
case "$against" in
corral | zookeeper) ;;
*)
    echo "differential.sh: --against must be corral or zookeeper, not '$against'" >&2
    exit 2
    ;;
esac

"$COMPAT_DIR/setup.sh" --no-python
compat_init

compat_log "building the differential tester"
(cd "$REPO_ROOT" && timeout 1800 cargo build -p corral-differential --quiet)
tester="$REPO_ROOT/target/debug/corral-differential"
if [ "$against" = corral ]; then
    ensure_corral_bin
fi

zk_port="$(pick_free_port)"
ZK_JAVA_OPTS="-Dzookeeper.extendedTypesEnabled=true" \
    start_zookeeper "$zk_port" "$COMPAT_TMP/zookeeper" "maxClientCnxns=0"
zk_pid=$SERVER_PID

other_port="$(pick_free_port)"
while [ "$other_port" = "$zk_port" ]; do other_port="$(pick_free_port)"; done
if [ "$against" = corral ]; then
    start_corral "$other_port" "$COMPAT_TMP/corral" --extended-types-enabled --max-client-cnxns 0
    other_name=corral
else
    ZK_JAVA_OPTS="-Dzookeeper.extendedTypesEnabled=true" \
        start_zookeeper "$other_port" "$COMPAT_TMP/zookeeper-b" "maxClientCnxns=0"
    other_name=zookeeper-b
fi
other_pid=$SERVER_PID

if ! wait_for_server 127.0.0.1 "$zk_port" 60 "$zk_pid"; then
    tail_log "$COMPAT_TMP/zookeeper/server.log"
    exit 1
fi
if ! wait_for_server 127.0.0.1 "$other_port" 60 "$other_pid"; then
    tail_log "$COMPAT_TMP/$other_name/server.log"
    exit 1
fi

common=(--a "127.0.0.1:$zk_port" --a-name zookeeper --b "127.0.0.1:$other_port" --b-name "$other_name")
status=0
if [ "$self_test" -eq 1 ]; then
    compat_log "self-test: one altered result must be reported"
    self_log="$COMPAT_TMP/self-test.log"
    if ! timeout "$run_timeout" "$tester" "${common[@]}" --self-test --first-seed "$first_seed" \
        --ops "$ops" --run-id "self-test-$$" | tee "$self_log"; then
        status=1
    fi
fi

log="$COMPAT_TMP/differential.log"
set +e
timeout --kill-after=10 "$run_timeout" "$tester" "${common[@]}" --seeds "$seeds" --ops "$ops" \
    --first-seed "$first_seed" --run-id "run-$$" | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    status=1
    for pid_dir in "$zk_pid:zookeeper" "$other_pid:$other_name"; do
        if ! kill -0 "${pid_dir%%:*}" 2>/dev/null; then
            compat_log "server ${pid_dir#*:} is no longer running"
            tail_log "$COMPAT_TMP/${pid_dir#*:}/server.log"
        fi
    done
fi

last_line="$(tail -n 1 "$log")"
if [[ "$last_line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed="${BASH_REMATCH[1]}"
    failed="${BASH_REMATCH[2]}"
else
    # The tester did not finish (killed by the timeout or crashed): count every seed failed.
    echo "differential: the tester exited with status $rc before its summary"
    passed=0
    failed="$seeds"
fi
if [ "$self_test" -eq 1 ]; then
    # The self-test counts as one more item, so that its failure shows in the final count.
    if grep -q "^1 passed, 0 failed$" "$self_log"; then
        echo "differential: self-test passed (an altered result was reported)"
        passed=$((passed + 1))
    else
        echo "differential: self-test FAILED (an altered result went unreported)"
        failed=$((failed + 1))
    fi
fi
echo "$passed passed, $failed failed"
exit "$status"
