#!/usr/bin/env bash
# bench_sg2.sh - StyleGAN2 synthesis: latentmill (C, models/stylegan2) next to the
# independent PyTorch implementation tools/sg2_ref.py (Debian python3-torch), same
# random-init weights file, same thread count, same run. Prints ms per image, the
# ratio PyTorch/latentmill (> 1: latentmill faster), GFLOP/s and its fraction of the
# machine's measured sgemm rate. The sides alternate and keep their best times (least
# disturbed by other load on a shared machine).
#   SG2_BENCH_THREADS=2   threads for both sides (default 2)
#   SG2_BENCH_QUICK=1     only R=64 (a few minutes less)
#   OMP_WAIT_POLICY       default PASSIVE for both sides: OpenBLAS (pthreads) and OpenMP
#                         thread pools spinning against each other cost 15-30 % on a
#                         loaded 2-core machine, for latentmill and PyTorch alike
# Run from the repository root (tests/bench/run.sh does).
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bench/bench_sg2"
T=${SG2_BENCH_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
[ -x "$BIN" ] || { echo "   $BIN missing (run make)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

REF=tools/sg2_ref.py
ref_ok=0
if [ -f "$REF" ]; then
    if python3 "$REF" bench --help >/dev/null 2>&1; then
        ref_ok=1
    else
        echo "   PyTorch side unavailable: $REF needs python3-torch (apt-get install python3-torch)"
    fi
else
    echo "   PyTorch side missing: $REF is not in this tree"
fi

json() { # key json-line
    python3 -c 'import json,sys; print(json.loads(sys.argv[2])[sys.argv[1]])' "$1" "$2" 2>/dev/null
}

sgemm=$("$BIN" sgemm "$T")
peak=$(json sgemm_gflops "$sgemm")
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads $T;" \
    "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "   measured sgemm (512x4096x4608, OpenBLAS): $peak GFLOP/s"
printf '   %-25s %5s %-6s %13s %13s %6s %7s %6s %11s\n' network batch pass "latentmill" "pytorch" \
    ratio "GFLOP/s" "%sgemm" "lm cpu ms"

# min of two numbers (either may be empty)
fmin() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:] if x]; print(min(v) if v else '')" "$@"; }

row() { # label file batch mode rounds iters warmup
    # The two sides alternate (C, PyTorch, C, PyTorch, ...) so that a change of the
    # machine's background load hits both; each keeps its best time per image.
    local label=$1 f=$2 b=$3 mode=$4 rounds=$5 it=$6 wu=$7 c p cbest="" pbest="" gf="" pct ratio
    local ccpu=""
    local bw=""
    [ "$mode" = fwdbwd ] && bw="--backward"
    for ((r = 0; r < rounds; r++)); do
        c=$("$BIN" run "$f" "$b" "$T" "$it" "$wu" "$mode") || { echo "   $label: latentmill failed"; return; }
        cbest=$(fmin "$cbest" "$(json best_ms_per_image "$c")")
        ccpu=$(fmin "$ccpu" "$(json cpu_ms_per_image "$c")")
        if [ $ref_ok = 1 ]; then
            p=$(python3 "$REF" bench --weights "$f" --batch "$b" --threads "$T" --iters "$it" \
                --warmup "$wu" $bw 2>/dev/null | tail -n 1)
            pbest=$(fmin "$pbest" "$(json best_ms_per_image "$p")")
        fi
    done
    gf=$(python3 -c "print(f'{2 * $(json gmac_per_image "$c") / ($cbest * 1e-3):.1f}')")
    pct=$(python3 -c "print(f'{100 * $gf / $peak:.0f}%')")
    ratio="-"
    if [ -n "$pbest" ]; then
        ratio=$(python3 -c "print(f'{$pbest / $cbest:.2f}x')")
        pbest=$(printf '%.0f' "$pbest")
    else
        pbest="-"
    fi
    printf '   %-25s %5s %-6s %10.0f ms %10s ms %6s %7s %6s %8.0f ms\n' "$label" "$b" "$mode" \
        "$cbest" "$pbest" "$ratio" "$gf" "$pct" "$ccpu"
}

"$BIN" make "$TMP/g64.safetensors" 64 16384 512 1 || exit 1
for b in 1 8; do
    for mode in fwd fwdbwd; do
        row "R=64 ADA-auto 16384/512" "$TMP/g64.safetensors" $b $mode 4 3 1
    done
done
if [ "${SG2_BENCH_QUICK:-0}" != 1 ]; then
    "$BIN" make "$TMP/g256.safetensors" 256 32768 512 1 || exit 1
    for b in 1 8; do
        for mode in fwd fwdbwd; do
            row "R=256 config-f 32768/512" "$TMP/g256.safetensors" $b $mode 3 1 0
        done
    done
    rm -f "$TMP/g256.safetensors"
    "$BIN" make "$TMP/g1024.safetensors" 1024 32768 512 1 || exit 1
    row "R=1024 config-f 32768/512" "$TMP/g1024.safetensors" 1 fwd 2 1 0
fi
echo "   (best ms per image of alternating runs: 4 rounds of 1 warm-up + 3 timed runs at R=64,"
echo "    3 rounds of 1 run at R=256, 2 at 1024; ratio = pytorch / latentmill; GFLOP/s = 2 x direct-"
echo "    convolution MACs per image (x2 for fwd+bwd) / latentmill's time, an effective rate since"
echo "    the 3x3 convs run as Winograd F(4x4,3x3) and F(2x2,3x3); %sgemm against the sgemm line; lm cpu ms ="
echo "    latentmill's process CPU time per image, all threads: compare with its wall time to see"
echo "    how much of the 2 cores the loaded machine gave it)"
