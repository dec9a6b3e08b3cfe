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
echo "ok: celeba (folder, zip, split, wild), ffhq (folders, wild, ADA zip), ckplus (folders, zips, policy), folder+csv under mpirun -np 3"
