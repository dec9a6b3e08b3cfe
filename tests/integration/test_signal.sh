#!/usr/bin/env bash
# SIGTERM mid-run drains within a few seconds with exit status 3 (one process
# and rank 0 under mpirun; SIGUSR1 too), the status socket answers while the
# run is live, and a rerun completes with every item exactly once.
. "$(dirname "$0")/lib.sh"
N=2500
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N --size 178x218 || fail "mkimages"
write_job "$TMP/job.ini" out imgs "resolution = 256" "job: max_chunk = 8" "item_threads = 1"

drain() { # signal, command...
    local sig=$1
    shift
    "$@" >"$TMP/run.log" 2>&1 &
    local p=$!
    # Wait for the status socket: the run is live.
    for _ in $(seq 200); do [ -S "$TMP/out/status.sock" ] && break; sleep 0.02; done
    "$LM" status "$TMP/out" | grep -q '^running:' || fail "status did not report a live run"
    local target=$p
    if [ "$1" = "${MPIRUN[0]}" ]; then
        target=$(pgrep -P "$p" -x latentmill | head -1)
        for c in $(pgrep -P "$p" -x latentmill); do
            tr '\0' '\n' <"/proc/$c/environ" | grep -qx OMPI_COMM_WORLD_RANK=0 && target=$c
        done
    fi
    local t0=$SECONDS
    kill -s "$sig" "$target"
    wait $p
    local rc=$?
    local dt=$((SECONDS - t0))
    echo "$sig to pid $target: exit $rc after ${dt}s"
    [ $rc = 3 ] || { cat "$TMP/run.log"; fail "$sig: exit status $rc, expected 3 (drained)"; }
    [ $dt -le 10 ] || fail "$sig: drain took ${dt}s"
    grep -q "rerun the same command to resume" "$TMP/run.log" || fail "no resume hint in the log"
    [ ! -e "$TMP/out/status.sock" ] || fail "status socket left behind"
}
drain TERM "$LM" run -q "$TMP/job.ini"
drain USR1 "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/job.ini"
drain TERM "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/job.ini"
"$LM" status "$TMP/out" | grep -q "not running" || fail "status after drain"
check "rerun completes" "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/job.ini"
check "export" "$LM" export "$TMP/out" --npy >/dev/null
n=$(sort -u "$TMP/out/export/keys.txt" | wc -l)
[ "$n" = $N ] || fail "$n unique keys, expected $N"
[ "$(wc -l <"$TMP/out/export/keys.txt")" = $N ] || fail "duplicate keys"
echo "ok: drained three times, resumed to $N items"
