#!/usr/bin/env python3
"""Helper of test_convert.sh: builds foreign checkpoints from a latentmill
.safetensors (the inverse of tools/convert_weights.py) and compares files.

  sg2ref_ckpt.py to-rosinality IN.safetensors OUT.pt [--no-latent-avg] [--extra NAME] [--drop NAME] [--legacy]
  sg2ref_ckpt.py to-nvlabs-pickle IN.safetensors OUT.pkl
  sg2ref_ckpt.py evil-pickle OUT MARKER_FILE [--torch-save zip|legacy]
  sg2ref_ckpt.py compare A.safetensors B.safetensors [--skip NAME]...
  sg2ref_ckpt.py make-all IN.safetensors DIR      (every file test_convert.sh needs)
  sg2ref_ckpt.py check ORIG.safetensors GOLDEN.safetensors DIR   (its in-process checks)

to-nvlabs-pickle imitates stylegan2-ada-pytorch's network pickles: persistent
classes whose __reduce__ calls torch_utils.persistence._reconstruct_persistent_obj
(meta) with the module's __dict__ as state, a dnnlib.util.EasyDict of init
kwargs, and G / D / G_ema / training_set_kwargs / augment_pipe entries. The
fake classes live in modules created here, so the converter must read the
file without them.
"""
import argparse
import collections
import json
import os
import pickle
import sys
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import sg2_ref  # noqa: E402


# -- rosinality ------------------------------------------------------------

