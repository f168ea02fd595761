#!/usr/bin/env bash
# Drives Apache ZooKeeper's own command-line clients against a server and checks what they
# print: zkCli.sh (the Java client, 3.8.0) and cli_mt (the C client, 3.8.0), both from Debian.
#
#   --server corral     (default) corral-sidecar node on a free loopback port.
#   --server zookeeper  Apache ZooKeeper 3.8.0, to validate the expectations themselves.
#
# The last line is `N passed, M failed` (checks); the exit status is non-zero on any failure.
#
# Usage: e2e/compat/zkcli.sh [--server corral|zookeeper]
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server=corral
while [ $# -gt 0 ]; do
    case "$1" in
    --server)
        server="${2:?--server needs corral or zookeeper}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *)
        echo "zkcli.sh: unknown argument '$1' (supported: --server corral|zookeeper)" >&2
        exit 2
        ;;
    esac
done
case "$server" in
corral | zookeeper) ;;
*)
    echo "zkcli.sh: --server must be corral or zookeeper, not '$server'" >&2
    exit 2
    ;;
esac

"$COMPAT_DIR/setup.sh" --no-python
compat_init
if [ "$server" = corral ]; then
    ensure_corral_bin
fi

passed=0
failed=0

# check DESCRIPTION FILE EXTENDED-REGEX: passes when a line of FILE matches.
check() {
    local description="$1" file="$2" pattern="$3"
    if grep -Eq -- "$pattern" "$file"; then
        passed=$((passed + 1))
        echo "PASS  $description"
    else
        failed=$((failed + 1))
        echo "FAIL  $description (no line matching /$pattern/ in $(basename "$file"))"
    fi
}

# check_absent DESCRIPTION FILE EXTENDED-REGEX: passes when no line of FILE matches.
check_absent() {
    local description="$1" file="$2" pattern="$3"
    if grep -Eq -- "$pattern" "$file"; then
        failed=$((failed + 1))
        echo "FAIL  $description (unexpected line matching /$pattern/ in $(basename "$file"))"
    else
        passed=$((passed + 1))
        echo "PASS  $description"
    fi
}

port="$(pick_free_port)"
server_dir="$COMPAT_TMP/$server"
start_server "$server" "$port" "$server_dir"
if ! wait_for_server 127.0.0.1 "$port" 60 "$SERVER_PID"; then
    tail_log "$server_dir/server.log"
    echo "0 passed, 1 failed"
    exit 1
fi
server_pid=$SERVER_PID

# run_zkcli OUTPUT < commands: one zkCli.sh session reading commands from stdin (JLine is off
# when stdin is not a terminal); `quit` closes the session, which removes its ephemerals.
run_zkcli() {
    local out="$1"
    timeout 120 "$ZKCLI" -server "127.0.0.1:$port" >"$out" 2>&1 || {
        echo "zkCli.sh exited with status $? (output in $out)" >>"$out"
    }
}

compat_log "zkCli.sh session 1: create, ls, get, set, stat, getAcl, sequential and ephemeral nodes"
cli1="$COMPAT_TMP/zkcli-1.out"
run_zkcli "$cli1" <<'EOF'
create /corral-cli hello
create /corral-cli again
ls /
get /corral-cli
set /corral-cli world
get /corral-cli
stat /corral-cli
getAcl /corral-cli
create -s /corral-cli/seq- first
create -s /corral-cli/seq- second
create -e /corral-cli/eph ephemeral-data
stat /corral-cli/eph
ls /corral-cli
create /corral-cli/child c
delete /corral-cli/child
delete /corral-cli
get /corral-cli/missing
set /corral-cli stale -v 7
create -c /corral-cli-container
stat /corral-cli-container
create -t 100000 /corral-cli-ttl
addauth digest alice:secret
create /corral-cli/secure s auth::cdrwa
getAcl /corral-cli/secure
quit
EOF

