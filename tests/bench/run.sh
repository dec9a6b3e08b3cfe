#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: every tests/bench/bench_*.sh in turn.
# Benchmarks print their figures (and ratios against the peer measured in the
# same run); they never gate `make test`. BENCH=name runs only matching ones.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export LATENTMILL="$PWD/$BUILD/latentmill"
rc=0
for b in tests/bench/bench_*.sh; do
    [ -f "$b" ] || continue
    case "$b" in *"${BENCH:-}"*) ;; *) continue ;; esac
    echo "== $(basename "$b" .sh)"
    bash "$b" || { echo "   (benchmark $b failed)"; rc=1; }
done
exit $rc
