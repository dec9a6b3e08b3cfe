#!/usr/bin/env python3
"""invert_ref.py - the PyTorch peer of `latentmill invert` for benchmarks and checks.

The same optimisation as models/invert.c, written with torch autograd on the
independent generator of tools/sg2_ref.py: w (broadcast) or W+ latents started at
the mean of N mapping samples, per-image noise maps N(0,1) optimised with the NVlabs
noise regulariser and renormalised after each step, Adam (0.9, 0.999, 1e-8), NVlabs
learning-rate ramp (5 % up, cosine down over the last 25 %) and w-noise schedule
(0.05 * w_std * (1 - t/0.75)^2), loss = mse_weight * pixel MSE at min(R, 256)
(box downsampling) + noise_reg * regulariser, images in [-1, 1].

  invert_ref.py --weights G.safetensors [--image IMG.png | --seed S] [--batch B]
                [--steps N] [--space w|wplus] [--noise optimize|model] [--threads T]
                [--w-avg-samples N]

Prints one JSON line: seconds per image (optimisation loop only, after a warm-up
step), final per-image PSNR and MSE. Needs torch + numpy (+ PIL for --image).
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sg2_ref  # noqa: E402  (re-executes with /usr/bin/python3 when torch is missing)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def noise_reg(n):
    """n [B, 1, r, r] -> per-image regulariser summed over images (NVlabs pyramid)."""
    reg = 0.0
    while True:
        reg = reg + ((n * torch.roll(n, shifts=1, dims=3)).mean(dim=[1, 2, 3]) ** 2).sum()
        reg = reg + ((n * torch.roll(n, shifts=1, dims=2)).mean(dim=[1, 2, 3]) ** 2).sum()
        if n.shape[2] <= 8:
            break
        n = F.avg_pool2d(n, 2)
    return reg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", help="target image (centre crop, resize to R)")
    ap.add_argument("--seed", type=int, default=1, help="target rendered from mapping(z(seed))")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--space", choices=["w", "wplus"], default="w")
    ap.add_argument("--noise", choices=["optimize", "model"], default="optimize")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--w-avg-samples", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--noise-reg", type=float, default=1e5)
    ap.add_argument("--mse-weight", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    G, _ = sg2_ref.load_generator(a.weights, torch.float32)
    cfg = G.cfg
    R, B, Wd = cfg.res, a.batch, cfg.w_dim
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        ws_s = G.mapping(torch.randn(a.w_avg_samples, cfg.z_dim, generator=g))
        w_avg = ws_s.mean(0)
        w_std = float(((ws_s - w_avg) ** 2).sum() / a.w_avg_samples) ** 0.5
        if a.image:
            from PIL import Image
            import numpy as np
            im = Image.open(a.image).convert("RGB")
            s = min(im.size)
            l, t = (im.size[0] - s) // 2, (im.size[1] - s) // 2
            im = im.crop((l, t, l + s, t + s)).resize((R, R), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
            target = x.unsqueeze(0).repeat(B, 1, 1, 1)
        else:
            gz = torch.Generator().manual_seed(a.seed)
            wt = G.mapping(torch.randn(B, cfg.z_dim, generator=gz))
            target = G.synthesis(G.broadcast(wt), noise_mode="const")
            target = ((target + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1
    L = min(R, 256)
    tgtL = F.avg_pool2d(target, R // L) if L < R else target
    rows = cfg.num_ws if a.space == "wplus" else 1
    lat = w_avg.reshape(1, 1, Wd).repeat(B, rows, 1).clone().requires_grad_(True)
    gn = torch.Generator().manual_seed(303)
    names = cfg.noise_layers()
    noises = {}
    params = [lat]
    if a.noise == "optimize":
        for nm in names:
            r = G.p[nm + ".noise_const"].shape[0]
            t = torch.randn(B, 1, r, r, generator=gn).requires_grad_(True)
            noises[nm + ".noise_const"] = t
            params.append(t)
    opt = torch.optim.Adam(params, betas=(0.9, 0.999), eps=1e-8)

    def step(i, n_steps):
        t = i / n_steps
        lr = a.lr * min(1.0, t / 0.05) * (0.5 - 0.5 * math.cos(math.pi * min(1.0, (1.0 - t) / 0.25)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        sigma = w_std * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2
        eps = torch.randn(B, 1, Wd, generator=gn) * sigma
        ws = (lat + eps).expand(B, cfg.num_ws, Wd) if rows == 1 else lat + eps
        img = G.synthesis(ws, noise_mode="const", noise=noises or None)
        x = F.avg_pool2d(img, R // L) if L < R else img
        mse = ((x - tgtL) ** 2).mean(dim=[1, 2, 3])
        loss = a.mse_weight * mse.sum()
        if noises:
            loss = loss + a.noise_reg * sum(noise_reg(n) for n in noises.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for n in noises.values():
                n -= n.mean(dim=[2, 3], keepdim=True)
                n *= n.square().mean(dim=[2, 3], keepdim=True).rsqrt()
        return mse

    step(0, a.steps)  # warm-up (lr 0 at step 0, as in the timed loop's first step)
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i, a.steps)
    secs = (time.perf_counter() - t0) / B
    with torch.no_grad():
        ws = lat.expand(B, cfg.num_ws, Wd) if rows == 1 else lat
        img = G.synthesis(ws, noise_mode="const", noise=noises or None)
        mse = ((img.clamp(-1, 1) - target) ** 2).mean(dim=[1, 2, 3])
        psnr = [10 * math.log10(4.0 / max(float(m), 1e-20)) for m in mse]
    print(json.dumps({"seconds_per_image": round(secs, 4), "steps": a.steps, "batch": B,
                      "res": R, "space": a.space, "threads": a.threads,
                      "psnr": [round(p, 2) for p in psnr],
                      "impl": "invert_ref.py torch " + torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
