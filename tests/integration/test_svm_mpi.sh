#!/usr/bin/env bash
# test_svm_mpi.sh - the bank under mpirun -np 3 equals the bank of one rank.
# Synthetic latents (w and a 4-layer W+) with planted directions; binary, score
# (InterFaceGAN ratio selection) and one-vs-rest class labels; conditional
# directions. Runs tasks mode (one direction per rank-group, rows moved with
# Alltoallv), tasks mode with 2-rank groups, and data mode (each direction across
# all ranks), and compares every .npy with the 1-rank bank (cosine >= 1 - 1e-6).
# Also checks the fixed-C solver itself across 1 and 3 ranks.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DRV="$BUILD/bench/bench_svm"
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found"; exit 77; }
[ -x "$DRV" ] || { echo "missing $DRV (run make)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
MPI="mpirun -np 3 --oversubscribe --allow-run-as-root"
fail=0
run() { echo "+ $*"; "$@" 2>"$tmp/err" || { cat "$tmp/err"; echo "FAIL: $*"; fail=1; }; }
run "$DRV" bank "$tmp/one" 6000 64 wplus=1
run $MPI "$DRV" bank "$tmp/tasks" 6000 64 wplus=1 parallel=tasks
run $MPI "$DRV" bank "$tmp/data" 6000 64 wplus=1 parallel=data
run "$DRV" cmp "$tmp/one" "$tmp/tasks" 1e-6
run "$DRV" cmp "$tmp/one" "$tmp/data" 1e-6
run "$DRV" bank "$tmp/one2" 6000 64 only_smiling_age=1 C=0.5
run $MPI "$DRV" bank "$tmp/grp2" 6000 64 only_smiling_age=1 C=0.5 parallel=tasks
run "$DRV" cmp "$tmp/one2" "$tmp/grp2" 1e-6
grep -q '"parallel":	"tasks"' "$tmp/tasks/bank/manifest.json" || { echo "FAIL: tasks mode not used"; fail=1; }
grep -q '"groups":	2' "$tmp/grp2/bank/manifest.json" || { echo "FAIL: expected 2 groups"; fail=1; }
# The solver alone: identical objective on 1 and 3 ranks.
o1=$("$DRV" time 9000 96 1 0.5 | sed -n 's/.*objective \([^,]*\),.*/\1/p')
o3=$($MPI "$DRV" time 9000 96 1 0.5 | sed -n 's/.*objective \([^,]*\),.*/\1/p')
echo "objective 1 rank $o1, 3 ranks $o3"
awk -v a="$o1" -v b="$o3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-9 * a) }' ||
    { echo "FAIL: objectives differ"; fail=1; }
[ $fail -eq 0 ] && echo "mpirun -np 3 banks equal the 1-rank bank"
exit $fail
