# shellcheck shell=bash
# Helpers shared by the compatibility scripts. Source it; do not execute it.
#
#   source "$(dirname "$0")/lib.sh"
#   compat_init                      # temp dir + EXIT trap that stops every server started here
#   port=$(pick_free_port)
#   start_zookeeper "$port" "$COMPAT_TMP/zk"   # sets SERVER_PID
#   start_corral "$port" "$COMPAT_TMP/corral"  # sets SERVER_PID
#   wait_for_server 127.0.0.1 "$port" 60 "$SERVER_PID"
#
# Everything listens on loopback only. Every wait is bounded.

# shellcheck disable=SC2034 # constants for the scripts that source this file
COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$COMPAT_DIR/../.." && pwd)"
COMPAT_WORK="$COMPAT_DIR/.work"
# shellcheck disable=SC2034
COMPAT_VENV="$COMPAT_WORK/venv"
ZK_CLASSPATH="/usr/share/java/*:/etc/zookeeper/conf_example"
# shellcheck disable=SC2034
ZKCLI="/usr/share/zookeeper/bin/zkCli.sh"
# shellcheck disable=SC2034
CLI_MT="/usr/lib/zookeeper/bin/cli_mt"
REAL_JAVA="${REAL_JAVA:-/usr/bin/java}"

# Pids of servers started through this file; stopped by compat_cleanup.
COMPAT_PIDS=()
COMPAT_TMP=""

