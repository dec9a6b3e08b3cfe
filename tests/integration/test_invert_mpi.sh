#!/usr/bin/env bash
# Inversion end to end with a small generator (the golden res32 net with its torgb
# scaled so images stay in [-1, 1], tame_generator.py):
#  - `latentmill edit --seed` renders known latents to PNG; `latentmill invert` of one
#    of them reaches PSNR >= 30 dB in W+ and writes [num_ws, w_dim] / [1, w_dim] .npy;
#  - the invert stage over a folder of 9 rendered images gives identical latents and
#    meta (psnr, steps) in one process and under `mpirun -np 3`, every key once;
#  - the [invert] section rejects unknown keys (file:line).
. "$(dirname "$0")/lib.sh"
"$PY" -c "import numpy, lmdb" 2>/dev/null || skip "python3-numpy / python3-lmdb missing"
G="$TMP/g.safetensors"
check "tame generator" "$PY" "$ROOT/tests/integration/tame_generator.py" \
    "$ROOT/tests/golden/stylegan2/res32.weights.safetensors" "$G"
mkdir -p "$TMP/imgs"
for s in 1 2 3 4 5 6 7 8 9; do
    check "edit --seed $s" "$LM" edit --seed $s --generator "$G" --png "$TMP/imgs/s$s.png"
done
# One image with the command: W+ and W.
out=$("$LM" invert "$TMP/imgs/s1.png" -o "$TMP/l.npy" --png "$TMP/rec.png" --generator "$G" \
    --space wplus --steps 200 --noise model --w-avg-samples 2000 --threads 1 --json 2>/dev/null) \
    || fail "invert command"
echo "invert wplus: $out"
"$PY" - "$TMP/l.npy" "$out" <<'PYEOF' || fail "invert wplus result"
import sys, json, numpy as np
a = np.load(sys.argv[1]); r = json.loads(sys.argv[2])
assert a.shape == (8, 64) and a.dtype == np.float32, a.shape
assert r["psnr"] >= 30, r
PYEOF
[ -s "$TMP/rec.png" ] || fail "no reconstruction PNG"
out=$("$LM" invert "$TMP/imgs/s1.png" -o "$TMP/lw.npy" --generator "$G" --space w --steps 200 \
    --noise model --w-avg-samples 2000 --threads 1 --json 2>/dev/null) || fail "invert w"
echo "invert w: $out"
"$PY" -c "import numpy as np; a=np.load('$TMP/lw.npy'); assert a.shape == (1, 64), a.shape" \
    || fail "w latent shape"

# The stage: one process vs three ranks.
for o in one mpi; do
    cat >"$TMP/$o.ini" <<INI
[job]
out = out-$o
progress = 0
max_chunk = 2
[dataset]
path = imgs
[node]
stages = decode,invert
threads = 1
[invert]
generator = g.safetensors
space = wplus
steps = 40
w_avg_samples = 2000
INI
done
check "single-process inversion" "$LM" run -q "$TMP/one.ini"
check "mpirun -np 3 inversion" "${MPIRUN[@]}" 3 "$LM" run -q "$TMP/mpi.ini"
for o in one mpi; do
    check "export $o" "$LM" export "$TMP/out-$o" --npy >/dev/null
done
check "latents of 1 and 3 ranks equal" same_export "$TMP/out-one/export" "$TMP/out-mpi/export"
"$LM" inspect "$TMP/out-mpi" | grep -q "rank 2:" || fail "rank 2 did no work"
"$PY" - "$TMP/out-one" "$TMP/out-mpi" <<'PYEOF' || fail "meta of 1 and 3 ranks"
import sys, os, json, lmdb, numpy as np
def metas(out):
    m = {}
    for sh in sorted(os.listdir(os.path.join(out, "shards"))):
        env = lmdb.open(os.path.join(out, "shards", sh), readonly=True, lock=False, max_dbs=16)
        db = env.open_db(b"meta")
        with env.begin() as t:
            for k, v in t.cursor(db):
                m[k.decode()] = json.loads(bytes(v[32:]).decode())
    return m
a, b = metas(sys.argv[1]), metas(sys.argv[2])
assert sorted(a) == sorted(b) and len(a) == 9, (len(a), len(b))
for k in a:
    ia, ib = a[k]["invert"], b[k]["invert"]
    assert ia["psnr"] == ib["psnr"] and ia["steps"] == ib["steps"] == 40, (k, ia, ib)
lat = np.load(os.path.join(sys.argv[2], "export", "latents.npy"))
assert lat.shape == (9, 8, 64), lat.shape
print("psnr after 40 steps (wplus, noise optimised):",
      " ".join("%.1f" % a[k]["invert"]["psnr"] for k in sorted(a)))
PYEOF
# Grouped: batch = 4 (one optimisation for up to 4 items of a chunk) gives the same
# items and the same reconstructions up to float rounding of the batched GEMMs.
sed -e 's/^out = out-one/out = out-bat/' -e 's/^max_chunk = 2/max_chunk = 8/' \
    -e 's/^steps = 40/steps = 40\nbatch = 4/' "$TMP/one.ini" >"$TMP/bat.ini"
check "batched inversion" "$LM" run -q "$TMP/bat.ini"
"$PY" - "$TMP/out-one" "$TMP/out-bat" <<'PYEOF' || fail "batch = 4 vs batch = 1"
import sys, os, json, lmdb
def metas(out):
    m = {}
    for sh in sorted(os.listdir(os.path.join(out, "shards"))):
        env = lmdb.open(os.path.join(out, "shards", sh), readonly=True, lock=False, max_dbs=16)
        db = env.open_db(b"meta")
        with env.begin() as t:
            for k, v in t.cursor(db):
                m[k.decode()] = json.loads(bytes(v[32:]).decode())["invert"]
    return m
a, b = metas(sys.argv[1]), metas(sys.argv[2])
assert sorted(a) == sorted(b), "keys differ"
d = max(abs(a[k]["psnr"] - b[k]["psnr"]) for k in a)
assert all(b[k].get("batch") == 4 for k in b), "batch not recorded"
print("batch 4 vs 1: max |dPSNR| = %.4f dB" % d)
assert d < 0.2, d
PYEOF
# Unknown [invert] key -> usage error naming the line.
printf '[invert]\nstepz = 3\n' >>"$TMP/one.ini"
msg=$("$LM" run -q "$TMP/one.ini" 2>&1)
[ $? = 2 ] || fail "unknown key not refused"
echo "$msg" | grep -q "stepz" || fail "message does not name the key: $msg"
echo "ok: invert command, 9 items inverted identically by 1 and 3 ranks"
