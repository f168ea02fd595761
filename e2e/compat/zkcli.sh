#!/usr/bin/env bash
# Drives Apache ZooKeeper's own command-line clients against a server and checks what they
# print: zkCli.sh (the Java client, 3.8.0) and cli_mt (the C client, 3.8.0), both from Debian.
#
#   --server corral     (default) corral-sidecar node on a free loopback port.
#   --server zookeeper  Apache ZooKeeper 3.8.0, to validate the expectations themselves.
#   --members 3         a 3-member ensemble of that server (default 1: a standalone server);
#                       the clients get a multi-host connect string, every member must see
#                       the data, mntr on the leader must count 2 synced followers, and a new
#                       session must still work after the leader is killed with SIGKILL.
#
# The last line is `N passed, M failed` (checks); the exit status is non-zero on any failure.
#
# Usage: e2e/compat/zkcli.sh [--server corral|zookeeper] [--members 1|3]
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server=corral
members=1
while [ $# -gt 0 ]; do
    case "$1" in
    --server)
        server="${2:?--server needs corral or zookeeper}"
        shift 2
        ;;
    --members)
        members="${2:?--members needs 1 or 3}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *)
        echo "zkcli.sh: unknown argument '$1' (supported: --server corral|zookeeper, --members 1|3)" >&2
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
case "$members" in
1 | 3) ;;
*)
    echo "zkcli.sh: --members must be 1 or 3, not '$members'" >&2
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

# Per member (index 0..members-1): client port, pid, directory. A standalone server is member 0.
member_ports=()
member_pids=()
member_dirs=()
leader=""

# start_ensemble: writes a zoo.cfg and myid for each of 3 members of $server on fresh loopback
# ports and starts them all (ZooKeeper waits for its peers, so they start together).
start_ensemble() {
    local -a taken=()
    local i p
    for i in $(seq 0 8); do
        # pick_free_port may repeat a port it printed before; every role needs its own.
        p="$(pick_free_port)"
        while [[ " ${taken[*]} " == *" $p "* ]]; do
            p="$(pick_free_port)"
        done
        taken+=("$p")
    done
    local servers=""
    for i in 0 1 2; do
        servers+="server.$((i + 1))=127.0.0.1:${taken[3 + i]}:${taken[6 + i]}"$'\n'
    done
    local dir
    for i in 0 1 2; do
        dir="$COMPAT_TMP/$server-$((i + 1))"
        mkdir -p "$dir/data"
        echo "$((i + 1))" >"$dir/data/myid"
        {
            echo "tickTime=2000"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$dir/data"
            echo "clientPort=${taken[i]}"
            echo "clientPortAddress=127.0.0.1"
            echo "4lw.commands.whitelist=*"
            echo "admin.enableServer=false"
            printf '%s' "$servers"
        } >"$dir/zoo.cfg"
        if [ "$server" = zookeeper ]; then
            launch_zookeeper "$dir"
        else
            launch_corral_cfg "$dir"
        fi
        compat_log "started $server member $((i + 1)) pid $SERVER_PID on 127.0.0.1:${taken[i]} (log $dir/server.log)"
        member_ports+=("${taken[i]}")
        member_pids+=("$SERVER_PID")
        member_dirs+=("$dir")
    done
}

# wait_for_leader TIMEOUT_S: sets `leader` to the index of a live member whose srvr says
# `Mode: leader`.
wait_for_leader() {
    local limit="$1"
    local deadline=$((SECONDS + limit))
    local i
    leader=""
    while [ "$SECONDS" -lt "$deadline" ]; do
        for i in "${!member_ports[@]}"; do
            kill -0 "${member_pids[i]}" 2>/dev/null || continue
            if four_letter_word 127.0.0.1 "${member_ports[i]}" srvr | grep -q '^Mode: leader$'; then
                leader=$i
                return 0
            fi
        done
        sleep 0.5
    done
    compat_log "no member reported Mode: leader within ${limit}s"
    return 1
}

# show_member_logs: the end of every member's log, after a failure to start.
show_member_logs() {
    local dir
    for dir in "${member_dirs[@]}"; do
        tail_log "$dir/server.log"
    done
}

if [ "$members" -eq 1 ]; then
    port="$(pick_free_port)"
    server_dir="$COMPAT_TMP/$server"
    start_server "$server" "$port" "$server_dir"
    if ! wait_for_server 127.0.0.1 "$port" 60 "$SERVER_PID"; then
        tail_log "$server_dir/server.log"
        echo "0 passed, 1 failed"
        exit 1
    fi
    member_ports=("$port")
    member_pids=("$SERVER_PID")
    member_dirs=("$server_dir")
    connect="127.0.0.1:$port"
