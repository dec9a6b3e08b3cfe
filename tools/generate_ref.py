#!/usr/bin/env python3
"""generate_ref.py - reference images for `latentmill generate` from NVlabs'
stylegan2-ada-pytorch itself (its networks.Generator and the per-seed lines of its
generate.py), for a latentmill .safetensors generator. Needs torch and a checkout
of https://github.com/NVlabs/stylegan2-ada-pytorch (not part of this repository):

    python3 tools/generate_ref.py --nvlabs PATH/TO/stylegan2-ada-pytorch \\
        --weights W.safetensors --seeds 0,1,2 --psi 0.7 --outdir DIR

writes DIR/seedNNNN.png exactly as generate.py does on the CPU:
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim))
    img = G(z, label, truncation_psi=psi, noise_mode='const')   (float32, eval mode)
    img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
(the pickle loading of generate.py is replaced by building networks.Generator from
the file's generator_kwargs and loading its state dict).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    out = {}
    for name, ent in header.items():
        assert ent["dtype"] == "F32", (name, ent["dtype"])
        a, b = ent["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(ent["shape"]).copy()
    return out, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvlabs", required=True, help="stylegan2-ada-pytorch checkout")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--seeds", required=True, help="comma-separated seeds")
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.nvlabs))
    import torch
    import PIL.Image
    from training import networks  # NVlabs

    tensors, meta = read_safetensors(a.weights)
    kw = json.loads(meta["generator_kwargs"])
    G = networks.Generator(**kw).eval().requires_grad_(False)
    sd = G.state_dict()
    missing = set(sd) - set(tensors)
    assert not missing, "tensors missing from %s: %s" % (a.weights, sorted(missing)[:5])
    G.load_state_dict({k: torch.from_numpy(tensors[k]) for k in sd})
    os.makedirs(a.outdir, exist_ok=True)
    label = torch.zeros([1, G.c_dim])
    for seed in [int(s) for s in a.seeds.split(",")]:
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim))
        img = G(z, label, truncation_psi=a.psi, noise_mode="const", force_fp32=True)
        img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        PIL.Image.fromarray(img[0].cpu().numpy(), "RGB").save("%s/seed%04d.png" % (a.outdir, seed))
    print("%s: seeds %s, psi %g, torch %s, NVlabs %s" % (a.outdir, a.seeds, a.psi, torch.__version__,
                                                         a.nvlabs))


if __name__ == "__main__":
    main()
