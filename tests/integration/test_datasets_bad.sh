#!/usr/bin/env bash
# Bad dataset input: malformed label rows (wrong column count, non-numeric,
# duplicates), rows naming missing images, images without rows, CK+ landmark
# files with the wrong point count, FFHQ JSON with missing keys or cut off,
# archive entries with '..' or absolute names, strict mode, bad [dataset]
# keys. Each gives a message naming the file and line (or entry); the job
# goes on where that makes sense.
. "$(dirname "$0")/lib.sh"
cd "$TMP" || fail "cd"
"$LM" synth celeba cel --n 12 --seed 11 >/dev/null || fail "synth celeba"
"$LM" synth ffhq ff --n 6 --seed 12 >/dev/null || fail "synth ffhq"
"$LM" synth ckplus ck --n 3 --seed 13 >/dev/null || fail "synth ckplus"
"$LM" synth folder fo --n 6 --seed 14 >/dev/null || fail "synth folder"

job() { # name path kind [dataset lines...]
    local n=$1 p=$2 k=$3
    shift 3
    {
        printf '[job]\nout = out-%s\nprogress = 0\n[dataset]\npath = %s\nkind = %s\n' "$n" "$p" "$k"
        for l in "$@"; do printf '%s\n' "$l"; done
        printf '[node]\nstages = labels\n'
    } >"$n.ini"
}
expect() { # what log regex
    grep -qE -- "$2" "$3" || { cat "$3"; fail "$1: no message matching '$2'"; }
}

# CelebA: row 5 wrong column count, row 7 non-numeric, duplicate of row 3,
# a row for an image that does not exist, image 000012 without an attribute row.
A=cel/Anno/list_attr_celeba.txt
"$PY" - "$A" <<'PYEOF'
import sys
p = sys.argv[1]
L = open(p, "rb").read().split(b"\r\n")
L[6] = L[6].rsplit(b" ", 2)[0]                  # line 7: two values short
L[8] = L[8].replace(b" -1", b" x1", 1).replace(b"  1", b"  y", 1)  # line 9: non-numeric
L.insert(10, L[4])                               # line 11: duplicate of line 5
L.insert(11, b"999999.jpg" + L[4][10:])          # line 12: no such image
L = [l for l in L if not l.startswith(b"000012.jpg")]
open(p, "wb").write(b"\r\n".join(L))
PYEOF
job cel cel celeba
"$LM" run -q cel.ini 2>cel.log || { cat cel.log; fail "celeba with bad rows: run failed"; }
expect "column count" "list_attr_celeba.txt:7: 39 columns, expected 41; row skipped" cel.log
expect "non-numeric" "list_attr_celeba.txt:9: non-numeric value in row for '000007.jpg'" cel.log
expect "duplicate" "list_attr_celeba.txt:11: duplicate row for '000003.jpg'; the first is kept" cel.log
expect "missing image" "list_attr_celeba.txt: 1 rows name images that are not in the dataset \(first: .*list_attr_celeba.txt:12 \('999999.jpg'\)\)" cel.log
expect "image without row" "celeba: 3 images have no row in list_attr_celeba \(first: 000005.jpg\)" cel.log
expect "count disagrees" "list_attr_celeba.txt:1: says 12 rows, the file has" cel.log
"$LM" export out-cel --npy >/dev/null || fail "export cel"
[ "$(wc -l <out-cel/export/keys.txt)" = 12 ] || fail "celeba: not every image kept"
# strict: the first problem fails planning with file:line, exit 2
job cels cel celeba "strict = true"
"$LM" run -q cels.ini 2>cels.log; rc=$?
[ $rc = 2 ] || fail "strict: exit $rc, expected 2"
expect "strict" "list_attr_celeba.txt:7: 39 columns, expected 41" cels.log
# LF-converted annotation files still parse
"$PY" -c "
import glob
for f in glob.glob('cel/Anno/*.txt') + glob.glob('cel/Eval/*.txt'):
    d = open(f, 'rb').read().replace(b'\r\n', b'\n'); open(f, 'wb').write(d)"
job cellf cel celeba
"$LM" run -q cellf.ini 2>cellf.log || { cat cellf.log; fail "LF files"; }

