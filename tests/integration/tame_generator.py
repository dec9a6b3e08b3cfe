#!/usr/bin/env python3
"""tame_generator.py IN.safetensors OUT.safetensors [--rgb-scale S]

Helper of the inversion tests (numpy only, no torch): copies a generator file and
multiplies every `synthesis.b*.torgb.weight` and `.bias` by S (default 0.15). A
random-init generator's images reach |x| ~ 8, so most pixels of an 8-bit target would
saturate; a trained generator stays near [-1, 1]. The image is a sum of torgb
outputs (linear, no clamp in these test nets), so scaling them scales the image.
"""
import json
import struct
import sys

import numpy as np


def main():
    args = sys.argv[1:]
    scale = 0.15
    if "--rgb-scale" in args:
        i = args.index("--rgb-scale")
        scale = float(args[i + 1])
        del args[i:i + 2]
    src, dst = args
    blob = open(src, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = bytearray(blob[8 + n:])
    touched = 0
    for name, ent in header.items():
        if name == "__metadata__" or ".torgb." not in name:
            continue
        if not (name.endswith(".weight") or name.endswith(".bias")) or ".affine." in name:
            continue
        assert ent["dtype"] == "F32", name
        b, e = ent["data_offsets"]
        a = np.frombuffer(bytes(data[b:e]), "<f4") * np.float32(scale)
        data[b:e] = a.astype("<f4").tobytes()
        touched += 1
    if touched == 0:
        sys.exit("no torgb tensors in " + src)
    with open(dst, "wb") as f:
        f.write(blob[:8 + n])
        f.write(bytes(data))


if __name__ == "__main__":
    main()
