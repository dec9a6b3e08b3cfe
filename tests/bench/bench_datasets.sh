#!/usr/bin/env bash
# Dataset benchmarks (issue 3), side by side in one run:
#  1. planning a CelebA-layout archive of PLAN_N entries (tiny images):
#     latentmill (kind = archive: listing only; kind = celeba: listing + the
#     five annotation files) against Python's zipfile namelist + parsing the
#     same annotation files;
#  2. per-rank read throughput from the zip vs from the extracted folder
#     (2 workers, decode stage on tiny JPEGs so the read dominates), with a
#     Python loop reading the same entries as the peer;
#  3. fetch throughput from a local HTTP server, against curl(1).
set -u
. "$(dirname "$0")/../integration/lib.sh"
PLAN_N=${PLAN_N:-200000}
READ_N=${READ_N:-40000}
FETCH_MB=${FETCH_MB:-256}
cd "$TMP" || exit 1
echo "machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Planning.
t0=$(date +%s.%N)
"$LM" synth celeba big --n "$PLAN_N" --tiny --zip >/dev/null || { echo "synth failed"; exit 1; }
t1=$(date +%s.%N)
echo "synth celeba --tiny --zip, $PLAN_N entries: $(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}')s ($(du -h big/Img/img_align_celeba.zip | cut -f1) zip)"
plan_time() { # kind -> seconds from the run's "plan:" log line
    printf '[job]\nout = out-plan-%s\nprogress = 0\n[dataset]\npath = %s\nkind = %s\n[node]\nstages = noop\n' \
        "$1" "$2" "$1" >"plan-$1.ini"
    "$LM" run "plan-$1.ini" --phase map 2>&1 | sed -n 's/.*plan: [0-9]* items from .* in \([0-9.]*\)s.*/\1/p'
}
pa=$(plan_time archive big/Img/img_align_celeba.zip)
pc=$(plan_time celeba big)
py=$("$PY" - big <<'PYEOF'
import sys, time, zipfile, os
t = time.time()
root = sys.argv[1]
names = [n for n in zipfile.ZipFile(os.path.join(root, "Img/img_align_celeba.zip")).namelist() if n.endswith(".jpg")]
lab = {}
for f, skip in (("Anno/list_attr_celeba.txt", 2), ("Anno/identity_CelebA.txt", 0), ("Eval/list_eval_partition.txt", 0),
                ("Anno/list_bbox_celeba.txt", 2), ("Anno/list_landmarks_align_celeba.txt", 2)):
    for line in open(os.path.join(root, f)).read().split("\n")[skip:]:
        t_ = line.split()
        if t_:
            lab.setdefault(t_[0], []).extend(int(x) for x in t_[1:])
assert len(names) == len(lab)
print("%.2f" % (time.time() - t))
PYEOF
)
echo "planning $PLAN_N-entry CelebA zip:"
echo "  latentmill kind = archive (listing, header offsets):   ${pa}s  ($(echo "$PLAN_N $pa" | awk '{printf "%.0f", $1/$2}') entries/s)"
echo "  latentmill kind = celeba (+ 5 annotation files):      ${pc}s"
echo "  Python zipfile.namelist + the same annotation parsing: ${py}s  (latentmill celeba $(echo "$py $pc" | awk '{printf "%.2fx", $1/$2}'))"

# 2. Read throughput: zip vs extracted folder, 2 workers.
"$LM" synth celeba rd --n "$READ_N" --tiny --zip >/dev/null
mkdir -p rdx && (cd rdx && unzip -q ../rd/Img/img_align_celeba.zip)
rate() { "$LM" inspect "$1" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p'; }
for src in zip folder; do
    p=rd/Img/img_align_celeba.zip
    [ $src = folder ] && p=rdx/img_align_celeba
    printf '[job]\nout = out-rd-%s\nprogress = 0\nmax_chunk = 2048\n[dataset]\npath = %s\n[node]\nstages = decode\n' \
        "$src" "$p" >"rd-$src.ini"
    "$LM" run -q "rd-$src.ini" --phase map 2>/dev/null # plan (not timed)
    rm -rf "out-rd-$src/shards" "out-rd-$src/journal.bin" "out-rd-$src/runs"
    "${MPIRUN[@]}" 3 "$LM" run -q "rd-$src.ini" --phase map
done
rz=$(rate out-rd-zip)
rf=$(rate out-rd-folder)
"$LM" inspect out-rd-zip | grep "rank [0-9]:" | sed 's/^/    zip    /' | head -2
"$LM" inspect out-rd-folder | grep "rank [0-9]:" | sed 's/^/    folder /' | head -2
pyz=$("$PY" - rd/Img/img_align_celeba.zip rdx/img_align_celeba <<'PYEOF'
import sys, time, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if n.endswith(".jpg")]
t = time.time()
for n in names:
    z.read(n)
tz = time.time() - t
t = time.time()
for n in sorted(os.listdir(sys.argv[2])):
    open(os.path.join(sys.argv[2], n), "rb").read()
tf = time.time() - t
print("%.0f %.0f" % (len(names) / tz, len(names) / tf))
PYEOF
)
echo "read + decode of $READ_N tiny JPEGs, mpirun -np 3 (2 workers), items/s inside the run:"
echo "  latentmill from the zip (entries reached by header offset): $rz items/s"
echo "  latentmill from the extracted folder:                       $rf items/s  (zip/folder $(echo "$rz $rf" | awk '{printf "%.2f", $1/$2}'))"
echo "  Python read loop, 1 process (zipfile / open): $(echo $pyz | cut -d' ' -f1) / $(echo $pyz | cut -d' ' -f2) items/s (read only, no decode)"

# 3. Fetch throughput from a local server.
mkdir -p srv
head -c $((FETCH_MB * 1024 * 1024)) /dev/urandom >srv/blob.bin
sha=$(sha256sum srv/blob.bin | cut -d' ' -f1)
"$PY" "$ROOT/tests/integration/fetch_server.py" srv port log &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -f port ] && break; sleep 0.1; done
U="http://127.0.0.1:$(cat port)/ok/blob.bin"
t0=$(date +%s.%N)
"$LM" fetch -q "$U" -o f1 --sha256 "$sha" >/dev/null
t1=$(date +%s.%N)
curl -s -o f2.bin "$U"
t2=$(date +%s.%N)
sha256sum f2.bin >/dev/null
t3=$(date +%s.%N)
echo "fetch of a $FETCH_MB MiB file from a local Python HTTP server:"
echo "  latentmill fetch (with SHA-256 check): $(echo "$t0 $t1 $FETCH_MB" | awk '{printf "%.1f MiB/s (%.2fs)", $3/($2-$1), $2-$1}')"
echo "  curl -o + sha256sum:                   $(echo "$t1 $t3 $FETCH_MB" | awk '{printf "%.1f MiB/s (%.2fs)", $3/($2-$1), $2-$1}')"