# FFHQ: an entry without "image" (so no landmarks), one with 67 landmarks; then a cut-off JSON.
"$PY" - ff/ffhq-dataset-v2.json <<'PYEOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
del d["1"]["image"]
d["2"]["image"]["face_landmarks"] = d["2"]["image"]["face_landmarks"][:67]
open(p, "w").write(json.dumps(d, indent=1))
PYEOF
job ff ff ffhq
"$LM" run -q ff.ini 2>ff.log || { cat ff.log; fail "ffhq with bad entries: run failed"; }
expect "missing key" "ffhq-dataset-v2.json:[0-9]+: entry \"1\" lacks image" ff.log
expect "67 points" "ffhq-dataset-v2.json:[0-9]+: entry \"2\": face_landmarks do not have 68 points" ff.log
head -c 3000 ff/ffhq-dataset-v2.json >ff/cut.json && mv ff/cut.json ff/ffhq-dataset-v2.json
job ffcut ff ffhq
"$LM" run -q ffcut.ini 2>ffcut.log; rc=$?
[ $rc = 2 ] || fail "cut JSON: exit $rc"
expect "cut JSON" "ffhq-dataset-v2.json:[0-9]+: entry \"[0-9]+\" is cut off \(truncated JSON\)" ffcut.log

# CK+: a landmark file with 67 points, an emotion file with a code out of range.
lf=$(ls ck/Landmarks/*/*/*_landmarks.txt | head -1)
sed -i '$d' "$lf"
ef=$(ls ck/Emotion/*/*/*_emotion.txt | head -1)
echo "   9.0000000e+00" >"$ef"
job ck ck ckplus
"$LM" run -q ck.ini 2>ck.log || { cat ck.log; fail "ckplus with bad files: run failed"; }
expect "67 points" "$(basename "$lf"): 67 landmark points, expected 68; file skipped" ck.log
expect "emotion code" "$(basename "$ef"):1: expected one emotion code 0..7; file skipped" ck.log
expect "orphan" "1 files name frames or sequences that have no image \(first: S999/001/S999_001_00000001_landmarks.txt\)" ck.log

# Folder + CSV: bad rows; an archive with '..' and absolute entry names.
printf 'file,smiling,group\na/img_00000.jpg,1\nb/img_00001.jpg,x,1\nnope.jpg,1,1\na/img_00002.jpg,1,0\na/img_00002.jpg,0,0\n' >fo/labels.csv
job fo fo/images folder "labels = fo/labels.csv"
"$LM" run -q fo.ini 2>fo.log || { cat fo.log; fail "folder csv: run failed"; }
expect "csv columns" "labels.csv:2: 2 columns, expected 3; row skipped" fo.log
expect "csv non-integer" "labels.csv:3: non-integer label in row for 'b/img_00001.jpg'" fo.log
expect "csv duplicate" "labels.csv:6: duplicate row for 'a/img_00002.jpg'" fo.log
expect "csv unknown" "labels.csv: 1 rows name images that are not in the dataset \(first: .*labels.csv:4 \('nope.jpg'\)\)" fo.log
"$PY" - <<'PYEOF'
import zipfile
with zipfile.ZipFile("evil.zip", "w") as z:
    z.writestr("ok.jpg", b"x")
    z.writestr("../escape.jpg", b"x")
    z.writestr("/abs.jpg", b"x")
PYEOF
job evil evil.zip archive
"$LM" run -q evil.ini 2>evil.log || { cat evil.log; fail "evil zip: run failed"; }
expect "dotdot" "evil.zip: entry 1 '../escape.jpg': absolute path or '..' component; skipped" evil.log
expect "absolute" "evil.zip: entry 2 '/abs.jpg': absolute path or '..' component; skipped" evil.log
"$LM" export out-evil --npy >/dev/null 2>&1
grep -q "escape\|abs" out-evil/export/failures.tsv out-evil/export/keys.txt && fail "unsafe entries planned"

# Bad [dataset] keys.
job k1 cel celeba "images = thumbnails"
"$LM" run -q k1.ini 2>k1.log; [ $? = 2 ] || fail "celeba images = thumbnails accepted"
expect "images value" "images = thumbnails: celeba has 'aligned' or 'wild'" k1.log
job k2 cel celeba "labels = x.csv"
"$LM" run -q k2.ini 2>k2.log; [ $? = 2 ] || fail "labels with celeba accepted"
job k3 cel celeba "split = dev"
"$LM" run -q k3.ini 2>k3.log; [ $? = 2 ] || fail "split = dev accepted"
expect "split line" "k3.ini:[0-9]+:.*split" k3.log
echo "ok: malformed CelebA/FFHQ/CK+/CSV label files, strict mode, unsafe archive entries, bad keys"
