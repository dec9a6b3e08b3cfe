#!/usr/bin/env bash
# test_bank_numpy.sh - the bank's files load with numpy in InterFaceGAN's shapes:
# every <space>/<name>.npy is float32 (1, dim) with unit norm; W+ ones reshape to
# (num_ws, w_dim); manifest.json lists them with counts and accuracies;
# bank.safetensors holds the same vectors; conditional directions are orthogonal
# to their conditions (1e-6); InterFaceGAN's project_boundary formula (one and two
# conditions), recomputed in numpy from the saved normals, gives the saved
# conditional files; `latentmill bank show` prints the table.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DRV="$BUILD/bench/bench_svm"
LM=${LATENTMILL:-$BUILD/latentmill}
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "SKIP: no python3 with numpy (apt-get install python3-numpy)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
"$DRV" bank "$tmp/out" 5000 64 wplus=1 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
"$LM" bank show "$tmp/out" | tee "$tmp/show" || exit 1
grep -q "smiling_c_age" "$tmp/show" || { echo "FAIL: bank show lacks a conditional row"; exit 1; }
"$PY" - "$tmp/out/bank" <<'PYEOF'
import json, os, struct, sys
import numpy as np
bank = sys.argv[1]
m = json.load(open(os.path.join(bank, "manifest.json")))
spaces = {s["name"]: s for s in m["spaces"]}
vecs = {}
n = 0
for d in m["directions"]:
    if "skipped" in d:
        print("skipped:", d["space"], d["name"], d["skipped"]); continue
    a = np.load(os.path.join(bank, d["file"]))
    sp = spaces[d["space"]]
    assert a.dtype == np.float32, (d["file"], a.dtype)
    assert a.shape == (1, sp["dim"]) == tuple(d["shape"]), (d["file"], a.shape)
    assert abs(np.linalg.norm(a.astype(np.float64)) - 1) < 1e-6, d["file"]
    if sp["num_ws"] > 1:
        assert a.reshape(sp["num_ws"], sp["w_dim"]).shape == (sp["num_ws"], sp["w_dim"])
    if d["kind"] != "conditional":
        c = d["counts"]
        assert c["train_pos"] > 0 and c["train_neg"] > 0 and 0.5 < d["val_accuracy"] <= 1.0, d
        assert d["C"] > 0 and len(d["C_path"]) >= 1
    vecs[(d["space"], d["name"])] = a.astype(np.float64)
    n += 1
# InterFaceGAN's project_boundary (utils/manipulator.py), re-derived here.
def project(p, *c):
    if len(c) == 1:
        new = p - p.dot(c[0].T) * c[0]
    else:
        a, b, r = p.dot(c[0].T), p.dot(c[1].T), c[0].dot(c[1].T)
        al = (a - b * r) / (1 - r ** 2 + 1e-8); be = (b - a * r) / (1 - r ** 2 + 1e-8)
        new = p - al * c[0] - be * c[1]
    return new / np.linalg.norm(new)
checked = 0
for d in m["directions"]:
    if d["kind"] != "conditional" or "skipped" in d:
        continue
    v = vecs[(d["space"], d["name"])]
    conds = [vecs[(d["space"], c)] for c in d["conditions"]]
    for c in conds:
        assert abs(float(v.dot(c.T))) < 1e-6, (d["name"], float(v.dot(c.T)))
    if len(conds) <= 2:
        ref = project(vecs[(d["space"], d["base"])], *conds)
        err = float(np.abs(ref - v).max())
        assert err < 1e-6, (d["name"], err)
    checked += 1
# safetensors: 8-byte header length, JSON header, F32 data.
raw = open(os.path.join(bank, "bank.safetensors"), "rb").read()
hl = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + hl])
for (sp, name), v in vecs.items():
    t = hdr[sp + "/" + name]
    a, b = t["data_offsets"]
    arr = np.frombuffer(raw[8 + hl + a: 8 + hl + b], dtype="<f4").reshape(t["shape"])
    assert np.array_equal(arr, v.astype(np.float32)), name
print("numpy: %d directions in InterFaceGAN shape (1, dim) float32, %d conditional checked, safetensors equal" % (n, checked))
PYEOF
