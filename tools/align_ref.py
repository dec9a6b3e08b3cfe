#!/usr/bin/env python3
"""align_ref.py - reference implementation of the FFHQ face-alignment recipe
(NVlabs download_ffhq.py, recreate_aligned_images), written from the recipe
as described in the project's dataset spec (section 4) with Debian's
python3-pil, python3-numpy and python3-scipy, and the generator of the
alignment goldens in tests/golden/align/.

  align_ref.py IMAGE LANDMARKS.json OUT.png [--size 1024] [--transform 4096]
      align one image (landmarks: [[x, y], ...], 68 dlib points or the 5
      CelebA points)
  align_ref.py --make-goldens DIR
      draw the synthetic test faces, align them, and write DIR/<case>.png
      (input) and DIR/<case>.json (landmarks, parameters, quad, the aligned
      output pixels as numbers, and the pupil centres found in the output)

Uses Image.LANCZOS (the recipe's ANTIALIAS; same filter) so it runs on any
Pillow.
"""
import json
import os
import sys

import numpy as np
import PIL.Image
import scipy.ndimage


def quad_from_landmarks(lm):
    lm = np.asarray(lm, np.float64)
    if len(lm) == 68:
        eye_left = np.mean(lm[36:42], axis=0)
        eye_right = np.mean(lm[42:48], axis=0)
        mouth_left, mouth_right = lm[48], lm[54]
    elif len(lm) == 5:
        eye_left, eye_right, mouth_left, mouth_right = lm[0], lm[1], lm[3], lm[4]
    else:
        raise ValueError("need 68 or 5 landmarks")
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2
    return quad, qsize


def align(img, lm, output_size=1024, transform_size=4096, enable_padding=True):
    """Returns (aligned PIL image, info dict)."""
    quad, qsize = quad_from_landmarks(lm)
    info = {"quad": quad.flatten().tolist(), "qsize": float(qsize)}
    lm = np.asarray(lm, np.float64).copy()
    # Shrink.
    shrink = int(np.floor(qsize / output_size * 0.5))
    info["shrink"] = max(shrink, 1)
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, PIL.Image.LANCZOS)
        quad /= shrink
        qsize /= shrink
        lm /= shrink
    # Crop.
    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]
        lm -= crop[0:2]
    # Pad.
    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
           int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    info["padded"] = 0
    if enable_padding and max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = img.shape
        y, x, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                          1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
        blur = qsize * 0.02
        img += (scipy.ndimage.gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)
        img = PIL.Image.fromarray(np.uint8(np.clip(np.rint(img), 0, 255)), "RGB")
        quad += pad[:2]
        lm += pad[:2]
        info["padded"] = 1
    # Transform.
    img = img.transform((transform_size, transform_size), PIL.Image.QUAD, (quad + 0.5).flatten(),
                        PIL.Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.LANCZOS)
    # Landmarks into the output (the quad is a parallelogram: an affine map).
    a = quad[3] - quad[0]
    b = quad[1] - quad[0]
    m = np.array([[a[0], b[0]], [a[1], b[1]]])
    uv = np.linalg.solve(m, (lm - quad[0]).T).T * transform_size
    info["landmarks_out"] = (uv * min(output_size, transform_size) / transform_size - 0.5).tolist()
    return img, info


# ---- synthetic test faces ----

def template68():
    p = []
    for i in range(17):
        t = np.pi - i * np.pi / 16
        p.append((np.cos(t), 0.1 + 1.45 * np.sin(t)))
    for e in (-1, 1):
        for i in range(5):
            p.append((e * (0.85 - 0.16 * i) if e < 0 else 0.21 + 0.16 * i, -0.33))
    for i in range(4):
        p.append((0.0, 0.05 + i * 0.5 / 3))
    for i in range(5):
        p.append((-0.2 + 0.1 * i, 0.65))
    for cx in (-0.5, 0.5):
        for a in (180, 120, 60, 0, -60, -120):
            r = np.radians(a)
            p.append((cx + 0.18 * np.cos(r), -0.08 * np.sin(r)))
    for i in range(7):
        t = np.pi - i * np.pi / 6
        p.append((0.45 * np.cos(t), 1.0 - 0.12 * np.sin(t)))
    for i in range(1, 6):
        t = i * np.pi / 6
        p.append((0.45 * np.cos(t), 1.0 + 0.15 * np.sin(t)))
    for i in range(5):
        t = np.pi - i * np.pi / 4
        p.append((0.3 * np.cos(t), 1.0 - 0.04 * np.sin(t)))
    for i in range(1, 4):
        t = i * np.pi / 4
        p.append((0.3 * np.cos(t), 1.0 + 0.04 * np.sin(t)))
    return np.array(p)


