#!/usr/bin/env bash
# End to end: a miniature CelebA layout (synth) -> decode, labels, invert (a tiny
# generator, few steps) under mpirun -np 3 -> the reduce phase's bank. The
# bank's manifest names CelebA's attributes, and every direction loads with
# numpy in the shapes InterFaceGAN expects: (1, 64) in w, (1, num_ws*64) in W+.
. "$(dirname "$0")/lib.sh"
"$LM" synth celeba "$TMP/celeba" --n 48 --seed 3 >/dev/null || fail "synth celeba"
"$PY" "$ROOT/tests/integration/tame_generator.py" "$ROOT/tests/golden/stylegan2/res32.weights.safetensors" \
    "$TMP/g.safetensors" || fail "generator"
cat >"$TMP/job.ini" <<INI
[job]
out = out
progress = 0
max_chunk = 8
[dataset]
kind = celeba
path = celeba
[node]
stages = decode,labels,invert
[invert]
generator = g.safetensors
space = wplus
steps = 15
noise = model
w_avg_samples = 500
[bank]
attributes = Smiling,Male,Young
C = 1
conditions = Smiling|Male
INI
check "pipeline + bank under mpirun -np 3" "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/job.ini"
"$LM" bank show "$TMP/out" >"$TMP/show.txt" || fail "bank show"
grep -q "Smiling" "$TMP/show.txt" || fail "bank show lacks Smiling: $(cat "$TMP/show.txt")"
"$PY" - "$TMP/out" <<'PYEOF' || fail "bank files"
import sys, os, json, numpy as np
out = sys.argv[1]
m = json.load(open(os.path.join(out, "bank", "manifest.json")))
labels = json.load(open(os.path.join(out, "labels.json")))
assert labels["columns"][31]["name"] == "Smiling", labels["columns"][31]
entries = m["directions"] if isinstance(m, dict) and "directions" in m else m
names = set()
for e in entries:
    if e.get("skipped"):
        continue
    space, name = e["space"], e["name"]
    a = np.load(os.path.join(out, "bank", space, name + ".npy"))
    want = (1, 64) if space == "w" else (1, 8 * 64)
    assert a.shape == want and a.dtype == np.float32, (space, name, a.shape, a.dtype)
    assert abs(np.linalg.norm(a) - 1) < 1e-5, (space, name)
    names.add((space, name))
for space in ("w", "wplus"):
    for n in ("Smiling", "Male", "Young", "Smiling_c_Male"):
        assert (space, n) in names, ("missing", space, n, sorted(names))
s = np.load(os.path.join(out, "bank", "w", "Smiling_c_Male.npy"))[0]
g = np.load(os.path.join(out, "bank", "w", "Male.npy"))[0]
assert abs(float(s @ g)) < 1e-5, float(s @ g)
print("bank: %d directions in w and W+, shapes as InterFaceGAN expects" % len(names))
PYEOF
echo "ok: CelebA miniature -> invert -> bank"
