#!/usr/bin/env bash
# Disk full mid-run (injected ENOSPC from the N-th write on, through the I/O
# layer's fault switch): the run fails with a message naming the shard and the
# error, nothing half-written is left, and a rerun on a healthy disk completes
# with every item exactly once — alone and under mpirun.
. "$(dirname "$0")/lib.sh"
N=600
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N >/dev/null || fail mkimages
for mode in one mpi; do
    write_job "$TMP/$mode.ini" "out-$mode" imgs "resolution = 16" "job: max_chunk = 16"
    if [ $mode = one ]; then run=("$LM" run -q "$TMP/$mode.ini"); else run=("${MPIRUN[@]}" 3 "$LM" run -q "$TMP/$mode.ini"); fi
    LATENTMILL_FAULT=write:ENOSPC:12 "${run[@]}" >"$TMP/$mode.log" 2>&1
    rc=$?
    [ $rc = 1 ] || { cat "$TMP/$mode.log"; fail "$mode: disk full gave exit $rc, expected 1"; }
    grep -q "No space left on device" "$TMP/$mode.log" || fail "$mode: no ENOSPC message: $(cat "$TMP/$mode.log")"
    grep -Eq "shards/run0001-rank[0-9]+|journal.bin" "$TMP/$mode.log" || fail "$mode: the full file (shard or journal) not named"
    before=$("$LM" status "$TMP/out-$mode" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["done"])')
    [ "$before" -lt $N ] || fail "$mode: all items done despite the full disk"
    check "$mode: rerun" "${run[@]}"
    check "$mode: export" "$LM" export "$TMP/out-$mode" --npy >/dev/null
    [ "$(sort -u "$TMP/out-$mode/export/keys.txt" | wc -l)" = $N ] || fail "$mode: keys missing"
    [ "$(wc -l <"$TMP/out-$mode/export/keys.txt")" = $N ] || fail "$mode: duplicate keys"
    echo "$mode: failed at $before/$N items on a full disk, resumed to $N"
done
