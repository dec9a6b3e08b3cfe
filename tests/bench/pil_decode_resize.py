#!/usr/bin/env python3
"""The peer for `make bench`: what a user would otherwise write — a Python/PIL
loop reading every JPEG of a zip, decoding it, resizing it to RES x RES with
PIL's antialiased bilinear filter and keeping the pixels with a checksum.
Prints one JSON line with items/s. usage: pil_decode_resize.py ZIP RES"""
import json, sys, time, zipfile, io, zlib
from PIL import Image

path, res = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
n = 0
with zipfile.ZipFile(path) as z:
    for info in z.infolist():
        if info.is_dir():
            continue
        data = z.read(info)
        im = Image.open(io.BytesIO(data)).convert("RGB")
        px = im.resize((res, res), Image.BILINEAR).tobytes()
        zlib.crc32(px)
        n += 1
dt = time.perf_counter() - t0
print(json.dumps({"items": n, "seconds": dt, "items_per_s": n / dt}))
