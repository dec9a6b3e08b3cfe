#!/usr/bin/env bash
# tools/invert_demo.sh - inversion demo (for `make demo`): a miniature dataset of
# images rendered from known latents of a small generator (the golden res32 test net,
# torgb scaled so images stay in [-1, 1]), inverted to W+ latents by the invert stage
# under mpirun -np 3, then inspect, an export read back with numpy, PSNRs from meta.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LM=$PWD/$BUILD/latentmill
PY=$(command -v /usr/bin/python3 || command -v python3)
MPI=(mpirun --oversubscribe -np 3)
[ "$(id -u)" = 0 ] && MPI=(mpirun --allow-run-as-root --oversubscribe -np 3)
export OMPI_MCA_mpi_yield_when_idle=1
D=$BUILD/invert-demo
N=${N:-24}
rm -rf "$D"
mkdir -p "$D/imgs"
echo "== a small generator and $N images rendered from known latents (latentmill edit --seed)"
"$PY" tests/integration/tame_generator.py tests/golden/stylegan2/res32.weights.safetensors "$D/g.safetensors"
for s in $(seq 1 "$N"); do
    "$LM" edit --seed "$s" --generator "$D/g.safetensors" --png "$D/imgs/face$(printf %03d "$s").png"
done
cat >"$D/job.ini" <<INI
[job]
name = invert-demo
out = out
progress = 0
max_chunk = 4
[dataset]
path = imgs
[node]
stages = decode,invert
threads = 1
[invert]
generator = g.safetensors
space = wplus
steps = 150
batch = 4
noise = model
w_avg_samples = 2000
recon_dir = recon
recon_every = 6
INI
mkdir -p "$D/recon"
echo "== latentmill run (invert stage, W+, 150 steps, batch 4) under mpirun -np 3"
"${MPI[@]}" "$LM" run "$D/job.ini"
"$LM" inspect "$D/out"
"$LM" export "$D/out" --npy
"$PY" - "$D/out" <<'PYEOF'
import sys, os, json, lmdb, numpy as np
out = sys.argv[1]
lat = np.load(os.path.join(out, "export", "latents.npy"))
ps = []
for sh in sorted(os.listdir(os.path.join(out, "shards"))):
    env = lmdb.open(os.path.join(out, "shards", sh), readonly=True, lock=False, max_dbs=16)
    db = env.open_db(b"meta")
    with env.begin() as t:
        for k, v in t.cursor(db):
            ps.append(json.loads(bytes(v[32:]).decode())["invert"]["psnr"])
print("numpy sees latents", lat.shape, lat.dtype, "; reconstruction PSNR min %.1f, median %.1f dB"
      % (min(ps), sorted(ps)[len(ps) // 2]))
PYEOF
echo "reconstructions: $(ls "$D/recon" | wc -l) PNGs in $D/recon"
