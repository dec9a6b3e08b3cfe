#!/usr/bin/env bash
# Miniature CelebA, FFHQ, CK+ and folder+CSV datasets in their native layouts
# (latentmill synth), run under `mpirun -np 3`: every item, label, identity and
# landmark arrives (checked against the dataset's own label files, parsed
# independently by check_dataset.py, via export --npy and the meta records).
. "$(dirname "$0")/lib.sh"
CHECK="$ROOT/tests/integration/check_dataset.py"
"$PY" -c "import lmdb, numpy" 2>/dev/null || skip "python3-lmdb or python3-numpy missing"
cd "$TMP" || fail "cd"
check "synth celeba" "$LM" synth celeba celeba --n 40 --seed 3 >/dev/null
check "synth celeba --zip" "$LM" synth celeba celebaz --n 40 --seed 4 --zip >/dev/null
check "synth ffhq --zip" "$LM" synth ffhq ffhq --n 15 --seed 5 --zip >/dev/null
check "synth ckplus" "$LM" synth ckplus ck --n 6 --seed 6 >/dev/null
check "synth ckplus --zip" "$LM" synth ckplus ckz --n 5 --seed 7 --zip >/dev/null
check "synth folder --zip" "$LM" synth folder fold --n 25 --seed 8 --zip >/dev/null

# A tiny random generator: a safetensors file with the generator's kwargs.
check "synth generator" "$LM" synth generator g.safetensors --res 16 --seed 3 >/dev/null
"$PY" - <<'PYEOF' || fail "synth generator: not a StyleGAN2 safetensors file"
import json, struct
b = open("g.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
kw = json.loads(h["__metadata__"]["generator_kwargs"])
assert kw["img_resolution"] == 16 and kw["z_dim"] == 64, kw
assert any(k.startswith("synthesis.") for k in h) and any(k.startswith("mapping.") for k in h)
PYEOF

# run NAME DATASET KIND NP [dataset lines...]
run() {
    local name=$1 ds=$2 kind=$3 np=$4
    shift 4
    {
        printf '[job]\nout = out-%s\nprogress = 0\nmin_chunk = 2\nmax_chunk = 8\n' "$name"
        printf '[dataset]\npath = %s\nkind = %s\n' "$ds" "$kind"
        for l in "$@"; do printf '%s\n' "$l"; done
        printf '[node]\nstages = %s\nresolution = %s\n' "${STAGES:-decode,labels,resize}" "${RES:-16}"
    } >"$name.ini"
    if [ "$np" = 1 ]; then
        "$LM" run -q "$name.ini" 2>"$name.log" || { cat "$name.log"; fail "run $name"; }
    else
        "${MPIRUN[@]}" "$np" "$LM" run -q "$name.ini" 2>"$name.log" || { cat "$name.log"; fail "mpirun $name"; }
    fi
    "$LM" export "out-$name" --npy >/dev/null || fail "export $name"
}
c() { "$PY" "$CHECK" "$@" || fail "check $*"; }

run celeba celeba celeba 3
c celeba celeba out-celeba
"$LM" inspect out-celeba | grep -q "rank 2:" || fail "celeba: rank 2 did no work"
run celebaz celebaz celeba 3
c celeba celebaz out-celebaz
run ffhq ffhq ffhq 3
c ffhq ffhq out-ffhq
run ck ck ckplus 3
c ckplus ck out-ck
run ckz ckz ckplus 3
c ckplus ckz out-ckz --zipped
run fold fold/images.zip archive 3 "labels = fold/labels.csv"
c folder fold out-fold --csv fold/labels.csv

# Variants, one process each: split filter, in-the-wild images, frame policy,
# the StyleGAN2-ADA zip (index from img%08d names, JSON next to it).
run celeba-test celeba celeba 1 "split = test"
c celeba celeba out-celeba-test --split 2
# The Kaggle mirror: doubled image folder, CSV label files, no identity file.
"$PY" - <<'PYEOF' || fail "kaggle layout"
import os, shutil
os.makedirs("kaggle/img_align_celeba", exist_ok=True)
shutil.copytree("celeba/Img/img_align_celeba", "kaggle/img_align_celeba/img_align_celeba")
for src, dst, skip, head in (("Anno/list_attr_celeba.txt", "list_attr_celeba.csv", 2, None),
                             ("Eval/list_eval_partition.txt", "list_eval_partition.csv", 0, "image_id,partition"),
                             ("Anno/list_bbox_celeba.txt", "list_bbox_celeba.csv", 2, "image_id,x_1,y_1,width,height"),
                             ("Anno/list_landmarks_align_celeba.txt", "list_landmarks_align_celeba.csv", 2, None)):
    lines = open("celeba/" + src, "rb").read().decode().split("\r\n")
    if head is None:
        head = "image_id," + ",".join(lines[1].split())
    rows = [",".join(l.split()) for l in lines[skip:] if l.strip()]
    open("kaggle/" + dst, "w", newline="").write("\r\n".join([head] + rows))
PYEOF
run kaggle kaggle celeba 1
c celeba celeba out-kaggle --no-identity
run celeba-wild celeba celeba 1 "images = wild"
c celeba celeba out-celeba-wild --wild
run ffhq-wild ffhq ffhq 1 "images = wild"
c ffhq ffhq out-ffhq-wild --wild
run ffhq-ada ffhq/ffhq-64x64.zip ffhq 1
c ffhq ffhq out-ffhq-ada
run ck-policy ck ckplus 1 "frames = policy" "peak_frames = 2"
c ckplus ck out-ck-policy --frames policy --peak 2
# Alignment from the dataset's landmarks: FFHQ in-the-wild (68 points) under
# mpirun, CelebA in-the-wild (5 points) and CK+ (68, grey frames) in one process.
STAGES=decode,labels,align RES=64 run ffhq-align ffhq ffhq 3 "images = wild"
c ffhq ffhq out-ffhq-align --wild --aligned 64
STAGES=decode,labels,align RES=64 run celeba-align celeba celeba 1 "images = wild"
c celeba celeba out-celeba-align --wild --aligned 64 --align-tol 1
STAGES=decode,labels,align RES=32 run ck-align ck ckplus 1
c ckplus ck out-ck-align --aligned 32
echo "ok: celeba (folder, zip, Kaggle CSV, split, wild), ffhq (folders, wild, ADA zip), ckplus (folders, zips, policy), folder+csv under mpirun -np 3"
