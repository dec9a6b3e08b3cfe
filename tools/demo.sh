#!/usr/bin/env bash
# tools/demo.sh - `make demo`: latentmill end to end on miniature data, under
# mpirun -np 3 (rank 0 coordinates, two workers).
#   1. engine: 1000 face-sized JPEGs in a zip -> decode, resize -> shards;
#      inspect, export read back with numpy, a rerun that finds nothing to do
#   2. pipeline: a tiny StyleGAN2 generator renders images from known latents
#      with a planted direction (+3 or -3 along it, the sign is the label);
#      the invert stage recovers each latent, the reduce phase trains the bank
#      and the demo prints how well the bank recovered the planted direction
#   3. lookalike: the face stage over real photos, an index from the reduce
#      phase, and the nearest faces of one photo (needs `make models`)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LM=$PWD/$BUILD/latentmill
PY=$(command -v /usr/bin/python3 || command -v python3)
MPI=(mpirun --oversubscribe -np 3)
[ "$(id -u)" = 0 ] && MPI=(mpirun --allow-run-as-root --oversubscribe -np 3)
export OMPI_MCA_mpi_yield_when_idle=1
D=$BUILD/demo
rm -rf "$D"
mkdir -p "$D"

echo "== 1. engine: 1000 face-sized JPEGs in a zip through decode + resize"
"$PY" tests/integration/mkimages.py "$D/imgs" 1000 --size 178x218 --zip "$D/faces.zip"
"${MPI[@]}" "$LM" run jobs/demo.ini
"$LM" inspect "$D/out"
"$LM" export "$D/out" --npy
"$PY" -c "
import numpy as np
px = np.load('$D/out/export/pixels.npy')
keys = open('$D/out/export/keys.txt').read().split()
print('numpy sees pixels', px.shape, px.dtype, 'for', len(keys), 'keys, first', keys[0])"
echo "-- a rerun resumes: nothing left to do"
"$LM" run jobs/demo.ini --progress 0 2>&1 | grep "items to do"

echo
echo "== 2. pipeline: images from known latents with a planted direction -> invert -> bank"
P=$D/pipeline
mkdir -p "$P/imgs"
# The golden 32x32 test generator with its output layer scaled so images stay
# in range (see tests/integration/tame_generator.py).
"$PY" tests/integration/tame_generator.py tests/golden/stylegan2/res32.weights.safetensors "$P/g.safetensors"
"$PY" - "$P" <<'PYEOF'
import sys, numpy as np
p = sys.argv[1]
rng = np.random.default_rng(7)
d = rng.standard_normal(64).astype(np.float32)
d /= np.linalg.norm(d)
np.save(p + "/planted.npy", d[None, :])
lab = rng.choice([-1, 1], size=64)
with open(p + "/labels.csv", "w") as f:
    f.write("file,planted\n")
    f.writelines("face%03d.png,%d\n" % (i, l) for i, l in enumerate(lab))
with open(p + "/alphas.txt", "w") as f:
    f.writelines("%d %g\n" % (i, 3.0 * l) for i, l in enumerate(lab))
PYEOF
while read -r i a; do
    "$LM" edit --seed $((i + 1)) --generator "$P/g.safetensors" --direction "$P/planted.npy" \
        --alpha "$a" --png "$P/imgs/face$(printf %03d "$i").png" 2>/dev/null
done <"$P/alphas.txt"
echo "rendered $(ls "$P/imgs" | wc -l) images: w = mapping(z) +/- 3 x planted direction"
cat >"$P/job.ini" <<'INI'
[job]
name = pipeline-demo
out = out
progress = 5
max_chunk = 8
[dataset]
kind = folder
path = imgs
labels = labels.csv
[node]
stages = decode,labels,invert
[invert]
generator = g.safetensors
space = w
steps = 120
batch = 4
noise = model
w_avg_samples = 2000
[bank]
attributes = all
INI
"${MPI[@]}" "$LM" run "$P/job.ini"
"$LM" bank show "$P/out" 2>/dev/null
"$PY" - "$P" <<'PYEOF'
import sys, json, numpy as np
p = sys.argv[1]
d = np.load(p + "/planted.npy")[0]
b = np.load(p + "/out/bank/w/planted.npy")[0]
print("bank direction 'planted' vs the planted one: cosine %.3f" % float(b @ d / np.linalg.norm(b)))
PYEOF

echo
echo "== 3. lookalike: faces stage over real photos, index from the reduce phase"
MODELS=${LATENTMILL_MODELS:-models/face-api}
if [ ! -s "$MODELS/face_recognition_model.bin" ]; then
    echo "(skipped: face models missing; run make models)"
    exit 0
fi
L=$D/lookalike
mkdir -p "$L"
cat >"$L/job.ini" <<INI
[job]
out = out
progress = 0
[dataset]
path = $PWD/tests/fixtures/faces
name = photos
[node]
stages = decode,faces
models = $PWD/$MODELS
[index]
type = exact
INI
"${MPI[@]}" "$LM" run -q "$L/job.ini"
"$LM" lookalike --index "$L/out" --models "$MODELS" tests/fixtures/faces/obama_small.jpg -k 3 --level image
