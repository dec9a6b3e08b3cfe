#!/usr/bin/env bash
# bench_faces.sh - face networks: latentmill (C, OpenBLAS + OpenMP) against
# face-api.js 1.7.15 on TF.js 4.22 (Node, pure-JS cpu backend) on the same
# 640x480 image and face crop, same machine, same run. Prints ms per call
# (detectors per image, the others per face) and the speed-up ratio, for the
# C code with default threads (OpenMP + OpenBLAS) and with one thread.
# The peer runs only when tools/faceapi_ref has its npm packages installed
# (cd tools/faceapi_ref && npm install); the face models are needed (make models).
# ITER=n sets iterations (default 10 for C, 3 for Node).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MODELS=${LATENTMILL_MODELS:-models/face-api}
if [ ! -s "$MODELS/face_recognition_model.bin" ]; then
    echo "SKIP: face models missing, run make models"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=tests/fixtures/faces/astronaut.png
c=$("$BUILD/bench/bench_faces" "$img" "${ITER:-10}" "$tmp/img640.png") || exit 1
echo "latentmill (default threads): $c"
# One thread (Node's TF.js cpu backend is single-threaded JavaScript).
c1=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$BUILD/bench/bench_faces" "$img" "${ITER:-10}") || exit 1
echo "latentmill (1 thread): $c1"
if [ -d tools/faceapi_ref/node_modules/@vladmandic/face-api ] && command -v node >/dev/null; then
    js=$(cd tools/faceapi_ref && node golden.js --models "$(cd "$OLDPWD" && cd "$MODELS" && pwd)" \
        --bench "${NODE_ITER:-3}" "$tmp/img640.png" 2>/dev/null | tail -n 1)
    echo "face-api.js (tfjs cpu): $js"
    python3 - "$c" "$c1" "$js" <<'PY'
import json, sys
c, c1, j = (json.loads(a) for a in sys.argv[1:4])
print("%-12s %10s %10s %14s %9s %9s" % ("network", "C ms", "C 1-thr ms", "face-api.js ms", "speed-up", "1-thr"))
for k in ["detector", "ssd", "landmarks", "descriptor", "expression", "age_gender"]:
    a, a1, b = c[k + "_ms"], c1[k + "_ms"], j[k + "_ms"]
    print("%-12s %10.2f %10.2f %14.2f %8.1fx %8.1fx" % (k, a, a1, b, b / a, b / a1))
PY
else
    echo "face-api.js peer not installed (cd tools/faceapi_ref && npm install); C figures only"
fi
