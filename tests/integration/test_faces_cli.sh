#!/usr/bin/env bash
# test_faces_cli.sh - `latentmill faces` end to end: text and JSON output on
# real photos (numbers match face-api goldens within 1e-3), no face = exit 0,
# edge-case images (grey, RGBA, 16-bit, 1x1, a 20000x20000 header, a truncated
# JPEG) and a missing models directory give clear messages; --align writes an
# FFHQ-style crop.
# Needs the face-api weights (make models); SKIPs (exit 77) without them.
set -u
cd "$(dirname "$0")/../.."
LM=${LATENTMILL:-build/latentmill}
MODELS=${LATENTMILL_MODELS:-models/face-api}
if [ ! -s "$MODELS/face_recognition_model.bin" ]; then
    echo "SKIP: face models missing, run make models"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
F=tests/fixtures/faces

# Text output, several images, one without a face (messi5 at size 416).
out=$("$LM" faces $F/astronaut.png $F/two_people.jpg $F/messi5.jpg) || fail "exit $? on photos"
echo "$out"
echo "$out" | grep -q "astronaut.png: 512x512, 1 face" || fail "astronaut summary"
echo "$out" | grep -q "two_people.jpg: 1126x661, 2 faces" || fail "two_people summary"
echo "$out" | grep -q "messi5.jpg: 548x342, 0 faces" || fail "no-face summary"

# The SSD detector finds messi5's small face, like face-api.
out=$("$LM" faces --detector ssd $F/messi5.jpg) || fail "ssd exit $?"
echo "$out"
echo "$out" | grep -q "messi5.jpg: 548x342, 1 face" || fail "ssd on messi5"
"$LM" faces --detector nope $F/messi5.jpg 2>/dev/null; [ $? -eq 2 ] || fail "--detector nope"

# JSON against the golden numbers.
"$LM" faces --json $F/two_people.jpg $F/astronaut.png >"$tmp/out.jsonl" || fail "json exit $?"
python3 - "$tmp/out.jsonl" <<'PY' || fail "json content"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["file"].split("/")[-1] for r in rows] == ["two_people.jpg", "astronaut.png"], rows
for r in rows:
    name = r["file"].split("/")[-1].rsplit(".", 1)[0]
    g = json.load(open("tests/golden/faceapi/%s.json" % name))["faces"]["tiny_face_detector"]
    assert r["face_count"] == len(g) == len(r["faces"])
    for f, e in zip(r["faces"], g):
        d = math.dist(f["descriptor"], e["descriptor"]["values"])
        assert d < 1e-3, (name, "descriptor", d)
        assert abs(f["age"] - e["age_gender"]["age"]) < 1e-3
        assert f["gender"] == e["age_gender"]["gender"]
        assert len(f["landmarks"]) == 68
        lm = max(abs(a - b) for p, q in zip(f["landmarks"], e["landmarks68"]["positions"]) for a, b in zip(p, q))
        assert lm < 0.01, (name, "landmarks", lm)
        probs = [f["expressions"][k] for k in ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]]
        assert max(abs(a - b) for a, b in zip(probs, e["expressions"]["probabilities"])) < 1e-3
        print(name, "descriptor distance to face-api %.2g, landmarks %.2g px" % (d, lm))
PY

# Edge-case images, written with a minimal PNG encoder (no PIL needed).
python3 - "$tmp" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
def png(path, w, h, ctype, depth, rows, idat=True):
    raw = b"".join(b"\0" + r for r in rows)
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if idat: s += chunk(b"IDAT", zlib.compress(raw))
    s += chunk(b"IEND", b"")
    open(path, "wb").write(s)
png(d + "/grey.png", 64, 48, 0, 8, [bytes((x * 4) % 256 for x in range(64))] * 48)
png(d + "/rgba.png", 40, 30, 6, 8, [bytes([200, 100, 50, 128] * 40)] * 30)
png(d + "/deep16.png", 40, 30, 2, 16, [bytes([1, 2] * 120)] * 30)
png(d + "/one.png", 1, 1, 2, 8, [bytes([10, 20, 30])])
png(d + "/huge.png", 20000, 20000, 2, 8, [], idat=False)
PY
for f in grey rgba deep16 one; do
    out=$("$LM" faces "$tmp/$f.png") || fail "$f.png: exit $?"
    echo "$out" | grep -q "0 faces" || fail "$f.png: expected 0 faces, got: $out"
