#!/usr/bin/env bash
# test_knn_mpi.sh - the collective index build (distributed k-means, identity
# means) and the kNN join give byte-identical results on 1 and 3 ranks.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
drv="$PWD/$BUILD/tests/test_knn_mpi"
if [ ! -x "$drv" ]; then
    echo "FAIL: $drv not built"; exit 1
fi
if ! command -v mpirun >/dev/null; then
    echo "SKIP: mpirun not found (install openmpi-bin)"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --mca btl self,vader,tcp)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"${MPIRUN[@]}" -np 1 "$drv" --driver "$tmp/np1" || { echo "FAIL: driver on 1 rank"; exit 1; }
"${MPIRUN[@]}" -np 3 "$drv" --driver "$tmp/np3" || { echo "FAIL: driver on 3 ranks"; exit 1; }
rc=0
for f in index/images.lmi index/identities.lmi join.bin matches.npy matches_keys.txt; do
    if cmp -s "$tmp/np1/$f" "$tmp/np3/$f"; then
        echo "ok: $f identical on 1 and 3 ranks ($(stat -c %s "$tmp/np1/$f") bytes)"
    else
        echo "FAIL: $f differs between 1 and 3 ranks"; cmp "$tmp/np1/$f" "$tmp/np3/$f" | head -3
        rc=1
    fi
done
grep -q '"ranks": 3' "$tmp/np3/index/index.json" || { echo "FAIL: index.json of the 3-rank run"; rc=1; }
exit $rc
