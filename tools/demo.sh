#!/usr/bin/env bash
# tools/demo.sh - `make demo`: a miniature dataset through the whole engine
# under mpirun (plan, dispatch, shards, journal), then status, inspect and an
# export read back with numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LM=$PWD/$BUILD/latentmill
PY=$(command -v /usr/bin/python3 || command -v python3)
MPI=(mpirun --oversubscribe -np 3)
[ "$(id -u)" = 0 ] && MPI=(mpirun --allow-run-as-root --oversubscribe -np 3)
export OMPI_MCA_mpi_yield_when_idle=1
rm -rf "$BUILD/demo"
mkdir -p "$BUILD/demo"
echo "== making a miniature dataset: 2000 face-sized JPEGs in a zip"
"$PY" tests/integration/mkimages.py "$BUILD/demo/imgs" 2000 --size 178x218 --zip "$BUILD/demo/faces.zip"
echo "== latentmill run jobs/demo.ini under mpirun -np 3 (rank 0 coordinates, 2 workers)"
"${MPI[@]}" "$LM" run jobs/demo.ini
echo "== latentmill inspect"
"$LM" inspect "$BUILD/demo/out"
echo "== latentmill export --npy"
"$LM" export "$BUILD/demo/out" --npy
"$PY" -c "
import numpy as np
px = np.load('$BUILD/demo/out/export/pixels.npy')
keys = open('$BUILD/demo/out/export/keys.txt').read().split()
print('numpy sees pixels', px.shape, px.dtype, 'for', len(keys), 'keys, first', keys[0])"
echo "== a rerun resumes: nothing left to do"
"$LM" run jobs/demo.ini --progress 0 2>&1 | grep "items to do"
