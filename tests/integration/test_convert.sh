#!/usr/bin/env bash
# test_convert.sh - tools/convert_weights.py round trips (needs python3-torch;
# SKIPs with exit 77 without it, e.g. in CI).
#  1. random-init generator (tools/sg2_ref.py) -> rosinality-style .pt (zip and
#     legacy torch.save formats, with an argparse.Namespace inside) -> converter
#     -> identical tensors and config, identical sg2_ref outputs (tolerance 0).
#  2. the same through an NVlabs-style pickle with fake persistent classes
#     (G_ema must be picked, not G), read without any NVlabs code.
#  3. rejections: unknown tensor, missing tensor, truncated files, and a plain
#     pickle / torch.save zip / legacy file calling os.system (must be refused
#     and must not run).
set -u
cd "$(dirname "$0")/../.."

PY=""
for p in ${PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' >/dev/null 2>&1; then
        PY=$p; break
    fi
done
if [ -z "$PY" ]; then
    echo "SKIP: python3-torch missing (apt-get install python3-torch python3-numpy)"
    exit 77
fi
export SG2REF_NO_REEXEC=1

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
REF="$PY tools/sg2_ref.py"
CONV="$PY tools/convert_weights.py"
HELP="$PY tests/integration/sg2ref_ckpt.py"

run() { # description, command... (must succeed)
    local d=$1; shift
    if "$@" >"$T/log" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/     | /' "$T/log"; fi
}
refuse() { # description, expected message part, command... (must fail with exit 2 and the message)
    local d=$1 msg=$2; shift 2
    "$@" >"$T/log" 2>&1
    local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$msg" "$T/log"; then ok "$d: $(tail -n1 "$T/log" | cut -c1-110)"
    else bad "$d (exit $rc, wanted 2 and '$msg')"; sed 's/^/     | /' "$T/log"; fi
}

# odd widths, res 32, z = w (rosinality has one style_dim), no clamp
run "random-init generator" $REF random-init --res 32 --channel-base 600 --channel-max 37 \
    --z-dim 32 --w-dim 32 --mapping-layers 3 --seed 3 --out "$T/g.safetensors"
run "reference golden of the original (float32)" $REF golden --weights "$T/g.safetensors" \
    --out "$T/g.golden.safetensors" --seed 4 --batch 2 --dtype float32

for fmt in zip legacy; do
    flag=""; [ $fmt = legacy ] && flag=--legacy
    run "rosinality .pt ($fmt) written" $HELP to-rosinality "$T/g.safetensors" "$T/r_$fmt.pt" $flag
    run "rosinality .pt ($fmt) converted" $CONV "$T/r_$fmt.pt" --out "$T/r_$fmt.safetensors"
    run "rosinality ($fmt): identical tensors and config" $HELP compare "$T/g.safetensors" "$T/r_$fmt.safetensors"
    run "rosinality ($fmt): identical outputs (img, truncation, grads; tol 0)" $REF verify \
        --weights "$T/r_$fmt.safetensors" --golden "$T/g.golden.safetensors" --dtypes float32 --tol 0
done

run "rosinality .pt without latent_avg written" $HELP to-rosinality "$T/g.safetensors" "$T/noavg.pt" --no-latent-avg
run "rosinality .pt without latent_avg converted" $CONV "$T/noavg.pt" --out "$T/noavg.safetensors" --w-avg-samples 2000
run "no latent_avg: all tensors but w_avg identical" $HELP compare "$T/g.safetensors" "$T/noavg.safetensors" \
    --skip mapping.w_avg

run "NVlabs-style pickle written" $HELP to-nvlabs-pickle "$T/g.safetensors" "$T/n.pkl"
run "NVlabs-style pickle converted" $CONV "$T/n.pkl" --out "$T/n.safetensors"
run "NVlabs pickle: identical tensors and config (G_ema chosen)" $HELP compare "$T/g.safetensors" "$T/n.safetensors"
run "NVlabs pickle: identical outputs (tol 0)" $REF verify --weights "$T/n.safetensors" \
    --golden "$T/g.golden.safetensors" --dtypes float32 --tol 0

$HELP to-rosinality "$T/g.safetensors" "$T/extra.pt" --extra convs.99.conv.weight >/dev/null 2>&1
refuse "unknown tensor rejected" "unknown tensors in g_ema" $CONV "$T/extra.pt" --out "$T/x.safetensors"
$HELP to-rosinality "$T/g.safetensors" "$T/drop.pt" --drop convs.3.noise.weight >/dev/null 2>&1
refuse "missing tensor rejected" "missing tensor g_ema.convs.3.noise.weight" $CONV "$T/drop.pt" --out "$T/x.safetensors"
head -c 40000 "$T/r_zip.pt" >"$T/trunc.pt"
refuse "truncated .pt rejected" "not a valid zip" $CONV "$T/trunc.pt" --out "$T/x.safetensors"
head -c 40000 "$T/n.pkl" >"$T/trunc.pkl"
refuse "truncated pickle rejected" "trunc.pkl" $CONV "$T/trunc.pkl" --out "$T/x.safetensors"
for kind in pickle zip legacy; do
    flag=""; [ $kind != pickle ] && flag="--torch-save $kind"
    $HELP evil-pickle "$T/evil_$kind" "$T/pwned_$kind" $flag >/dev/null 2>&1
    [ -e "$T/pwned_$kind" ] && bad "helper ran the payload itself"
    refuse "$kind calling os.system refused" "refusing to load global" $CONV "$T/evil_$kind" --out "$T/x.safetensors"
    if [ -e "$T/pwned_$kind" ]; then bad "os.system ran while reading the evil $kind"; else ok "evil $kind had no side effect"; fi
done
if [ -e "$T/x.safetensors" ]; then bad "an output file was written for a rejected input"; fi

# safetensors reader: header length beyond the file
printf '\xff\xff\x00\x00\x00\x00\x00\x00{}' >"$T/badhdr.safetensors"
refuse "safetensors header beyond file rejected" "runs beyond the file" $REF golden \
    --weights "$T/badhdr.safetensors" --out "$T/x.safetensors"

if [ $fails -ne 0 ]; then echo "test_convert: $fails failure(s)"; exit 1; fi
echo "test_convert: all checks passed"
