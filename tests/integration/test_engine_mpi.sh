#!/usr/bin/env bash
# A few thousand images in a folder and in a zip: one process and
# `mpirun -np 3` produce the same export; every item exactly once.
. "$(dirname "$0")/lib.sh"
N=3000
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N --zip "$TMP/imgs.zip" || fail "mkimages"
for src in imgs imgs.zip; do
    write_job "$TMP/one-$src.ini" "out-one-$src" "$src" "resolution = 32" "stages = decode,resize"
    write_job "$TMP/mpi-$src.ini" "out-mpi-$src" "$src" "resolution = 32" "stages = decode,resize"
    check "single-process run on $src" "$LM" run -q "$TMP/one-$src.ini"
    check "mpirun -np 3 on $src" "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/mpi-$src.ini"
    for o in one mpi; do
        check "export $o $src" "$LM" export "$TMP/out-$o-$src" --npy >/dev/null
    done
    check "exports of 1 and 3 ranks equal ($src)" same_export "$TMP/out-one-$src/export" "$TMP/out-mpi-$src/export"
    n=$(wc -l <"$TMP/out-mpi-$src/export/keys.txt")
    [ "$n" = $N ] || fail "$src: $n keys, expected $N"
    d=$(sort "$TMP/out-mpi-$src/export/keys.txt" | uniq -d | wc -l)
    [ "$d" = 0 ] || fail "$src: $d duplicate keys"
    # Both ranks worked.
    "$LM" inspect "$TMP/out-mpi-$src" | grep -q "rank 2:" || fail "$src: rank 2 did no work"
done
# Folder and zip hold the same pixels (keys differ only by prefix).
"$PY" -c "
import numpy as np, sys
a=np.load('$TMP/out-mpi-imgs/export/pixels.npy'); b=np.load('$TMP/out-mpi-imgs.zip/export/pixels.npy')
sys.exit(0 if np.array_equal(a,b) else 'zip and folder pixels differ')" || fail "zip vs folder"
# A rerun does nothing and says so.
"$LM" run "$TMP/mpi-imgs.ini" 2>&1 | grep -q "0 of $N items to do" || fail "rerun redid work"
echo "ok: $N items, folder and zip, 1 and 3 ranks"
