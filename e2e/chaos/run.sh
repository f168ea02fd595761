#!/usr/bin/env bash
# The chaos and linearizability suite: real corral-sidecar ensembles in network namespaces under
# nemeses, client histories checked for linearizability and invariants. Needs root.
#
#   e2e/chaos/run.sh --quick                  # the CI subset, under 10 minutes
#   e2e/chaos/run.sh --minutes 60             # as much of the full matrix as fits in an hour
#   e2e/chaos/run.sh --seed S --workload W --nemesis X [--duration-secs D] [--members 3|5]
#                                             # one run (replays a failed one)
#   e2e/chaos/run.sh --regressions            # replay every run that once found a node bug
#   e2e/chaos/run.sh --broken                 # a deliberately broken node: anomalies expected
#
# Other options go to corral-chaos as they are (see `target/release/corral-chaos --help`).
# CORRAL_BIN names a prebuilt node binary instead of building one. Failed runs leave their
# history, seed, findings, nemesis journal and member logs in e2e/chaos/failures/.
set -euo pipefail
cd "$(dirname "$0")/../.."

broken=0
args=()
for arg in "$@"; do
    case "$arg" in
        --broken) broken=1 ;;
        *) args+=("$arg") ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "run.sh: the chaos suite needs root (network namespaces, tmpfs mounts)" >&2
    exit 2
fi
if ! command -v ip >/dev/null && [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ]; then
    echo "== installing iproute2"
    apt-get install -y iproute2 >/dev/null
fi

echo "== cargo build --release -p corral-chaos"
cargo build --release -p corral-chaos
chaos=target/release/corral-chaos

if [ "$broken" = 1 ]; then
    # A separate target dir: the broken node never replaces the real build.
    echo "== cargo build --release -p corral-sidecar --features chaos-broken-sync (target/chaos-broken)"
    cargo build --release -p corral-sidecar --features chaos-broken-sync --target-dir target/chaos-broken
    node=target/chaos-broken/release/corral-sidecar
    # sync without a read index lets a follower serve a stale read after sync; slow peer links
    # make followers lag behind the leader, so the register history shows it.
    exec "$chaos" --binary "$node" --workload register --nemesis slow --duration-secs 40 \
        --failures-dir e2e/chaos/failures/broken --expect-anomalies "${args[@]}"
fi

if [ -n "${CORRAL_BIN:-}" ]; then
    node="$CORRAL_BIN"
else
    echo "== cargo build --release -p corral-sidecar"
    cargo build --release -p corral-sidecar
    node=target/release/corral-sidecar
fi
exec "$chaos" --binary "$node" "${args[@]}"