else
    start_ensemble
    started=1
    for i in 0 1 2; do
        wait_for_port 127.0.0.1 "${member_ports[i]}" 60 "${member_pids[i]}" || started=0
    done
    if [ "$started" -eq 0 ] || ! wait_for_leader 90; then
        show_member_logs
        echo "0 passed, 1 failed"
        exit 1
    fi
    compat_log "member $((leader + 1)) is the leader"
    connect="127.0.0.1:${member_ports[0]},127.0.0.1:${member_ports[1]},127.0.0.1:${member_ports[2]}"
fi

# run_zkcli OUTPUT [CONNECT [zkCli options...]] < commands: one zkCli.sh session (default
# connect string: every member) reading commands from stdin (JLine is off when stdin is not a
# terminal); `quit` closes the session, which removes its ephemerals.
run_zkcli() {
    local out="$1" servers="${2:-$connect}"
    shift
    [ $# -eq 0 ] || shift
    timeout 120 "$ZKCLI" -server "$servers" "$@" >"$out" 2>&1 || {
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
timeout 60 "$CLI_MT" -h "$connect" <"$cmt_in" >"$cmt_out" 2>&1 &
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

outputs=("$cli1" "$cli2" "$cmt_out" "$cli3")

if [ "$members" -eq 1 ]; then
    if ! kill -0 "${member_pids[0]}" 2>/dev/null; then
        failed=$((failed + 1))
        echo "FAIL  the $server server is still running after the sessions"
        tail_log "${member_dirs[0]}/server.log"
    fi
else
    for i in 0 1 2; do
        if ! kill -0 "${member_pids[i]}" 2>/dev/null; then
            failed=$((failed + 1))
            echo "FAIL  $server member $((i + 1)) is still running after the sessions"
            tail_log "${member_dirs[i]}/server.log"
        fi
    done

    compat_log "every member serves the data after sync (one zkCli.sh session per member)"
    for i in 0 1 2; do
        member_out="$COMPAT_TMP/zkcli-member-$((i + 1)).out"
        outputs+=("$member_out")
        run_zkcli "$member_out" "127.0.0.1:${member_ports[i]}" <<'EOF'
sync /
get /corral-cli
get /corral-cmt
quit
EOF
        check "member $((i + 1)): sync succeeds" "$member_out" '^Sync is OK$'
        check "member $((i + 1)): sees zkCli's data" "$member_out" '^world$'
        check "member $((i + 1)): sees cli_mt's data" "$member_out" '^cdata$'
    done

    # A follower counts as synced once it finished its initial sync with the leader; allow
    # a few seconds for that after the election.
    mntr_out="$COMPAT_TMP/leader-mntr.out"
    outputs+=("$mntr_out")
    deadline=$((SECONDS + 30))
    while :; do
        four_letter_word 127.0.0.1 "${member_ports[leader]}" mntr >"$mntr_out"
        if grep -q $'^zk_synced_followers\t2$' "$mntr_out" || [ "$SECONDS" -ge "$deadline" ]; then
            break
        fi
        sleep 0.5
    done
    check "mntr on the leader: server state is leader" "$mntr_out" $'^zk_server_state\tleader$'
    check "mntr on the leader: 2 synced followers" "$mntr_out" $'^zk_synced_followers\t2$'
    if [ "$server" = corral ]; then
        # ZooKeeper 3.8 names the count zk_learners; corral prints the older zk_followers too.
        check "mntr on the leader: 2 followers" "$mntr_out" $'^zk_followers\t2$'
    fi

    compat_log "kill -9 the leader (member $((leader + 1))); a new session must still work"
    old_leader=$leader
    kill -KILL "${member_pids[old_leader]}" 2>/dev/null || true
    wait "${member_pids[old_leader]}" 2>/dev/null || true
    if wait_for_leader 90; then
        passed=$((passed + 1))
        echo "PASS  the surviving members elected a new leader (member $((leader + 1)))"
    else
        failed=$((failed + 1))
        echo "FAIL  no new leader among the surviving members within 90 s"
    fi
    cli4="$COMPAT_TMP/zkcli-4.out"
    outputs+=("$cli4")
    # -waitforconnection: the first host tried may be the dead one; commands wait for a session.
    run_zkcli "$cli4" "$connect" -waitforconnection <<'EOF'
create /corral-failover after
get /corral-failover
get /corral-cli
quit
EOF
    check "after the leader died: create prints the path" "$cli4" '^Created /corral-failover$'
    check "after the leader died: get returns the new data" "$cli4" '^after$'
    check "after the leader died: earlier data is still there" "$cli4" '^world$'
    check_absent "after the leader died: no connection loss" "$cli4" 'ConnectionLoss|Session expired|exited with status'
fi

if [ "$failed" -gt 0 ]; then
    for f in "${outputs[@]}"; do
        echo "---- $(basename "$f")"
        grep -v -E '^SLF4J|^$' "$f" | head -n 80 || true
    done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
