#!/usr/bin/env bash
# The `faces` node stage under mpirun -np 3 over the real photos in
# tests/fixtures/faces: descriptors and scores land in the shards, equal the
# `latentmill faces` command's on the same image, a photo without a face and a
# non-image are recorded failures with their reasons.
. "$(dirname "$0")/lib.sh"
MODELS=${LATENTMILL_MODELS:-$ROOT/models/face-api}
[ -s "$MODELS/face_recognition_model.bin" ] || skip "face models missing, run make models"
write_job "$TMP/job.ini" out "$ROOT/tests/fixtures/faces" "stages = decode,faces" "models = $MODELS"
printf '[index]\ntype = exact\n' >>"$TMP/job.ini"
check "mpirun faces stage" "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/job.ini"
check "export" "$LM" export "$TMP/out" --npy >/dev/null
"$LM" inspect "$TMP/out" --all-failures >"$TMP/inspect.txt"
grep -q "SOURCES.md.*not a JPEG or PNG" "$TMP/inspect.txt" || fail "non-image not recorded"
"$LM" faces --json --models "$MODELS" "$ROOT/tests/fixtures/faces/obama_small.jpg" \
    "$ROOT/tests/fixtures/faces/obama-240p.jpg" >"$TMP/faces.json" || fail "faces command"
"$PY" - "$TMP/out/export" "$TMP/faces.json" <<'PYEOF' || fail "stage results"
import sys, json, numpy as np
d = sys.argv[1]
keys = open(d + "/keys.txt").read().split()
emb = np.load(d + "/embeddings.npy"); sc = np.load(d + "/scores.npy")
assert emb.shape == (len(keys), 128) and sc.shape == (len(keys), 10), (emb.shape, sc.shape)
row = {k.split("/")[-1]: i for i, k in enumerate(keys)}
cli = {}
for line in open(sys.argv[2]):
    j = json.loads(line)
    f = max(j["faces"], key=lambda f: f["box"]["width"] * f["box"]["height"])
    cli[j["file"].split("/")[-1]] = f
for name, f in cli.items():
    e = emb[row[name]]
    err = np.abs(e - np.array(f["descriptor"], np.float32)).max()
    assert err < 1e-5, (name, err)
    assert abs(sc[row[name]].sum() - sc[row[name]][7:].sum() - 1.0) < 1e-3, "expression probs sum"
a, b = emb[row["obama_small.jpg"]], emb[row["obama-240p.jpg"]]
dist = float(np.linalg.norm(a - b))
print("obama_small vs obama-240p descriptor distance %.3f" % dist)
assert dist < 0.6, dist
PYEOF
# The reduce phase built an image index from the shards' descriptors: the
# nearest other image of obama_small is obama-240p.
[ -s "$TMP/out/index/images.lmi" ] || fail "no index written by the reduce phase"
"$PY" -c "
import numpy as np
keys = open('$TMP/out/export/keys.txt').read().split()
e = np.load('$TMP/out/export/embeddings.npy')
np.save('$TMP/q.npy', e[[i for i, k in enumerate(keys) if k.endswith('obama_small.jpg')]])" || fail "query"
"$LM" lookalike --index "$TMP/out" --descriptor "$TMP/q.npy" -k 2 --level image --json >"$TMP/look.json" || fail "lookalike"
"$PY" - "$TMP/look.json" <<'PYEOF' || fail "lookalike result: $(cat "$TMP/look.json")"
import json, sys
txt = open(sys.argv[1]).read()
assert "obama-240p.jpg" in txt and "obama_small.jpg" in txt, txt
PYEOF
echo "ok: faces stage over the fixture photos under mpirun -np 3, index from the reduce phase"
