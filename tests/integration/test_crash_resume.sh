#!/usr/bin/env bash
# kill -9 a worker, and in another run rank 0, at random moments; rerun (with
# another number of ranks too) until done: every item present exactly once,
# none lost, and the records equal those of an uninterrupted run.
. "$(dirname "$0")/lib.sh"
N=2500
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N --size 178x218 || fail "mkimages"
write_job "$TMP/ref.ini" out-ref imgs "resolution = 224" "job: max_chunk = 32"
write_job "$TMP/job.ini" out imgs "resolution = 224" "job: max_chunk = 32"
check "reference run" "$LM" run -q "$TMP/ref.ini"
check "reference export" "$LM" export "$TMP/out-ref" --npy >/dev/null

rank_pid() { # rank -> pid of that latentmill rank (under mpirun)
    local want=$1 p
    for p in $(pgrep -x latentmill); do
        if { tr "\0" "\n" <"/proc/$p/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$want"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
done_count() { "$LM" status "$TMP/out" --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null || echo 0; }

# Wait until the live run has committed a random share of what is left, so
# every kill lands mid-run however fast the machine is.
wait_mid_run() {
    local before=$1 target
    target=$("$PY" -c "import random; b=$before; print(b + max(1, int(random.uniform(0.1, 0.6) * ($N - b))))")
    for _ in $(seq 600); do
        [ "$(done_count)" -ge "$target" ] && return 0
        sleep 0.02
    done
    return 1
}
kill_run() { # ranks victim-rank
    local np=$1 victim=$2 before
    before=$(done_count)
    "${MPIRUN[@]}" "$np" "$LM" run -q "$TMP/job.ini" >"$TMP/run.log" 2>&1 &
    local mp=$!
    wait_mid_run "$before" || echo "run ended before the kill point"
    local pid
    pid=$(rank_pid "$victim") || true
    if [ -n "$pid" ]; then
        kill -9 "$pid"
        echo "killed rank $victim (pid $pid) at $(done_count) done"
    else
        echo "rank $victim not found (run already over?)"
    fi
    wait $mp || true
}
kill_run 3 1
kill_run 3 0
kill_run 3 2
# Single process: kill -9 at a random moment.
before=$(done_count)
"$LM" run -q "$TMP/job.ini" & p=$!
wait_mid_run "$before" || true
kill -9 $p 2>/dev/null; wait $p 2>/dev/null || true
echo "killed the single process; $(done_count) done"
# Finish with a different number of ranks.
check "final run" "${MPIRUN[@]}" 2 "$LM" run -q "$TMP/job.ini"
check "export" "$LM" export "$TMP/out" --npy >/dev/null
n=$(wc -l <"$TMP/out/export/keys.txt")
[ "$n" = $N ] || fail "$n keys after resume, expected $N"
d=$(sort "$TMP/out/export/keys.txt" | uniq -d | wc -l)
[ "$d" = 0 ] || fail "$d duplicate keys"
check "records equal the uninterrupted run" same_export "$TMP/out-ref/export" "$TMP/out/export"
runs=$(ls "$TMP/out/runs" | wc -l)
echo "ok: $N items exactly once after $runs runs with kills"
