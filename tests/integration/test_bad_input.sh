#!/usr/bin/env bash
# Bad input never crashes the run: corrupt, truncated, zero-byte, non-image,
# huge-dimension and odd-format files each end as ok or as a failure with its
# reason; a truncated zip keeps its readable entries; bad job files are
# refused with file and line.
. "$(dirname "$0")/lib.sh"
D="$TMP/bad"
mkdir -p "$D"
"$PY" - "$D" <<'PYEOF' || fail "making bad files"
import sys, os, io, struct, zlib
from PIL import Image
d = sys.argv[1]
def save(name, im, **kw):
    im.save(os.path.join(d, name), **kw)
face = Image.new("RGB", (60, 70), (200, 150, 120))
save("good.jpg", face, quality=90)
save("progressive.jpg", face, quality=90, progressive=True)
save("gray.jpg", face.convert("L"))
save("gray.png", face.convert("L"))
save("rgba.png", face.convert("RGBA"))
save("palette.png", face.convert("P"))
save("gray16.png", Image.new("I;16", (40, 30), 40000))
save("cmyk.jpg", face.convert("CMYK"))
save("image.bmp", face)
save("image.gif", face)
buf = io.BytesIO(); face.save(buf, "JPEG"); j = buf.getvalue()
open(os.path.join(d, "truncated.jpg"), "wb").write(j[: len(j) // 2])
open(os.path.join(d, "corrupt.jpg"), "wb").write(j[:20] + bytes(range(256)) * 4)
buf = io.BytesIO(); face.save(buf, "PNG"); p = buf.getvalue()
open(os.path.join(d, "truncated.png"), "wb").write(p[: len(p) // 2])
open(os.path.join(d, "zero.jpg"), "wb").close()
open(os.path.join(d, "notes.txt"), "w").write("not an image\n")
open(os.path.join(d, "photo.jpg.txt"), "wb").write(b"\x00" * 100)
# A valid PNG header claiming 100000 x 100000 pixels (a decompression bomb).
def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
open(os.path.join(d, "huge.png"), "wb").write(bomb)
os.makedirs(os.path.join(d, "dir.jpg"))
PYEOF
write_job "$TMP/job.ini" out bad "resolution = 32"
check "run over bad files" "$LM" run -q "$TMP/job.ini"
"$LM" inspect "$TMP/out" --all-failures >"$TMP/inspect.txt" || fail "inspect"
cat "$TMP/inspect.txt"
expect_fail() { # key, reason fragment
    grep -F "bad/$1" "$TMP/inspect.txt" | grep -qiF "$2" || fail "$1: no failure with '$2'"
}
expect_fail truncated.jpg "truncated"
expect_fail corrupt.jpg "corrupt"
expect_fail truncated.png "truncated"
expect_fail zero.jpg "0 bytes"
expect_fail notes.txt "not a JPEG or PNG"
expect_fail photo.jpg.txt "not a JPEG or PNG"
expect_fail image.bmp "not a JPEG or PNG"
expect_fail image.gif "not a JPEG or PNG"
expect_fail huge.png "over the limit"
expect_fail cmyk.jpg "decode"
check "export" "$LM" export "$TMP/out" --npy >/dev/null
for ok in good.jpg progressive.jpg gray.jpg gray.png rgba.png palette.png gray16.png; do
    grep -qx "bad/$ok" "$TMP/out/export/keys.txt" || fail "$ok should decode"
done
grep -q "items: 17/17 done, 7 ok, 10 failed" "$TMP/inspect.txt" || fail "counts"

# A zip cut in the middle: the listing stops at the cut with a warning naming
# the archive and the entry number, the entries before it are read, the job
# finishes.
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" 40 --zip "$TMP/full.zip" >/dev/null || fail mkimages
size=$(stat -c %s "$TMP/full.zip")
head -c $((size * 6 / 10)) "$TMP/full.zip" >"$TMP/cut.zip"
write_job "$TMP/zip.ini" outzip cut.zip "resolution = 32"
check "run over a truncated zip" "$LM" run -q "$TMP/zip.ini" 2>"$TMP/zip.log"
"$LM" inspect "$TMP/outzip" --all-failures >"$TMP/zip.txt"
grep -q "cut.zip: listing stopped after entry" "$TMP/zip.log" || { cat "$TMP/zip.log"; fail "truncation not reported"; }
okz=$(sed -n 's/^items: .* done, \([0-9]*\) ok.*/\1/p' "$TMP/zip.txt")
[ "$okz" -ge 15 ] || fail "only $okz entries read from the truncated zip"

# Not an archive at all.
head -c 5000 /dev/urandom >"$TMP/noise.zip"
write_job "$TMP/noise.ini" outnoise noise.zip
"$LM" run -q "$TMP/noise.ini" 2>"$TMP/noise.log"
rc=$?
[ $rc = 1 ] || [ $rc = 2 ] || fail "noise archive: exit $rc"
grep -q "noise.zip" "$TMP/noise.log" || fail "noise archive not named: $(cat "$TMP/noise.log")"

# Bad job files: exit 2, message with file and line.
printf '[job]\nout = o\n[dataset]\npath = bad\n[node]\nresolutoin = 64\n' >"$TMP/typo.ini"
"$LM" run "$TMP/typo.ini" 2>"$TMP/typo.log"; rc=$?
[ $rc = 2 ] || fail "typo job: exit $rc"
grep -q "typo.ini:6: unknown key 'resolutoin' in \[node\]" "$TMP/typo.log" || fail "typo message: $(cat "$TMP/typo.log")"
printf '[job]\nout = o\n[dataset]\npath = bad\n[node]\nresolution = huge\n' >"$TMP/val.ini"
"$LM" run "$TMP/val.ini" 2>"$TMP/val.log"; rc=$?
[ $rc = 2 ] || fail "bad value: exit $rc"
grep -q "val.ini:6: \[node\] resolution = 'huge': not an integer" "$TMP/val.log" || fail "value message: $(cat "$TMP/val.log")"
printf '[job]\nout = o\n[dataset]\npath = nowhere\n' >"$TMP/nods.ini"
"$LM" run "$TMP/nods.ini" 2>"$TMP/nods.log"; rc=$?
[ $rc != 0 ] || fail "missing dataset accepted"
grep -q "nowhere" "$TMP/nods.log" || fail "missing dataset not named"
echo "ok: bad files recorded with reasons, truncated zip read, bad jobs refused"
