#!/usr/bin/env bash
# Side-by-side benchmark: corral against Apache ZooKeeper 3.8.0, same machine, same run.
#
# Every workload runs against both servers in two shapes (1 member; 3 members on loopback),
# fsync on for both (ZooKeeper's forceSync=yes default; corral fsyncs by default), the same
# zoo.cfg (tickTime, snapCount, maxClientCnxns=0). Servers alternate A B A B per repetition
# (corral, zookeeper, corral, zookeeper, ...), every server starts fresh for each group of
# workloads, and the table shows the median over the repetitions.
#
#   --quick            1 repetition, small counts, 1.5 s phases (100k znodes, 100k watches,
#                      100 × 200 ephemerals); about 3.5 minutes on 2 cores (more on a busy
#                      machine), plus the release build. CI's smoke test.
#   (default: full)    3 repetitions, 15 s phases, 1M znodes, 1M watches, 1000 × 200 ephemerals;
#                      expect about 60 minutes on 2 cores (about 25 for the 1-member
#                      shape, 33 for the 3-member shape).
#   --reps N           repetitions per server and shape.
#   --shapes 1,3       shapes to run.
#   --servers corral,zookeeper
#   --workloads LIST   groups to run, any of: ops (create,set,get,mix,churn,watch-fire,expiry),
#                      many-watches, resident. Default: all three.
#   --only LIST        run just these workloads of the ops group, e.g. create,set (for
#                      comparing one change quickly; the other groups still run if chosen).
#   --heap SIZE        ZooKeeper's JVM -Xmx (default 2g), printed with the results.
#   --out DIR          where results.jsonl, table.md and the run log go
#                      (default e2e/bench/.work/<UTC date-time>).
#
# The exit status is non-zero only when something broke (a server did not start, a workload
# errored) twice: a group that breaks is run once more on fresh servers, and the report lists
# it. Slow numbers never fail it. Set CORRAL_BIN / BENCH_BIN to use prebuilt binaries.
#
# Usage: e2e/bench/run.sh [--quick] [--reps N] [--shapes 1,3] [--servers corral,zookeeper]
#                         [--workloads ops,many-watches,resident] [--only create,set]
#                         [--heap 2g] [--out DIR]
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../compat/lib.sh
source "$BENCH_DIR/../compat/lib.sh"

mode=full
reps=""
shapes="1,3"
servers="corral,zookeeper"
groups="ops,many-watches,resident"
only=""
heap="2g"
out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick)
        mode=quick
        shift
        ;;
    --reps)
        reps="${2:?--reps needs a number}"
        shift 2
        ;;
    --shapes)
        shapes="${2:?--shapes needs a list such as 1,3}"
        shift 2
        ;;
    --servers)
        servers="${2:?--servers needs a list such as corral,zookeeper}"
        shift 2
        ;;
    --workloads)
        groups="${2:?--workloads needs a list such as ops,resident}"
        shift 2
        ;;
    --only)
        only="${2:?--only needs a list such as create,set}"
        shift 2
        ;;
    --heap)
        heap="${2:?--heap needs a size such as 2g}"
        shift 2
        ;;
    --out)
        out="${2:?--out needs a directory}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
done
if [ -z "$reps" ]; then
    if [ "$mode" = quick ]; then reps=1; else reps=3; fi
fi
case "$reps" in
'' | *[!0-9]* | 0)
    echo "run.sh: --reps must be a positive number, not '$reps'" >&2
    exit 2
    ;;
esac
IFS=, read -r -a shape_list <<<"$shapes"
IFS=, read -r -a server_list <<<"$servers"
IFS=, read -r -a group_list <<<"$groups"
for s in "${shape_list[@]}"; do
    case "$s" in 1 | 3) ;; *)
        echo "run.sh: shapes are 1 and 3, not '$s'" >&2
        exit 2
        ;;
    esac
done
for s in "${server_list[@]}"; do
    case "$s" in corral | zookeeper) ;; *)
        echo "run.sh: servers are corral and zookeeper, not '$s'" >&2
        exit 2
        ;;
    esac
done
for g in "${group_list[@]}"; do
    case "$g" in ops | many-watches | resident) ;; *)
        echo "run.sh: workload groups are ops, many-watches and resident, not '$g'" >&2
        exit 2
        ;;
    esac
done
ops_workloads="create,set,get,mix,churn,watch-fire,expiry"
if [ -n "$only" ]; then
    IFS=, read -r -a only_list <<<"$only"
    for w in "${only_list[@]}"; do
        case ",$ops_workloads," in *",$w,"*) ;; *)
            echo "run.sh: --only takes workloads of the ops group ($ops_workloads), not '$w'" >&2
            exit 2
            ;;
        esac
    done
    ops_workloads="$only"
fi
case "$heap" in
*[!0-9kKmMgG]* | '')
    echo "run.sh: --heap must be a JVM size such as 2g or 1536m, not '$heap'" >&2
    exit 2
    ;;
esac

