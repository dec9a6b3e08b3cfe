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
# The checkpoints are written and most checks run by tests/integration/sg2ref_ckpt.py
# in one process each (torch imports are slow); the conversions of step 1 and 2
# go through the converter's command line.
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
run() { # description, command... (must succeed)
    local d=$1; shift
    if "$@" >"$T/log" 2>&1; then echo "ok   $d"
    else echo "FAIL $d"; sed 's/^/     | /' "$T/log"; fails=$((fails + 1)); fi
}

# odd widths, res 32, z = w (rosinality has one style_dim), no clamp
run "random-init generator" $PY tools/sg2_ref.py random-init --res 32 --channel-base 600 \
    --channel-max 37 --z-dim 32 --w-dim 32 --mapping-layers 3 --seed 3 --out "$T/g.safetensors"
run "reference golden of the original (float32)" $PY tools/sg2_ref.py golden \
    --weights "$T/g.safetensors" --out "$T/g.golden.safetensors" --seed 4 --batch 2 --dtype float32
run "foreign checkpoints written" $PY tests/integration/sg2ref_ckpt.py make-all "$T/g.safetensors" "$T"
for f in r_zip.pt r_legacy.pt n.pkl; do
    run "convert_weights.py $f" $PY tools/convert_weights.py "$T/$f" --out "$T/${f%.*}.safetensors"
done
if $PY tests/integration/sg2ref_ckpt.py check "$T/g.safetensors" "$T/g.golden.safetensors" "$T"; then :
else fails=$((fails + 1)); fi

if [ $fails -ne 0 ]; then echo "test_convert: FAILED"; exit 1; fi
echo "test_convert: all checks passed"
