#!/usr/bin/env bash
# bench_sg2.sh - StyleGAN2 synthesis: latentmill (C, models/stylegan2) next to the
# independent PyTorch implementation tools/sg2_ref.py (Debian python3-torch), same
# random-init weights file, same thread count, same run. Prints ms per image, the
# ratio PyTorch/latentmill (> 1: latentmill faster), GFLOP/s and its fraction of the
# machine's measured sgemm rate.
#   SG2_BENCH_THREADS=2   threads for both sides (default 2)
#   SG2_BENCH_QUICK=1     only R=64 (a few minutes less)
# Run from the repository root (tests/bench/run.sh does).
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bench/bench_sg2"
T=${SG2_BENCH_THREADS:-2}
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
echo "   machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads $T"
echo "   measured sgemm (512x4096x4608, OpenBLAS): $peak GFLOP/s"
printf '   %-26s %5s %-7s %12s %12s %7s %9s %7s\n' network batch pass "latentmill" "pytorch" ratio "GFLOP/s" "%sgemm"

row() { # label file batch mode iters warmup
    local label=$1 f=$2 b=$3 mode=$4 it=$5 wu=$6 c p cms pms ratio gf pct
    c=$("$BIN" run "$f" "$b" "$T" "$it" "$wu" "$mode") || { echo "   $label: latentmill run failed"; return; }
    cms=$(json ms_per_image "$c")
    gf=$(json gflops_best "$c")
    pct=$(python3 -c "print(f'{100*$gf/$peak:.0f}%')")
    pms="-"
    ratio="-"
    if [ $ref_ok = 1 ]; then
        local bw=""
        [ "$mode" = fwdbwd ] && bw="--backward"
        p=$(python3 "$REF" bench --weights "$f" --batch "$b" --threads "$T" --iters "$it" \
            --warmup "$wu" $bw 2>/dev/null | tail -n 1)
        pms=$(json ms_per_image "$p")
        if [ -n "$pms" ]; then
            ratio=$(python3 -c "print(f'{$pms/$cms:.2f}x')")
        else
            pms="failed"
        fi
    fi
    printf '   %-26s %5s %-7s %9s ms %9s ms %7s %9s %7s\n' "$label" "$b" "$mode" "$cms" "$pms" "$ratio" "$gf" "$pct"
}

"$BIN" make "$TMP/g64.safetensors" 64 16384 512 1 || exit 1
for b in 1 8; do
    for mode in fwd fwdbwd; do
        row "R=64 ADA-auto 16384/512" "$TMP/g64.safetensors" $b $mode 2 1
    done
done
if [ "${SG2_BENCH_QUICK:-0}" != 1 ]; then
    "$BIN" make "$TMP/g256.safetensors" 256 32768 512 1 || exit 1
    for b in 1 8; do
        for mode in fwd fwdbwd; do
            row "R=256 config-f 32768/512" "$TMP/g256.safetensors" $b $mode 1 0
        done
    done
    rm -f "$TMP/g256.safetensors"
    "$BIN" make "$TMP/g1024.safetensors" 1024 32768 512 1 || exit 1
    row "R=1024 config-f 32768/512" "$TMP/g1024.safetensors" 1 fwd 1 0
fi
echo "   (ratio = pytorch / latentmill ms per image; GFLOP/s = 2 x synthesis MACs per image"
echo "    (x2 for fwd+bwd) / latentmill's best time; medians of 2 runs after 1 warm-up at R=64,"
echo "    single runs without warm-up at R=256 and 1024)"
