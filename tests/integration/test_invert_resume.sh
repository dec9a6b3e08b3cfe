#!/usr/bin/env bash
# Crash and resume during inversion: kill -9 a worker rank, then rank 0, then a single
# process at random moments of an invert job; rerun with another number of ranks until
# done: every item inverted exactly once, and latents identical to an uninterrupted run.
. "$(dirname "$0")/lib.sh"
"$PY" -c "import numpy" 2>/dev/null || skip "python3-numpy missing"
G="$TMP/g.safetensors"
check "tame generator" "$PY" "$ROOT/tests/integration/tame_generator.py" \
    "$ROOT/tests/golden/stylegan2/res32.weights.safetensors" "$G"
N=16
mkdir -p "$TMP/imgs"
for s in $(seq 1 $N); do
    check "edit --seed $s" "$LM" edit --seed $s --generator "$G" --png "$TMP/imgs/s$(printf %03d $s).png"
done
for o in ref job; do
    cat >"$TMP/$o.ini" <<INI
[job]
out = out-$o
progress = 0
max_chunk = 2
min_chunk = 1
[dataset]
path = imgs
[node]
stages = decode,invert
threads = 1
[invert]
generator = g.safetensors
space = wplus
steps = 30
w_avg_samples = 2000
INI
done
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
done_count() { "$LM" status "$TMP/out-job" --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null || echo 0; }
kill_run() { # ranks victim-rank
    local np=$1 victim=$2 delay pid
    "${MPIRUN[@]}" "$np" "$LM" run -q "$TMP/job.ini" >"$TMP/run.log" 2>&1 &
    local mp=$!
    delay=$("$PY" -c "import random; print(round(random.uniform(1.0, 3.0), 2))")
    sleep "$delay"
    pid=$(rank_pid "$victim") || true
    if [ -n "$pid" ]; then
        kill -9 "$pid"
        echo "killed rank $victim after ${delay}s; $(done_count) of $N done"
    else
        echo "rank $victim not found after ${delay}s"
    fi
    wait $mp || true
}
kill_run 3 1
kill_run 3 0
"$LM" run -q "$TMP/job.ini" & p=$!
sleep 1.5; kill -9 $p 2>/dev/null; wait $p 2>/dev/null || true
echo "killed the single process; $(done_count) of $N done"
check "final run" "${MPIRUN[@]}" 2 "$LM" run -q "$TMP/job.ini"
check "export" "$LM" export "$TMP/out-job" --npy >/dev/null
n=$(wc -l <"$TMP/out-job/export/keys.txt")
[ "$n" = $N ] || fail "$n keys after resume, expected $N"
d=$(sort "$TMP/out-job/export/keys.txt" | uniq -d | wc -l)
[ "$d" = 0 ] || fail "$d duplicate keys"
check "latents equal the uninterrupted run" same_export "$TMP/out-ref/export" "$TMP/out-job/export"
echo "ok: $N items inverted exactly once after $(ls "$TMP/out-job/runs" | wc -l) runs with kills"