compat_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Creates COMPAT_TMP and installs the cleanup trap. Call once, early, from the top-level script.
compat_init() {
    COMPAT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/corral-compat.XXXXXX")"
    trap compat_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Stops every server this shell started (TERM, then KILL after 10 s) and removes COMPAT_TMP
# unless KEEP_TMP=1 (useful to read server logs after a failure).
compat_cleanup() {
    local rc=$?
    local pid
    for pid in "${COMPAT_PIDS[@]}"; do
        stop_pid "$pid"
    done
    COMPAT_PIDS=()
    if [ -n "$COMPAT_TMP" ] && [ -d "$COMPAT_TMP" ]; then
        if [ "${KEEP_TMP:-0}" = "1" ]; then
            compat_log "keeping $COMPAT_TMP (KEEP_TMP=1)"
        else
            rm -rf "$COMPAT_TMP"
        fi
    fi
    return "$rc"
}

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL. Only for processes this shell started.
stop_pid() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        compat_log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Prints a TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
pick_free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Prints the first port P >= START such that P..P+COUNT-1 are all free on 127.0.0.1.
# kazoo's harness needs such a block (client, peer, election, admin, secure ports per server).
pick_free_port_block() {
    local start="$1" count="$2"
    python3 - "$start" "$count" <<'EOF'
import socket, sys
start, count = int(sys.argv[1]), int(sys.argv[2])
def free(p):
    s = socket.socket()
    # Servers bind with SO_REUSEADDR, so ports with only TIME_WAIT leftovers count as free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for base in range(start, 65000 - count, count):
    if all(free(p) for p in range(base, base + count)):
        print(base)
        sys.exit(0)
sys.exit("no free block of %d ports above %d" % (count, start))
EOF
}

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# four_letter_word HOST PORT WORD: sends a ZooKeeper four-letter word and prints the answer.
four_letter_word() {
    # shellcheck disable=SC2016 # the inner script expands its own positional parameters
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "%s" "$3" >&3
        cat <&3
    ' _ "$1" "$2" "$3" 2>/dev/null || true
}

# wait_for_port HOST PORT TIMEOUT_S [PID]: waits until the port accepts connections. Fails early
# when PID (the server) has exited.
wait_for_port() {
    local host="$1" port="$2" limit="$3" pid="${4:-}"
    local deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            compat_log "server pid $pid exited before $host:$port opened"
            return 1
        fi
        if port_open "$host" "$port"; then
            return 0
        fi
        sleep 0.2
    done
    compat_log "$host:$port did not open within ${limit}s"
    return 1
}

# wait_for_server HOST PORT TIMEOUT_S [PID]: waits until the server answers `srvr` with its
# state (ZooKeeper opens the port before it serves; `srvr` is whitelisted by default on both
# ZooKeeper and corral).
wait_for_server() {
    local host="$1" port="$2" limit="$3" pid="${4:-}"
    local deadline=$((SECONDS + limit))
    wait_for_port "$host" "$port" "$limit" "$pid" || return 1
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            compat_log "server pid $pid exited while starting"
            return 1
        fi
        if four_letter_word "$host" "$port" srvr | grep -q "^Mode:"; then
            return 0
        fi
        sleep 0.3
    done
    compat_log "$host:$port did not answer srvr with a Mode line within ${limit}s"
    return 1
}

# start_zookeeper PORT DIR [zoo.cfg lines...]: starts Apache ZooKeeper (standalone) on
# 127.0.0.1:PORT with its data, config and log under DIR. Extra arguments are appended to zoo.cfg.
# ZK_JAVA_OPTS (array-like string) adds JVM system properties, e.g.
# ZK_JAVA_OPTS="-Dzookeeper.extendedTypesEnabled=true". Sets SERVER_PID.
start_zookeeper() {
    local port="$1" dir="$2"
    shift 2
    mkdir -p "$dir/data"
    {
        echo "tickTime=2000"
        echo "dataDir=$dir/data"
        echo "clientPort=$port"
        echo "clientPortAddress=127.0.0.1"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        local line
        for line in "$@"; do
            echo "$line"
        done
    } >"$dir/zoo.cfg"
    launch_zookeeper "$dir"
    compat_log "started ZooKeeper 3.8.0 pid $SERVER_PID on 127.0.0.1:$port (log $dir/server.log)"
}

# launch_zookeeper DIR: runs QuorumPeerMain on the zoo.cfg already written to DIR/zoo.cfg,
# logging to DIR/server.log. ZK_JAVA_OPTS as for start_zookeeper. Sets SERVER_PID.
launch_zookeeper() {
    local dir="$1"
    local -a opts
    read -r -a opts <<<"${ZK_JAVA_OPTS:-}"
    # -Dzookeeper.log.dir keeps Debian's log4j setup from writing under /var/log.
    "$REAL_JAVA" -cp "$ZK_CLASSPATH" -Dzookeeper.log.dir="$dir" -Dzookeeper.root.logger=INFO,CONSOLE \
        -Djava.awt.headless=true "${opts[@]}" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    COMPAT_PIDS+=("$SERVER_PID")
}

# launch_corral_cfg DIR: runs `corral-sidecar node` on the zoo.cfg already written to
# DIR/zoo.cfg (it reads clientPort, dataDir, server.N lines and myid from there), logging to
# DIR/server.log; the metrics listener is off, as ZooKeeper serves none by default. Sets SERVER_PID.
launch_corral_cfg() {
    local dir="$1"
    local bin
    bin="$(corral_bin)"
    "$bin" node --zoo-cfg "$dir/zoo.cfg" --metrics-port 0 >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    COMPAT_PIDS+=("$SERVER_PID")
}

# The corral binary: CORRAL_BIN if set, else the workspace's release build.
corral_bin() {
    echo "${CORRAL_BIN:-$REPO_ROOT/target/release/corral-sidecar}"
}

# ensure_corral_bin: builds the release binary unless CORRAL_BIN names an existing file.
# cargo is a no-op when the build is up to date, so a stale binary is never tested by accident.
ensure_corral_bin() {
    if [ -n "${CORRAL_BIN:-}" ]; then
        if [ ! -x "$CORRAL_BIN" ]; then
            compat_log "CORRAL_BIN=$CORRAL_BIN is not an executable file; unset it to build the workspace binary"
            return 1
        fi
        return 0
    fi
    compat_log "building corral-sidecar (release)"
    (cd "$REPO_ROOT" && timeout 3600 cargo build --release -p corral-sidecar --quiet) || {
        compat_log "cargo build --release -p corral-sidecar failed"
        return 1
    }
}

# start_corral PORT DIR [extra node flags...]: starts `corral-sidecar node` on 127.0.0.1:PORT
# with a fresh data dir under DIR; the admin and metrics listeners are off unless flags say
# otherwise. Sets SERVER_PID.
start_corral() {
    local port="$1" dir="$2"
    shift 2
    mkdir -p "$dir/data"
    local bin
    bin="$(corral_bin)"
    "$bin" node --data-dir "$dir/data" --client-port "$port" --client-port-address 127.0.0.1 \
        --admin-port 0 --metrics-port 0 "$@" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    COMPAT_PIDS+=("$SERVER_PID")
    compat_log "started corral pid $SERVER_PID on 127.0.0.1:$port (log $dir/server.log)"
}

# start_server KIND PORT DIR: KIND is corral or zookeeper; common defaults for the suites.
start_server() {
    local kind="$1" port="$2" dir="$3"
    case "$kind" in
    zookeeper) start_zookeeper "$port" "$dir" ;;
    corral) start_corral "$port" "$dir" --four-letter-words '*' ;;
    *)
        compat_log "unknown server kind '$kind' (expected corral or zookeeper)"
        return 2
        ;;
    esac
}

# tail_log FILE: shows the end of a server log after a failure.
tail_log() {
    if [ -f "$1" ]; then
        compat_log "last lines of $1:"
        tail -n 40 "$1" >&2
    fi
}