check "create prints the path" "$cli1" '^Created /corral-cli$'
check "create of an existing node is refused" "$cli1" '^Node already exists: /corral-cli$'
check "ls / lists the new node and /zookeeper" "$cli1" '^\[.*corral-cli.*zookeeper.*\]$'
check "get returns the data written by create" "$cli1" '^hello$'
check "get returns the data written by set" "$cli1" '^world$'
check "stat: dataVersion is 1 after one set" "$cli1" '^dataVersion = 1$'
check "stat: dataLength is 5" "$cli1" '^dataLength = 5$'
check "stat: a persistent node has no ephemeral owner" "$cli1" '^ephemeralOwner = 0x0$'
check "stat: aclVersion is 0" "$cli1" '^aclVersion = 0$'
check "getAcl shows the open ACL" "$cli1" "^'world,'anyone$"
check "getAcl shows all permissions" "$cli1" '^: cdrwa$'
check "first sequential child is numbered 0" "$cli1" '^Created /corral-cli/seq-0000000000$'
check "second sequential child is numbered 1" "$cli1" '^Created /corral-cli/seq-0000000001$'
check "ephemeral create prints the path" "$cli1" '^Created /corral-cli/eph$'
check "stat: an ephemeral node has a session as owner" "$cli1" '^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$'
check "ls lists the ephemeral and sequential children" "$cli1" '^\[eph, seq-0000000000, seq-0000000001\]$'
check "create then delete of a child succeeds" "$cli1" '^Created /corral-cli/child$'
check "delete of a node with children is refused" "$cli1" '^Node not empty: /corral-cli$'
check "get of a missing node reports it" "$cli1" '^Node does not exist: /corral-cli/missing$'
check "set with a wrong version is refused" "$cli1" '^version No is not valid : /corral-cli$'
check "container create prints the path" "$cli1" '^Created /corral-cli-container$'
check "TTL nodes are refused unless extended types are enabled" "$cli1" '^KeeperErrorCode = Unimplemented for /corral-cli-ttl$'
check "auth ACL create prints the path" "$cli1" '^Created /corral-cli/secure$'
check "the auth ACL became the session's digest identity" "$cli1" "^'digest,'alice:"
check_absent "no connection loss in session 1" "$cli1" 'ConnectionLoss|Session expired|exited with status'

compat_log "zkCli.sh session 2: the first session's ephemeral is gone, ACLs are enforced"
cli2="$COMPAT_TMP/zkcli-2.out"
run_zkcli "$cli2" <<'EOF'
ls /corral-cli
stat /corral-cli
get /corral-cli/secure
get /corral-cli
quit
EOF
check "the closed session's ephemeral was removed" "$cli2" '^\[secure, seq-0000000000, seq-0000000001\]$'
check "stat: numChildren counts the remaining children" "$cli2" '^numChildren = 3$'
check "stat: cversion counts child creations and deletions" "$cli2" '^cversion = 7$'
check "a digest-protected node refuses an unauthenticated read" "$cli2" '^Insufficient permission : /corral-cli/secure$'
check "data survives across sessions" "$cli2" '^world$'

compat_log "cli_mt (C client): create, set, ephemeral create, ls through stdin"
cmt_in="$COMPAT_TMP/cli_mt.in"
cmt_out="$COMPAT_TMP/cli_mt.out"
mkfifo "$cmt_in"
timeout 60 "$CLI_MT" -h "127.0.0.1:$port" <"$cmt_in" >"$cmt_out" 2>&1 &
cmt_pid=$!
exec 5>"$cmt_in"

# wait_for_output PATTERN SECONDS: waits until cli_mt printed a line matching PATTERN.
wait_for_output() {
    local pattern="$1" limit="$2"
    local deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if grep -Eq -- "$pattern" "$cmt_out"; then
            return 0
        fi
        if ! kill -0 "$cmt_pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# cli_mt reads stdin at once and answers commands sent before the session exists with
# ZINVALIDSTATE (-116), so every command waits for the previous answer.
cmt_step() {
    local command="$1" expect="$2"
    echo "$command" >&5
    wait_for_output "$expect" 10 || true
    check "cli_mt: $command" "$cmt_out" "$expect"
}
if wait_for_output '^Got a new session id: 0x' 20; then
    passed=$((passed + 1))
    echo "PASS  cli_mt: connected and got a session"
    cmt_step "create /corral-cmt" '^\[/corral-cmt\]: rc = 0$'
    cmt_step "set /corral-cmt cdata" '^/corral-cmt: rc = 0 Stat:$'
    cmt_step "create +e /corral-cmt/eph" '^\[/corral-cmt/eph\]: rc = 0$'
    cmt_step "create /corral-cmt" '^\[/corral-cmt\]: rc = -110$'
    cmt_step "ls /corral-cmt" '^[[:space:]]+eph$'
else
    failed=$((failed + 1))
    echo "FAIL  cli_mt: no session within 20 s"
fi
echo "quit" >&5 || true
exec 5>&-
wait "$cmt_pid" 2>/dev/null || true

cli3="$COMPAT_TMP/zkcli-3.out"
run_zkcli "$cli3" <<'EOF'
get /corral-cmt
stat /corral-cmt
quit
EOF
check "zkCli sees the node cli_mt created, with its data" "$cli3" '^cdata$'
check "zkCli sees cli_mt's set as dataVersion 1" "$cli3" '^dataVersion = 1$'
check "cli_mt's ephemeral left with its session" "$cli3" '^numChildren = 0$'

if ! kill -0 "$server_pid" 2>/dev/null; then
    failed=$((failed + 1))
    echo "FAIL  the $server server is still running after the sessions"
    tail_log "$server_dir/server.log"
fi
if [ "$failed" -gt 0 ]; then
    for f in "$cli1" "$cli2" "$cmt_out" "$cli3"; do
        echo "---- $(basename "$f")"
        grep -v -E '^SLF4J|^$' "$f" | head -n 80 || true
    done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