# Workloads of each group; each group runs on freshly started servers.
group_workloads() {
    case "$1" in
    ops) echo "$ops_workloads" ;;
    many-watches) echo "many-watches" ;;
    resident) echo "resident" ;;
    esac
}
# Bound on one group's run against one server, generous for a loaded machine.
if [ "$mode" = quick ]; then group_limit=600; else group_limit=5400; fi

started_at=$SECONDS
"$COMPAT_DIR/setup.sh" --no-python
compat_init

if [ -z "$out" ]; then
    out="$BENCH_DIR/.work/$(date -u +%Y%m%dT%H%M%SZ)"
fi
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

# Binaries: the workspace's release builds unless given.
build_secs=0
if [ -z "${BENCH_BIN:-}" ] || [ -z "${CORRAL_BIN:-}" ]; then
    compat_log "building corral-sidecar and corral-bench (release)"
    build_started=$SECONDS
    (cd "$REPO_ROOT" && timeout 3600 cargo build --release -p corral-sidecar -p corral-bench --quiet) || {
        compat_log "cargo build --release -p corral-sidecar -p corral-bench failed"
        exit 1
    }
    build_secs=$((SECONDS - build_started))
fi
BENCH_BIN="${BENCH_BIN:-$REPO_ROOT/target/release/corral-bench}"
export CORRAL_BIN="${CORRAL_BIN:-$REPO_ROOT/target/release/corral-sidecar}"
for bin in "$BENCH_BIN" "$CORRAL_BIN"; do
    if [ ! -x "$bin" ]; then
        compat_log "$bin is not an executable file"
        exit 1
    fi
done
export ZK_JAVA_OPTS="-Xmx$heap"

cluster_pids=()
cluster_ports=()
cluster_dirs=()

# start_cluster KIND SHAPE DIR: writes one zoo.cfg (and myid) per member under DIR, starts
# them, and waits until every member serves (and, for 3 members, one is the leader).
start_cluster() {
    local kind="$1" shape="$2" root="$3"
    cluster_pids=()
    cluster_ports=()
    cluster_dirs=()
    local -a taken=()
    local i p
    for i in $(seq 1 $((shape * 3))); do
        # pick_free_port may repeat a port it printed before; every role needs its own.
        p="$(pick_free_port)"
        while [[ " ${taken[*]} " == *" $p "* ]]; do
            p="$(pick_free_port)"
        done
        taken+=("$p")
    done
    local servers=""
    if [ "$shape" -gt 1 ]; then
        for i in $(seq 0 $((shape - 1))); do
            servers+="server.$((i + 1))=127.0.0.1:${taken[shape + i]}:${taken[2 * shape + i]}"$'\n'
        done
    fi
    local dir
    for i in $(seq 0 $((shape - 1))); do
        dir="$root/$kind-$((i + 1))"
        mkdir -p "$dir/data"
        if [ "$shape" -gt 1 ]; then
            echo "$((i + 1))" >"$dir/data/myid"
        fi
        {
            echo "tickTime=2000"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$dir/data"
            echo "clientPort=${taken[i]}"
            echo "clientPortAddress=127.0.0.1"
            echo "maxClientCnxns=0"
            echo "snapCount=100000"
            echo "4lw.commands.whitelist=*"
            echo "admin.enableServer=false"
            printf '%s' "$servers"
        } >"$dir/zoo.cfg"
        if [ "$kind" = zookeeper ]; then
            launch_zookeeper "$dir"
        else
            launch_corral_cfg "$dir"
        fi
        cluster_pids+=("$SERVER_PID")
        cluster_ports+=("${taken[i]}")
        cluster_dirs+=("$dir")
    done
    for i in "${!cluster_pids[@]}"; do
        if ! wait_for_server 127.0.0.1 "${cluster_ports[i]}" 120 "${cluster_pids[i]}"; then
            show_cluster_logs
            return 1
        fi
    done
    if [ "$shape" -gt 1 ] && ! wait_for_leader 120; then
        show_cluster_logs
        return 1
    fi
}

# wait_for_leader TIMEOUT_S: until some member answers srvr with Mode: leader.
wait_for_leader() {
    local deadline=$((SECONDS + $1)) i
    while [ "$SECONDS" -lt "$deadline" ]; do
        for i in "${!cluster_ports[@]}"; do
            if four_letter_word 127.0.0.1 "${cluster_ports[i]}" srvr | grep -q '^Mode: leader$'; then
                return 0
            fi
        done
        sleep 0.5
    done
    compat_log "no member reported Mode: leader within $1 s"
    return 1
}

# show_cluster_logs: the end of every member's log on stderr, and the whole logs kept in
# $out/logs/ (the temp dir is removed on exit).
show_cluster_logs() {
    local dir
    mkdir -p "$out/logs"
    for dir in "${cluster_dirs[@]}"; do
        tail_log "$dir/server.log"
        cp "$dir/server.log" "$out/logs/$(basename "$(dirname "$dir")")-$(basename "$dir").log" 2>/dev/null || true
    done
    compat_log "server logs kept in $out/logs/"
}

