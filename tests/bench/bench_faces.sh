#!/usr/bin/env bash
# bench_faces.sh - face networks: latentmill (C, OpenBLAS + OpenMP) against
# face-api.js 1.7.15 on TF.js 4.22 (Node, pure-JS cpu backend) on the same
# 640x480 image and face crop, same machine, same run. Prints ms per call
# (detector per image, the others per face) and the speed-up ratio.
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
echo "latentmill: $c"
if [ -d tools/faceapi_ref/node_modules/@vladmandic/face-api ] && command -v node >/dev/null; then
    js=$(cd tools/faceapi_ref && node golden.js --models "$(cd "$OLDPWD" && cd "$MODELS" && pwd)" \
        --bench "${NODE_ITER:-3}" "$tmp/img640.png" 2>/dev/null | tail -n 1)
    echo "face-api.js (tfjs cpu): $js"
    python3 - "$c" "$js" <<'PY'
import json, sys
c, j = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%-14s %12s %14s %8s" % ("network", "latentmill ms", "face-api.js ms", "speed-up"))
for k in ["detector", "landmarks", "descriptor", "expression", "age_gender"]:
    a, b = c[k + "_ms"], j[k + "_ms"]
    print("%-14s %12.2f %14.2f %7.1fx" % (k, a, b, b / a))
PY
else
    echo "face-api.js peer not installed (cd tools/faceapi_ref && npm install); C figures only"
fi