def draw_face(w, h, cx, cy, s, theta, seed):
    """A textured background and a face whose pupils (pure black discs) sit
    exactly on the eye centres; returns (uint8 image, 68 landmarks)."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c, si = np.cos(theta), np.sin(theta)
    dx, dy = xx - cx, yy - cy
    u = (c * dx + si * dy) / s
    v = (-si * dx + c * dy) / s
    img = np.zeros((h, w, 3))
    base = rng.uniform(60, 200, 3)
    for k in range(3):
        img[..., k] = base[k] + 40 * np.sin(xx / (7 + 3 * k)) * np.cos(yy / (11 + k)) + 10 * np.sin((xx + 2 * yy) / 3.0)
    face = ((u / 1.0) ** 2 + ((v - 0.45) / 1.15) ** 2) <= 1
    img[face] = (225, 185, 150)
    for e in (-0.5, 0.5):
        white = ((u - e) / 0.24) ** 2 + (v / 0.16) ** 2 <= 1
        img[white] = (250, 250, 250)
        pupil = (u - e) ** 2 + v ** 2 <= 0.1 ** 2
        img[pupil] = (0, 0, 0)
    mouth = (np.abs(u) <= 0.45) & (np.abs(v - 1.0) <= 0.07)
    img[mouth] = (170, 40, 50)
    t = template68()
    lm = np.stack([cx + s * (c * t[:, 0] - si * t[:, 1]), cy + s * (si * t[:, 0] + c * t[:, 1])], 1)
    return np.uint8(np.clip(np.rint(img), 0, 255)), lm


def pupils(arr, guess, radius):
    """Darkness-weighted centroids of the pixels within radius of each guessed
    pupil (pixel indices); the eye white around a pupil weighs nothing."""
    out = []
    g = arr.astype(np.float64).mean(axis=2)
    for gx, gy in guess:
        x0, x1 = int(np.floor(max(gx - radius, 0))), int(np.ceil(min(gx + radius + 1, arr.shape[1])))
        y0, y1 = int(np.floor(max(gy - radius, 0))), int(np.ceil(min(gy + radius + 1, arr.shape[0])))
        win = g[y0:y1, x0:x1]
        ys, xs = np.mgrid[y0:y1, x0:x1]
        wts = np.clip(1.0 - win / 200.0, 0, None)
        wts[(xs - gx) ** 2 + (ys - gy) ** 2 > radius ** 2] = 0
        tot = wts.sum()
        out.append([float((xs * wts).sum() / tot), float((ys * wts).sum() / tot)] if tot > 0 else None)
    return out


CASES = [
    # name, image w, h, face cx, cy, scale (eye distance), theta (deg), npts, output, transform
    ("pad68", 200, 160, 165, 40, 40, 20, 68, 64, 256),
    ("shrink68", 600, 500, 300, 220, 80, -8, 68, 64, 256),
    ("celeba5", 260, 300, 120, 140, 44, -12, 5, 64, 256),
    ("plain68", 300, 300, 150, 130, 36, 5, 68, 48, 192),
]


def make_goldens(d):
    os.makedirs(d, exist_ok=True)
    for i, (name, w, h, cx, cy, s, th, npts, size, tsize) in enumerate(CASES):
        arr, lm68 = draw_face(w, h, cx, cy, s, np.radians(th), 100 + i)
        if npts == 5:
            lm = np.stack([lm68[36:42].mean(0), lm68[42:48].mean(0), lm68[30], lm68[48], lm68[54]])
            lm = np.rint(lm)  # CelebA gives integer points
        else:
            lm = np.round(lm68, 2)
        PIL.Image.fromarray(arr).save(os.path.join(d, name + ".png"))
        img = PIL.Image.open(os.path.join(d, name + ".png")).convert("RGB")
        out, info = align(img, lm, size, tsize)
        o = np.asarray(out)
        lo = np.array(info["landmarks_out"])
        eyes_pred = ([lo[36:42].mean(0).tolist(), lo[42:48].mean(0).tolist()] if npts == 68
                     else [lo[0].tolist(), lo[1].tolist()])
        found = pupils(o, eyes_pred, 0.22 * size / 4)
        case = {
            "name": name, "landmarks": lm.tolist(), "output_size": size, "transform_size": tsize,
            "quad": info["quad"], "qsize": info["qsize"], "shrink": info["shrink"],
            "padded": info["padded"], "landmarks_out": info["landmarks_out"],
            "eyes_predicted": eyes_pred, "pupils_found": found,
            "pixels": o.reshape(-1).tolist(),
        }
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump(case, f, separators=(",", ":"))
        err = max(abs(a - b) for p, q in zip(eyes_pred, found) for a, b in zip(p, q))
        print("%s: %dx%d -> %d (T %d), shrink %d, padded %d, pupil vs predicted %.3f px"
              % (name, w, h, size, tsize, info["shrink"], info["padded"], err))


def main():
    a = sys.argv[1:]
    if a[:1] == ["--make-goldens"] and len(a) == 2:
        make_goldens(a[1])
        return
    if len(a) < 3:
        sys.exit(__doc__)
    size, tsize = 1024, 4096
    if "--size" in a:
        size = int(a[a.index("--size") + 1])
    if "--transform" in a:
        tsize = int(a[a.index("--transform") + 1])
    img = PIL.Image.open(a[0]).convert("RGB")
    lm = json.load(open(a[1]))
    out, info = align(img, lm, size, tsize)
    out.save(a[2])
    print(json.dumps({k: info[k] for k in ("quad", "qsize", "shrink", "padded")}))


if __name__ == "__main__":
    main()
