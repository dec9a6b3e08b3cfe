#!/usr/bin/env python3
"""Write N small synthetic face-sized JPEGs (deterministic per seed) into a
folder and optionally a zip of them, for the engine's integration tests.
usage: mkimages.py OUTDIR N [--size WxH] [--zip ZIP] [--seed S]"""
import argparse, os, random, zipfile
from PIL import Image, ImageDraw

ap = argparse.ArgumentParser()
ap.add_argument("outdir")
ap.add_argument("n", type=int)
ap.add_argument("--size", default="44x54")
ap.add_argument("--zip")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
w, h = (int(v) for v in a.size.split("x"))
rnd = random.Random(a.seed)
os.makedirs(a.outdir, exist_ok=True)
names = []
for i in range(a.n):
    sub = "%03d" % (i // 1000)
    os.makedirs(os.path.join(a.outdir, sub), exist_ok=True)
    im = Image.new("RGB", (w, h), (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    d = ImageDraw.Draw(im)
    d.ellipse([w // 5, h // 6, 4 * w // 5, 5 * h // 6], fill=(rnd.randrange(256), 120, 90))
    name = os.path.join(sub, "%06d.jpg" % i)
    im.save(os.path.join(a.outdir, name), quality=85)
    names.append(name)
if a.zip:
    with zipfile.ZipFile(a.zip, "w", zipfile.ZIP_STORED) as z:
        for name in names:
            z.write(os.path.join(a.outdir, name), "img/" + name)
