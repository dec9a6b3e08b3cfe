#!/usr/bin/env bash
# Inversion benchmarks (issue 6), measured side by side in one run:
#  1. seconds per image for STEPS (100) optimisation steps at 64x64 and 256x256:
#     `latentmill invert` against tools/invert_ref.py (the same optimisation in PyTorch
#     on tools/sg2_ref.py's generator: same generator file, loss, schedule, steps and
#     threads), space w with optimised noise maps; ratio = torch / latentmill;
#  2. items/s of the invert stage with 1 worker (one process) and 2 workers
#     (mpirun -np 3: rank 0 coordinates), parallel efficiency.
# Generators: 64x64 = the golden res64 net (w 128, channel_base 2048, max 128);
# 256x256 = a random-init net from sg2_ref.py random-init (w 128, channel_base 2048,
# max 128, 2 mapping layers); both with torgb scaled by 0.15 (tame_generator.py) so
# images stay in [-1, 1]. Needs python3-torch for the peer (else only ours is shown).
set -u
. "$(dirname "$0")/../integration/lib.sh"
STEPS=${STEPS:-100}
THREADS=${THREADS:-1}
N_ITEMS=${N_ITEMS:-8}
ITEM_STEPS=${ITEM_STEPS:-30}
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); threads per process $THREADS"
have_torch=1
"$PY" -c "import torch" 2>/dev/null || have_torch=0
"$PY" "$ROOT/tests/integration/tame_generator.py" \
    "$ROOT/tests/golden/stylegan2/res64.weights.safetensors" "$TMP/g64.safetensors" || fail "g64"
if [ $have_torch = 1 ]; then
    "$PY" "$ROOT/tools/sg2_ref.py" random-init --res 256 --channel-base 2048 --channel-max 128 \
        --z-dim 128 --w-dim 128 --mapping-layers 2 --seed 7 --out "$TMP/raw256.safetensors" \
        >/dev/null || fail "random-init 256"
    "$PY" "$ROOT/tests/integration/tame_generator.py" "$TMP/raw256.safetensors" \
        "$TMP/g256.safetensors" || fail "g256"
fi
field() { "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])" "$1" "$2"; }
for R in 64 256; do
    G="$TMP/g$R.safetensors"
    [ -f "$G" ] || { echo "${R}x${R}: skipped (no torch to make the generator)"; continue; }
    "$LM" edit --seed 1 --generator "$G" --png "$TMP/t$R.png" || fail "render"
    # w statistics once (cached next to the generator), not timed.
    "$LM" invert "$TMP/t$R.png" -o "$TMP/warm.npy" --generator "$G" --steps 1 \
        --w-avg-samples 2000 --threads "$THREADS" >/dev/null 2>&1
    ours=$(nice -n 0 "$LM" invert "$TMP/t$R.png" -o "$TMP/l$R.npy" --generator "$G" \
        --steps "$STEPS" --space w --w-avg-samples 2000 --threads "$THREADS" --json 2>/dev/null) \
        || fail "latentmill invert $R"
    s_ours=$(field "$ours" seconds)
    p_ours=$(field "$ours" psnr)
    if [ $have_torch = 1 ]; then
        peer=$("$PY" "$ROOT/tools/invert_ref.py" --weights "$G" --image "$TMP/t$R.png" \
            --steps "$STEPS" --space w --threads "$THREADS" --w-avg-samples 2000) || fail "peer $R"
        s_peer=$(field "$peer" seconds_per_image)
        p_peer=$("$PY" -c "import json,sys; print(json.loads(sys.argv[1])['psnr'][0])" "$peer")
        ratio=$(echo "$s_ours $s_peer" | awk '{printf "%.2f", $2 / $1}')
        echo "${R}x${R}, $STEPS steps (w + noise maps): latentmill ${s_ours} s/image (PSNR $p_ours)," \
             "PyTorch ${s_peer} s/image (PSNR $p_peer): ${ratio}x"
    else
        echo "${R}x${R}, $STEPS steps: latentmill ${s_ours} s/image (PSNR $p_ours); peer skipped (no torch)"
    fi
done

# 2. The stage: N_ITEMS rendered 64x64 images, 1 worker vs 2 workers.
mkdir -p "$TMP/imgs"
for s in $(seq 1 "$N_ITEMS"); do
    "$LM" edit --seed "$s" --generator "$TMP/g64.safetensors" --png "$TMP/imgs/s$s.png" || fail "render"
done
for o in one two bat; do
    mc=1 b=1
    [ $o = bat ] && mc=4 b=4
    cat >"$TMP/$o.ini" <<INI
[job]
out = out-$o
progress = 0
max_chunk = $mc
min_chunk = $mc
[dataset]
path = imgs
[node]
stages = decode,invert
threads = $THREADS
[invert]
generator = g64.safetensors
steps = $ITEM_STEPS
batch = $b
w_avg_samples = 2000
INI
done
"$LM" run -q "$TMP/one.ini" || fail "one worker"
"${MPIRUN[@]}" 3 "$LM" run -q "$TMP/two.ini" || fail "two workers"
r1=$("$LM" inspect "$TMP/out-one" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
r2=$("$LM" inspect "$TMP/out-two" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
"$LM" run -q "$TMP/bat.ini" || fail "one worker, batch 4"
r4=$("$LM" inspect "$TMP/out-bat" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
eff=$(echo "$r1 $r2" | awk '{ if ($1 > 0) printf "%.0f", 100 * $2 / (2 * $1); else print "?" }')
echo "invert stage, 64x64, $ITEM_STEPS steps, $N_ITEMS items: 1 worker $r1 items/s," \
     "2 workers $r2 items/s (parallel efficiency ${eff}% on $(nproc) shared cores);" \
     "1 worker with [invert] batch = 4: $r4 items/s"

# 3. Nearest-neighbour initialiser: mean steps until the per-step PSNR first reaches
# 30 dB, starting at w_avg vs at the nearest of 500 generated samples (64x64, w,
# the generator's own noise buffers), 6 targets rendered from known latents.
NNB="$ROOT/${BUILD:-build}/bench/bench_invert"
if [ -x "$NNB" ]; then
    nn=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$NNB" nn "$TMP/g64.safetensors" \
        500 6 "$STEPS" 30 noise=model) || fail "bench_invert nn"
    "$PY" - "$nn" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
print("nn initialiser, %dx%d, bank %d (built in %.1f s): steps to %.0f dB %.1f from w_avg vs %.1f "
      "from nn = %.2fx fewer; final PSNR after %d steps %.2f vs %.2f dB"
      % (d["generator_res"], d["generator_res"], d["bank"], d["bank_build_s"], d["psnr_threshold"],
         d["wavg_mean_steps"], d["nn_mean_steps"], d["speedup"], d["steps"], d["wavg_final_psnr"],
         d["nn_final_psnr"]))
PYEOF
else
    echo "nn initialiser: $NNB not built"
fi