def to_rosinality(src, dst, latent_avg=True, extra=None, drop=None, legacy=False):
    t, meta = sg2_ref.st_read(src)
    cfg = sg2_ref.GenConfig(json.loads(meta["generator_kwargs"]))
    if cfg.z_dim != cfg.w_dim or cfg.lr_mul != 0.01 or cfg.conv_clamp is not None:
        raise SystemExit("to-rosinality: needs z_dim == w_dim, lr 0.01, no conv_clamp")
    a = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kern4 = torch.outer(a, a) / 64.0 * 4
    sd = collections.OrderedDict()
    for i in range(cfg.map_layers):
        sd[f"style.{i + 1}.weight"] = t[f"mapping.fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = t[f"mapping.fc{i}.bias"]
    sd["input.input"] = t["synthesis.b4.const"][None]

    def styled(dst_name, src_name, up):
        sd[dst_name + ".conv.weight"] = t[src_name + ".weight"][None]
        if up:
            sd[dst_name + ".conv.blur.kernel"] = kern4.clone()
        sd[dst_name + ".conv.modulation.weight"] = t[src_name + ".affine.weight"]
        sd[dst_name + ".conv.modulation.bias"] = t[src_name + ".affine.bias"]
        sd[dst_name + ".noise.weight"] = t[src_name + ".noise_strength"].reshape(1)
        sd[dst_name + ".activate.bias"] = t[src_name + ".bias"]

    def rgb(dst_name, src_name, up):
        if up:
            sd[dst_name + ".upsample.kernel"] = kern4.clone()
        sd[dst_name + ".conv.weight"] = t[src_name + ".weight"][None]
        sd[dst_name + ".conv.modulation.weight"] = t[src_name + ".affine.weight"]
        sd[dst_name + ".conv.modulation.bias"] = t[src_name + ".affine.bias"]
        sd[dst_name + ".bias"] = t[src_name + ".bias"].reshape(1, 3, 1, 1)

    styled("conv1", "synthesis.b4.conv1", False)
    rgb("to_rgb1", "synthesis.b4.torgb", False)
    noises = [t["synthesis.b4.conv1.noise_const"]]
    for j, r in enumerate(cfg.block_res[1:]):
        styled(f"convs.{2 * j}", f"synthesis.b{r}.conv0", True)
        styled(f"convs.{2 * j + 1}", f"synthesis.b{r}.conv1", False)
        rgb(f"to_rgbs.{j}", f"synthesis.b{r}.torgb", True)
        noises += [t[f"synthesis.b{r}.conv0.noise_const"], t[f"synthesis.b{r}.conv1.noise_const"]]
    for i, n in enumerate(noises):
        sd[f"noises.noise_{i}"] = n[None, None]
    if extra:
        sd[extra] = torch.zeros(3)
    if drop:
        del sd[drop]
    ckpt = {"g_ema": sd, "g": collections.OrderedDict((k, v + 1) for k, v in sd.items()),
            "args": argparse.Namespace(size=cfg.res, n_mlp=cfg.map_layers, latent=cfg.w_dim,
                                       channel_multiplier=2)}
    if latent_avg:
        ckpt["latent_avg"] = t["mapping.w_avg"]
    torch.save(ckpt, dst, _use_new_zipfile_serialization=not legacy)


# -- NVlabs-style pickle with fake persistent classes ---------------------

def _fake_modules():
    if "torch_utils.persistence" in sys.modules:
        return sys.modules["torch_utils.persistence"], sys.modules["dnnlib.util"]
    tu = types.ModuleType("torch_utils")
    pers = types.ModuleType("torch_utils.persistence")
    dn = types.ModuleType("dnnlib")
    du = types.ModuleType("dnnlib.util")
    tu.persistence = pers
    dn.util = du

    def _reconstruct_persistent_obj(meta):  # never called by the converter
        raise RuntimeError("the real reconstruct hook must not run")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    du.EasyDict = EasyDict
    for name, m in (("torch_utils", tu), ("torch_utils.persistence", pers), ("dnnlib", dn), ("dnnlib.util", du)):
        sys.modules[name] = m
    return pers, du


class FakePersistent(torch.nn.Module):
    class_name = "Module"

    def __reduce__(self):
        pers, _ = _fake_modules()
        meta = dict(type="class", version=6, class_name=self.class_name,
                    module_src="raise RuntimeError('module source of a checkpoint must never be executed')\n",
                    state=dict(self.__dict__))
        return (pers._reconstruct_persistent_obj, (meta,))


def _build_tree(tensors, class_of, init_kwargs):
    pers, du = _fake_modules()
    root = FakePersistent()
    root.class_name = "Generator"
    buffers = ("resample_filter", "noise_const", "w_avg")
    for name in sorted(tensors):
        parts = name.split(".")
        m = root
        path = []
        for p in parts[:-1]:
            path.append(p)
            if p not in m._modules:
                child = FakePersistent()
                child.class_name = class_of(path)
                m.add_module(p, child)
            m = m._modules[p]
        leaf = parts[-1]
        if leaf in buffers:
            m.register_buffer(leaf, tensors[name].clone())
        else:
            m.register_parameter(leaf, torch.nn.Parameter(tensors[name].clone()))
    root._init_args = ()
    root._init_kwargs = du.EasyDict(init_kwargs)
    root.eval()
    return root


def _class_of(path):
    last = path[-1]
    if last == "mapping":
        return "MappingNetwork"
    if last == "synthesis":
        return "SynthesisNetwork"
    if last.startswith("b") and last[1:].isdigit():
        return "SynthesisBlock"
    if last in ("conv0", "conv1"):
        return "SynthesisLayer"
    if last == "torgb":
        return "ToRGBLayer"
    return "FullyConnectedLayer"


def to_nvlabs_pickle(src, dst):
    t, meta = sg2_ref.st_read(src)
    kw = json.loads(meta["generator_kwargs"])
    _, du = _fake_modules()
    g_ema = _build_tree(t, _class_of, kw)
    g = _build_tree({k: v * 0.5 for k, v in t.items()}, _class_of, kw)
    d = FakePersistent()
    d.class_name = "Discriminator"
    d.register_parameter("b4_fc_weight", torch.nn.Parameter(torch.randn(4, 4)))
    data = {"G": g, "D": d, "G_ema": g_ema,
            "training_set_kwargs": du.EasyDict(path="ffhq.zip", resolution=kw["img_resolution"]),
            "augment_pipe": None}
    with open(dst, "wb") as f:
        pickle.dump(data, f)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(dst, marker, torch_save=None):
    """A checkpoint whose unpickling would run a shell command."""
    data = {"G_ema": _Evil(marker), "g_ema": {"style.1.weight": torch.zeros(2, 2)}}
    if torch_save == "zip":
        torch.save(data, dst)
    elif torch_save == "legacy":
        torch.save(data, dst, _use_new_zipfile_serialization=False)
    else:
        with open(dst, "wb") as f:
            pickle.dump(data, f)


def compare(a, b, skip):
    ta, ma = sg2_ref.st_read(a)
    tb, mb = sg2_ref.st_read(b)
    bad = 0
    ka = json.loads(ma["generator_kwargs"])
    kb = json.loads(mb["generator_kwargs"])
    ca, cb = sg2_ref.GenConfig(ka), sg2_ref.GenConfig(kb)
    for attr in ("z_dim", "w_dim", "res", "map_layers", "lr_mul", "conv_clamp", "img_channels"):
        if getattr(ca, attr) != getattr(cb, attr):
            print(f"config {attr}: {getattr(ca, attr)} vs {getattr(cb, attr)}")
            bad += 1
    if [ca.ch(r) for r in ca.block_res] != [cb.ch(r) for r in cb.block_res]:
        print("channel widths differ")
        bad += 1
    if set(ta) != set(tb):
        print("tensor names differ:", sorted(set(ta) ^ set(tb))[:10])
        bad += 1
    for k in sorted(set(ta) & set(tb)):
        if k in skip:
            continue
        if ta[k].shape != tb[k].shape or not torch.equal(ta[k], tb[k]):
            print(f"tensor {k} differs (max abs {(ta[k] - tb[k]).abs().max().item() if ta[k].shape == tb[k].shape else 'shape'})")
            bad += 1
    print(f"compare {os.path.basename(a)} {os.path.basename(b)}: {len(ta)} tensors, {bad} differences")
    return 1 if bad else 0


def make_all(src, d):
    """Every checkpoint test_convert.sh needs, written in one process."""
    to_rosinality(src, f"{d}/r_zip.pt")
    to_rosinality(src, f"{d}/r_legacy.pt", legacy=True)
    to_rosinality(src, f"{d}/noavg.pt", latent_avg=False)
    to_rosinality(src, f"{d}/extra.pt", extra="convs.99.conv.weight")
    to_rosinality(src, f"{d}/drop.pt", drop="convs.3.noise.weight")
    to_nvlabs_pickle(src, f"{d}/n.pkl")
    for kind in ("pickle", "zip", "legacy"):
        evil_pickle(f"{d}/evil_{kind}", f"{d}/pwned_{kind}", None if kind == "pickle" else kind)
    for name, n in (("r_zip.pt", 40000), ("n.pkl", 40000), ("r_legacy.pt", 60000)):
        with open(f"{d}/{name}", "rb") as f:
            head = f.read(n)
        with open(f"{d}/trunc_{name}", "wb") as f:
            f.write(head)
    with open(f"{d}/badhdr.safetensors", "wb") as f:
        f.write(b"\xff\xff\x00\x00\x00\x00\x00\x00{}")
    print(f"checkpoints written to {d}")


def check(orig, golden, d):
    """In-process checks of test_convert.sh (one torch import instead of dozens)."""
    import contextlib
    import io as _io
    import convert_weights
    fails = 0

    def report(good, what, detail=""):
        nonlocal fails
        print(("ok   " if good else "FAIL ") + what + (f": {detail}" if detail else ""))
        fails += 0 if good else 1

    def quiet(fn, *args):
        out, err = _io.StringIO(), _io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = fn(*args)
        return rc, out.getvalue() + err.getvalue()

    # converted by the CLI in test_convert.sh: identical tensors/config and outputs (tol 0)
    for name in ("r_zip", "r_legacy", "n"):
        rc, log = quiet(compare, orig, f"{d}/{name}.safetensors", set())
        report(rc == 0, f"{name}: identical tensors and config", log.strip().splitlines()[-1])
        rc, log = quiet(sg2_ref.main, ["verify", "--weights", f"{d}/{name}.safetensors", "--golden", golden,
                                       "--dtypes", "float32", "--tol", "0"])
        report(rc == 0, f"{name}: identical outputs (img, truncation, all gradients; tol 0)",
               log.strip().splitlines()[-1])
    # no latent_avg: w_avg is estimated, everything else identical
    rc, log = quiet(convert_weights.main, [f"{d}/noavg.pt", "--out", f"{d}/noavg.safetensors",
                                           "--w-avg-samples", "2000"])
    report(rc == 0, "rosinality without latent_avg converted", log.strip().splitlines()[-1][:100])
    if rc == 0:
        rc, log = quiet(compare, orig, f"{d}/noavg.safetensors", {"mapping.w_avg"})
        report(rc == 0, "no latent_avg: all tensors but w_avg identical", log.strip().splitlines()[-1])
    # rejections: exit 2, a message naming the problem, no output file
    cases = [
        ("extra.pt", "unknown tensors in g_ema"),
        ("drop.pt", "missing tensor g_ema.convs.3.noise.weight"),
        ("trunc_r_zip.pt", "not a valid zip"),
        ("trunc_r_legacy.pt", "truncated"),
        ("trunc_n.pkl", "trunc_n.pkl"),
        ("evil_pickle", "refusing to load global"),
        ("evil_zip", "refusing to load global"),
        ("evil_legacy", "refusing to load global"),
    ]
    for name, msg in cases:
        out = f"{d}/rejected.safetensors"
        rc, log = quiet(convert_weights.main, [f"{d}/{name}", "--out", out])
        good = rc == 2 and msg in log and not os.path.exists(out)
        report(good, f"{name} rejected", log.strip().splitlines()[-1][:120] if log.strip() else f"exit {rc}")
    for kind in ("pickle", "zip", "legacy"):
        report(not os.path.exists(f"{d}/pwned_{kind}"), f"evil {kind}: payload did not run")
    rc, log = quiet(sg2_ref.main, ["golden", "--weights", f"{d}/badhdr.safetensors", "--out", f"{d}/x.safetensors"])
    report(rc == 2 and "runs beyond the file" in log, "safetensors header beyond the file rejected",
           log.strip().splitlines()[-1][:120] if log.strip() else f"exit {rc}")
    print(f"check: {fails} failure(s)")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("to-rosinality")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--no-latent-avg", action="store_true")
    p.add_argument("--extra")
    p.add_argument("--drop")
    p.add_argument("--legacy", action="store_true", help="pre-1.6 torch.save format")
    p = sub.add_parser("to-nvlabs-pickle")
    p.add_argument("src")
    p.add_argument("dst")
    p = sub.add_parser("evil-pickle")
    p.add_argument("dst")
    p.add_argument("marker")
    p.add_argument("--torch-save", choices=["zip", "legacy"])
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--skip", action="append", default=[])
    p = sub.add_parser("make-all")
    p.add_argument("src")
    p.add_argument("dir")
    p = sub.add_parser("check")
    p.add_argument("orig")
    p.add_argument("golden")
    p.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "make-all":
        make_all(a.src, a.dir)
    elif a.cmd == "check":
        return check(a.orig, a.golden, a.dir)
    elif a.cmd == "to-rosinality":
        to_rosinality(a.src, a.dst, not a.no_latent_avg, a.extra, a.drop, a.legacy)
    elif a.cmd == "to-nvlabs-pickle":
        to_nvlabs_pickle(a.src, a.dst)
    elif a.cmd == "evil-pickle":
        evil_pickle(a.dst, a.marker, a.torch_save)
    else:
        return compare(a.a, a.b, set(a.skip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
