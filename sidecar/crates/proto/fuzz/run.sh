#!/usr/bin/env bash
# Runs corral-proto's fuzz targets with cargo-fuzz (libFuzzer), installing cargo-fuzz if it is
# missing. The stable toolchain is used with RUSTC_BOOTSTRAP=1, since cargo-fuzz passes
# unstable compiler flags and this machine has no other toolchain to rely on.
#
#   run.sh --quick                # every target for a few seconds (CI)
#   run.sh --seconds 60 [TARGET]  # each (or one) target for 60 s
#   run.sh --runs 10000000        # each target for 10 million executions
#
# Each target starts from its committed seeds (seeds/<target>, read only) and a working corpus
# (corpus/<target>, not committed). Builds are release with debug assertions (overflow checks)
# and no sanitizer: the crate has no unsafe code, and the fuzzer looks for panics, hangs and
# runaway allocations. Fuzzing runs at low priority, one job per target. A crash fails the run
# and leaves its input under artifacts/<target>/; `cargo fuzz fmt <target> <file>` shows it.
# The last line per target says how many inputs were executed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ALL_TARGETS=(frame connect_request request multi sasl_digest_md5 decode)
CARGO_FUZZ_VERSION=0.13.2

seconds=""
runs=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick)
        seconds=5
        shift
        ;;
    --seconds)
        seconds="${2:?--seconds needs a number}"
        shift 2
        ;;
    --runs)
        runs="${2:?--runs needs a number}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "run.sh: unknown option '$1' (see --help)" >&2
        exit 2
        ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done
if [ -z "$seconds" ] && [ -z "$runs" ]; then
    echo "run.sh: say how long to fuzz: --quick, --seconds N or --runs N" >&2
    exit 2
fi
if [ "${#targets[@]}" -eq 0 ]; then
    targets=("${ALL_TARGETS[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io)"
    timeout 1200 cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

export RUSTC_BOOTSTRAP=1
build_flags=(--release --debug-assertions --sanitizer none)
echo "run.sh: building the fuzz targets"
timeout 1800 cargo fuzz build "${build_flags[@]}"

limit=()
if [ -n "$runs" ]; then
    limit+=("-runs=$runs")
fi
if [ -n "$seconds" ]; then
    limit+=("-max_total_time=$seconds")
fi
# The whole run is bounded too: the time asked for, or for a run count a generous budget.
budget=$(( ${seconds:-0} + 60 ))
if [ -n "$runs" ]; then
    budget=$(( budget + 3600 ))
fi

status=0
summary=()
for target in "${targets[@]}"; do
    if [ ! -d "seeds/$target" ]; then
        echo "run.sh: no target '$target' (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    echo "run.sh: fuzzing $target"
    set +e
    timeout --kill-after=30 "$budget" nice -n 10 cargo fuzz run "${build_flags[@]}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "${limit[@]}" >"$log" 2>&1
    rc=$?
    set -e
    executions="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
    if [ "$rc" -ne 0 ]; then
        status=1
        tail -n 40 "$log" >&2
        summary+=("fuzz $target: FAILED (exit $rc) after ${executions:-?} executions; see $PWD/$log")
    else
        summary+=("fuzz $target: ${executions:-?} executions, no crash")
    fi
done
printf '%s\n' "${summary[@]}"
exit "$status"