stop_cluster() {
    local pid
    for pid in "${cluster_pids[@]}"; do
        stop_pid "$pid"
    done
}

# run_group KIND SHAPE REP GROUP ATTEMPT: fresh servers (new data dirs for every attempt), the
# group's workloads, servers stopped, and their data dirs removed: a full run writes tens of GB
# of logs and snapshots (1M znodes on 3 members, many times over), more than a disk may hold
# if every group's data stayed until the end. Logs of a failed group are kept in $out/logs.
run_group() {
    local root="$COMPAT_TMP/$1-$2-$3-$4-attempt$5"
    local status=0
    run_group_in "$root" "$@" || status=$?
    rm -rf "$root"
    return "$status"
}

run_group_in() {
    local root="$1" kind="$2" shape="$3" rep="$4" group="$5"
    compat_log "== $kind, $shape member(s), repetition $rep: $group"
    start_cluster "$kind" "$shape" "$root" || {
        compat_log "$kind ($shape member(s)) did not start"
        return 1
    }
    local members="" pids="" i
    for i in "${!cluster_ports[@]}"; do
        members+="${members:+,}127.0.0.1:${cluster_ports[i]}"
        pids+="${pids:+,}${cluster_pids[i]}"
    done
    local status=0
    timeout "$group_limit" "$BENCH_BIN" run --server "$kind" --members "$members" --pids "$pids" \
        --shape "$shape" --rep "$rep" --profile "$mode" --workloads "$(group_workloads "$group")" \
        >"$root/results.jsonl" 2> >(tee -a "$out/bench.log" >&2) || status=$?
    # Only a whole group's rows reach the results, so a retried group counts once.
    if [ "$status" -eq 0 ]; then
        cat "$root/results.jsonl" >>"$results"
    else
        compat_log "corral-bench failed against $kind ($shape member(s)) with status $status"
        show_cluster_logs
        stop_cluster
        return 1
    fi
    stop_cluster
}

# A group that breaks is run once more on fresh servers (a loaded 2-core machine can stall an
# ensemble's start-up; either server gets the same second chance) and the retry is listed in the
# report. A group that breaks twice is recorded and the run goes on, so that one failure does
# not lose the other figures; the run then exits non-zero.
failures=()
retried=()
for shape in "${shape_list[@]}"; do
    for rep in $(seq 1 "$reps"); do
        for group in "${group_list[@]}"; do
            for kind in "${server_list[@]}"; do
                label="$kind, $shape member(s), repetition $rep, group $group"
                if run_group "$kind" "$shape" "$rep" "$group" 1; then
                    continue
                fi
                compat_log "retrying once: $label"
                retried+=("$label")
                if ! run_group "$kind" "$shape" "$rep" "$group" 2; then
                    failures+=("$label")
                fi
            done
        done
    done
done

# The report: machine, settings, then the table.
disk_device="$(df --output=source "$COMPAT_TMP" 2>/dev/null | tail -n 1)"
disk_info="$(lsblk -dno NAME,TYPE,SIZE,ROTA,MODEL "$disk_device" 2>/dev/null | tr -s ' ' || true)"
cpu_model="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
mem_total="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
elapsed=$((SECONDS - started_at))
{
    echo "## corral vs Apache ZooKeeper 3.8.0 ($mode mode)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); took $((elapsed / 60)) min $((elapsed % 60)) s, of which ${build_secs} s building"
    echo "- machine: $(nproc) CPUs (${cpu_model:-unknown model}), $mem_total memory, kernel $(uname -r)"
    echo "- disk under the data dirs: ${disk_device:-unknown} ${disk_info:+(name type size rotational model: $disk_info)}"
    echo "- ZooKeeper: 3.8.0 (Debian), $(java -version 2>&1 | head -n 1), JVM heap -Xmx$heap; corral: $(basename "$CORRAL_BIN") release build"
    echo "- both: fsync on (ZooKeeper forceSync=yes by default, corral by default), tickTime=2000, snapCount=100000, maxClientCnxns=0, loopback only"
    echo "- repetitions: $reps per server and shape, alternating ${server_list[*]}; each value is the median"
    echo "- load generator: corral-bench (zookeeper-client crate) on the same machine; latencies of fixed-rate rows are measured from each request's intended send time (coordinated-omission safe)"
    echo
    if [ -s "$results" ]; then
        "$BENCH_BIN" table --input "$results"
    else
        echo "(no results)"
    fi
    if [ "${#retried[@]}" -gt 0 ]; then
        echo
        echo "Broke once and were run again on fresh servers (the first attempt's errors and logs are in $out):"
        printf -- '- %s\n' "${retried[@]}"
    fi
    if [ "${#failures[@]}" -gt 0 ]; then
        echo
        echo "FAILED (their cells are empty; the errors and server logs are in $out):"
        printf -- '- %s\n' "${failures[@]}"
    fi
} | tee "$out/table.md"
compat_log "results: $results; table: $out/table.md; took ${elapsed}s"
if [ "${#failures[@]}" -gt 0 ]; then
    compat_log "${#failures[@]} group(s) failed"
    exit 1
fi
