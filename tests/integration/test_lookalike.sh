#!/usr/bin/env bash
# test_lookalike.sh - `latentmill lookalike` on an index built by the
# collective build (tests/unit/test_knn_mpi.c --driver, one rank): nearest
# identity of synthetic descriptors, names, JSON, clear failures for a
# descriptor of another size and a truncated index; then, with the face models,
# IMAGE queries on the fixture photos (test_lookalike.c --build), the PNG strip
# and a photo without a face.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LM=${LATENTMILL:-$PWD/$BUILD/latentmill}
drv="$PWD/$BUILD/tests/test_knn_mpi"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
OMP_NUM_THREADS=1 "$drv" --driver "$tmp/out" >/dev/null 2>"$tmp/drv.log" || { cat "$tmp/drv.log"; fail "driver"; }

# Text: the first nearest identity of query 0 is identity 7 (named), of query 1 identity 123.
"$LM" lookalike --index "$tmp/out" --descriptor "$tmp/out/query.npy" -k 3 >"$tmp/txt" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "lookalike exited $?"; }
grep -A1 '^nearest identities' "$tmp/txt" | grep -q '1\. .*identity 7  Person 7$' || { cat "$tmp/txt"; fail "query 0 not identity 7"; }
grep -A1 '^nearest identities' "$tmp/txt" | grep -q '1\. .*identity 123  Person 123$' || { cat "$tmp/txt"; fail "query 1 not identity 123"; }
echo "ok: nearest identities 7 and 123"

# JSON, OUTDIR/index form, farthest lists present, distances sorted.
"$LM" lookalike --index "$tmp/out/index" --descriptor "$tmp/out/query.npy" -k 4 --farthest --json >"$tmp/json" \
    || fail "lookalike --json"
python3 - "$tmp/json" <<'PY' || fail "JSON check"
import json, sys
d = json.load(open(sys.argv[1]))
q = d["queries"]
assert len(q) == 2, q
assert q[0]["nearest_identities"][0]["identity"] == 7 and q[0]["nearest_identities"][0]["name"] == "Person 7"
assert q[0]["nearest_images"][0]["key"].startswith("synth/") and q[0]["nearest_images"][0]["identity"] == 7
for lst in ("nearest_identities", "nearest_images"):
    ds = [m["distance"] for m in q[1][lst]]
    assert ds == sorted(ds) and len(ds) == 4, (lst, ds)
ds = [m["distance"] for m in q[1]["farthest_identities"]]
assert ds == sorted(ds, reverse=True), ds
print("ok: json")
PY

# --vector: one descriptor written out.
# (the first row of query.npy: 128 float32 after the 128-byte header)
vec=$(od -An -v -f -j 128 -N 512 "$tmp/out/query.npy" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
"$LM" lookalike --index "$tmp/out" --vector "$vec" -k 1 --level identity >"$tmp/v" || fail "--vector"
grep -q 'identity 7  Person 7' "$tmp/v" || { cat "$tmp/v"; fail "--vector result"; }
echo "ok: --vector"

# Bad input: another descriptor size (exit 2, names both sizes).
"$LM" lookalike --index "$tmp/out" --descriptor "$tmp/out/query64.npy" 2>"$tmp/err" >/dev/null
rc=$?
[ $rc -eq 2 ] || fail "64-D descriptor: exit $rc, expected 2"
grep -q 'descriptor size 64.*128-D' "$tmp/err" || { cat "$tmp/err"; fail "64-D message"; }
echo "ok: other descriptor size -> $(cat "$tmp/err")"

# Truncated index file (exit 1, names the file and says truncated).
f="$tmp/out/index/images.lmi"
head -c $(( $(stat -c %s "$f") / 2 )) "$f" >"$f.cut" && mv "$f.cut" "$f"
"$LM" lookalike --index "$tmp/out" --descriptor "$tmp/out/query.npy" 2>"$tmp/err" >/dev/null
rc=$?
[ $rc -eq 1 ] || fail "truncated index: exit $rc, expected 1"
grep -q 'images.lmi: truncated index file' "$tmp/err" || { cat "$tmp/err"; fail "truncated message"; }
echo "ok: truncated index -> $(cat "$tmp/err")"

# IMAGE queries (face networks; skipped without `make models`): an index of the
# fixture faces, an Obama photo finds the other Obama photos and identity 1.
lk="$PWD/$BUILD/tests/test_lookalike"
if ! "$LM" lookalike --index "$tmp/out" tests/fixtures/faces/obama_small.jpg >/dev/null 2>"$tmp/err"; then
    if grep -q 'make models' "$tmp/err"; then
        echo "ok: IMAGE queries skipped (face models missing: make models)"; exit 0
    fi
fi
"$lk" --build "$tmp/faces" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "fixture index"; }
"$LM" lookalike --index "$tmp/faces" tests/fixtures/faces/obama_small.jpg -k 3 \
    --strip "$tmp/strip.png" >"$tmp/txt" 2>"$tmp/err" || { cat "$tmp/err"; fail "IMAGE query"; }
grep -A1 '^nearest identities' "$tmp/txt" | grep -q '1\. .*identity 1  Barack Obama$' || { cat "$tmp/txt"; fail "IMAGE: identity"; }
grep -A3 '^nearest images' "$tmp/txt" | sed -n 2p | grep -q '0\.0000  tests/fixtures/faces/obama_small.jpg' || { cat "$tmp/txt"; fail "IMAGE: itself first"; }
grep -A3 '^nearest images' "$tmp/txt" | sed -n 3p | grep -q 'obama-240p.jpg' || { cat "$tmp/txt"; fail "IMAGE: other Obama photo second"; }
python3 - "$tmp/strip.png" <<'PY' || fail "strip PNG"
import struct, sys
b = open(sys.argv[1], "rb").read(32)
assert b[:8] == b"\x89PNG\r\n\x1a\n", b[:8]
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (160 * 4, 160), (w, h)
print(f"ok: strip {w}x{h}")
PY
echo "ok: IMAGE query -> $(grep -A1 '^nearest identities' "$tmp/txt" | tail -1 | sed 's/^ *//')"

# A photo without a face: exit 2, said plainly.
"$LM" lookalike --index "$tmp/faces" tests/fixtures/faces/messi5.jpg 2>"$tmp/err" >/dev/null
rc=$?
[ $rc -eq 2 ] || fail "no-face photo: exit $rc, expected 2"
grep -q 'messi5.jpg: no face found' "$tmp/err" || { cat "$tmp/err"; fail "no-face message"; }
echo "ok: no face -> $(cat "$tmp/err")"
exit 0
