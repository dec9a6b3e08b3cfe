#!/usr/bin/env bash
# Engine benchmarks (issue 2), measured side by side in one run:
#  1. engine overhead: items/s through the no-op stage with 2 worker ranks;
#  2. decode+resize of CelebA-sized JPEGs (178x218) from a zip to 64x64:
#     latentmill (1 process, and 2 workers under mpirun) against a Python/PIL
#     loop doing the same work on the same files.
set -u
. "$(dirname "$0")/../integration/lib.sh"
NOOP_N=${NOOP_N:-200000}
IMG_N=${IMG_N:-5000}
echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# 1. No-op stage: a zip of NOOP_N empty entries (the stage reads nothing).
"$PY" - "$TMP/noop.zip" "$NOOP_N" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    for i in range(int(sys.argv[2])):
        z.writestr("n/%07d.jpg" % i, b"")
PYEOF
write_job "$TMP/noop.ini" out-noop noop.zip "stages = noop" "job: max_chunk = 4096"
"$LM" run -q "$TMP/noop.ini" --phase map --progress 0 2>/dev/null # plan once (timed separately)
rm -rf "$TMP/out-noop/shards" "$TMP/out-noop/journal.bin" "$TMP/out-noop/runs"
t0=$(date +%s.%N)
"${MPIRUN[@]}" 3 "$LM" run -q "$TMP/noop.ini" --phase map
t1=$(date +%s.%N)
rate=$("$LM" inspect "$TMP/out-noop" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
wall=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
echo "engine overhead (no-op stage, 2 workers + coordinator): $rate items/s inside the run" \
     "($NOOP_N items; ${wall}s wall including mpirun start-up); goal >= 50000"

# 2. Decode + resize from a zip.
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/celeb" "$IMG_N" --size 178x218 --zip "$TMP/celeb.zip" >/dev/null
write_job "$TMP/dec1.ini" out-dec1 celeb.zip "resolution = 64"
write_job "$TMP/dec2.ini" out-dec2 celeb.zip "resolution = 64"
pil=$("$PY" "$ROOT/tests/bench/pil_decode_resize.py" "$TMP/celeb.zip" 64 | "$PY" -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["items_per_s"])')
"$LM" run -q "$TMP/dec1.ini" --phase map
r1=$("$LM" inspect "$TMP/out-dec1" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
"${MPIRUN[@]}" 3 "$LM" run -q "$TMP/dec2.ini" --phase map
r2=$("$LM" inspect "$TMP/out-dec2" | sed -n 's/^run 1: .* = \([0-9.]*\) items\/s/\1/p')
echo "decode+resize 178x218 JPEG -> 64x64 from a zip ($IMG_N files):"
echo "  Python/PIL loop (1 process):       $pil items/s"
echo "  latentmill, 1 process:             $r1 items/s  ($(echo "$r1 $pil" | awk '{printf "%.2fx", $1 / $2}') PIL)"
echo "  latentmill, mpirun -np 3 (2 workers): $r2 items/s  ($(echo "$r2 $pil" | awk '{printf "%.2fx", $1 / $2}') PIL)"
echo "  (goal: 2x or better; items/s counted inside the run, from plan to last commit)"