done
"$LM" faces "$tmp/huge.png" 2>"$tmp/err"; rc=$?
cat "$tmp/err"
[ $rc -eq 2 ] || fail "huge.png: exit $rc, expected 2"
grep -q "huge.png" "$tmp/err" || fail "huge.png: message does not name the file"
head -c 2000 $F/obama_small.jpg >"$tmp/trunc.jpg"
"$LM" faces "$tmp/trunc.jpg" $F/astronaut.png >"$tmp/out" 2>"$tmp/err"; rc=$?
cat "$tmp/err"
[ $rc -eq 2 ] || fail "truncated jpeg: exit $rc, expected 2"
grep -q "trunc.jpg" "$tmp/err" || fail "truncated jpeg: message does not name the file"
grep -q "astronaut.png: 512x512, 1 face" "$tmp/out" || fail "image after a bad one not processed"

# Missing models: exit 1, message names the file and `make models`.
"$LM" faces --models "$tmp/nomodels" $F/astronaut.png 2>"$tmp/err"; rc=$?
cat "$tmp/err"
[ $rc -eq 1 ] || fail "missing models: exit $rc"
grep -q "tiny_face_detector_model-weights_manifest.json" "$tmp/err" || fail "missing models: no file name"
grep -q "make models" "$tmp/err" || fail "missing models: no hint"

# Truncated weights: exit 1 with the shard named.
mkdir -p "$tmp/badmodels"
cp "$MODELS"/*.json "$tmp/badmodels/"
for b in "$MODELS"/*.bin; do cp "$b" "$tmp/badmodels/"; done
head -c 100000 "$MODELS/tiny_face_detector_model.bin" >"$tmp/badmodels/tiny_face_detector_model.bin"
"$LM" faces --models "$tmp/badmodels" $F/astronaut.png 2>"$tmp/err"; rc=$?
cat "$tmp/err"
[ $rc -eq 1 ] || fail "truncated weights: exit $rc"
grep -q "tiny_face_detector_model.bin" "$tmp/err" || fail "truncated weights: shard not named"

# A manifest with a wrong shape (same byte count): the tensor is named.
cp "$MODELS/tiny_face_detector_model.bin" "$tmp/badmodels/"
sed 's/"conv0\/filters","shape":\[3,3,3,16\]/"conv0\/filters","shape":[3,3,16,3]/' \
    "$MODELS/tiny_face_detector_model-weights_manifest.json" \
    >"$tmp/badmodels/tiny_face_detector_model-weights_manifest.json"
"$LM" faces --models "$tmp/badmodels" $F/astronaut.png 2>"$tmp/err"; rc=$?
cat "$tmp/err"
[ $rc -eq 1 ] || fail "wrong shape: exit $rc"
grep -q "conv0/filters': expected float32 \[3,3,3,16\], found float32 \[3,3,16,3\]" "$tmp/err" ||
    fail "wrong shape: message"

# --align: the FFHQ-recipe crop of the largest face; the crop is a face again,
# eyes level and centred as the recipe puts them.
"$LM" faces --align "$tmp/a.png" --align-size 256 $F/obama_small.jpg >/dev/null || fail "--align"
"$LM" faces --json --detector ssd "$tmp/a.png" >"$tmp/a.json" || fail "faces on the aligned crop"
"${PY:-$(command -v /usr/bin/python3 || command -v python3)}" - "$tmp/a.json" <<'PYEOF' || fail "aligned crop geometry"
import json, sys
j = json.loads(open(sys.argv[1]).readline())
assert j["width"] == 256 and j["height"] == 256 and j["face_count"] == 1, j
l = j["faces"][0]["landmarks"]
le = [sum(p[0] for p in l[36:42]) / 6, sum(p[1] for p in l[36:42]) / 6]
re_ = [sum(p[0] for p in l[42:48]) / 6, sum(p[1] for p in l[42:48]) / 6]
mid = (le[0] + re_[0]) / 2
print("aligned eyes", le, re_)
assert abs(le[1] - re_[1]) < 4, "eyes not level"
assert abs(mid - 128) < 8, "eyes not centred"
PYEOF
"$LM" faces --align "$tmp/b.png" $F/obama_small.jpg $F/astronaut.png 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "--align with two images: exit $rc, expected 2"
"$LM" faces --help | grep -q -- "--align-size" || fail "--help"
echo "faces cli ok"
