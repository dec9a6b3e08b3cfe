#!/usr/bin/env python3
"""sg2_ref.py - independent PyTorch reference of the StyleGAN2 generator.

Written from docs spec (specs/stylegan2.md) only: NVlabs stylegan2-ada-pytorch
"config-f" architecture (skip generator), any resolution 4..1024 and any
channel widths, loading latentmill's .safetensors layout (NVlabs state-dict
names, constructor kwargs as JSON in __metadata__.generator_kwargs).

Used only offline to produce golden numbers and timings; CI has no torch.

Subcommands (run `sg2_ref.py SUB --help`):
  golden       write golden tensors (forward, intermediates, gradients)
  verify       recompute a golden file (e.g. NVlabs') and print relative errors
  bench        time synthesis forward (or forward+backward w.r.t. ws)
  random-init  write a random-init generator in the latentmill layout

Needs torch and numpy (Debian: python3-torch python3-numpy). If the python3
found first on PATH has no torch, the script re-executes itself with
/usr/bin/python3 (set SG2REF_NO_REEXEC=1 to disable).
"""
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - environment dependent
    if (os.environ.get("SG2REF_NO_REEXEC") is None and os.path.exists("/usr/bin/python3")
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
        os.environ["SG2REF_NO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.stderr.write("SKIP: python3-torch missing (apt-get install python3-torch python3-numpy)\n")
    sys.exit(77)

import argparse
import json
import math
import struct
import time

import numpy as np

SQRT2 = math.sqrt(2.0)

# ----------------------------------------------------------------------------
# safetensors (own reader/writer: 8-byte LE header length, JSON, raw bytes)

_DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
       "I32": np.int32, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "BOOL": np.bool_}
_DT_REV = {np.dtype(v).str: k for k, v in _DT.items()}


class SafetensorsError(Exception):
    pass


def st_read(path):
    """Return (dict name -> torch tensor, metadata dict). Strict checks."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: file of {len(blob)} bytes is too short for a safetensors header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise SafetensorsError(f"{path}: header length {n} runs beyond the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}")
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, ent in header.items():
        dt = ent.get("dtype")
        if dt not in _DT:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {dt}")
        shape = [int(s) for s in ent["shape"]]
        b, e = ent["data_offsets"]
        npdt = np.dtype(_DT[dt]).newbyteorder("<")
        need = int(np.prod(shape, dtype=np.int64)) * npdt.itemsize
        if e - b != need or b < 0 or e > len(data):
            raise SafetensorsError(f"{path}: tensor {name}: data_offsets [{b},{e}] do not match "
                                   f"shape {shape} {dt} ({need} bytes) within {len(data)} data bytes")
        arr = np.frombuffer(data[b:e], dtype=npdt).reshape(shape).astype(_DT[dt])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def st_write(path, tensors, metadata=None):
    """Write tensors (name -> torch tensor / numpy array) packed without gaps,
    header right-padded with spaces so data starts 8-byte aligned."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous().numpy()
        a = np.array(t, copy=True, order="C")   # (ascontiguousarray would turn rank 0 into rank 1)
        key = a.dtype.newbyteorder("<").str if a.dtype.byteorder not in ("|",) else a.dtype.str
        if key not in _DT_REV:
            key = np.dtype(a.dtype).newbyteorder("<").str
        if key not in _DT_REV:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT_REV[key], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (len(hj) % 8)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# configuration

class GenConfig:
    """Generator constructor arguments with the spec's defaults (section 2)."""

    def __init__(self, kw):
        self.kwargs = kw
        mk = kw.get("mapping_kwargs", {}) or {}
        sk = kw.get("synthesis_kwargs", {}) or {}
        self.z_dim = int(kw.get("z_dim", 512))
        self.c_dim = int(kw.get("c_dim", 0) or 0)
        self.w_dim = int(kw.get("w_dim", 512))
        self.res = int(kw["img_resolution"])
        self.img_channels = int(kw.get("img_channels", 3))
        self.map_layers = int(mk.get("num_layers", 8))
        self.lr_mul = float(mk.get("lr_multiplier", 0.01))
        self.layer_features = mk.get("layer_features")
        self.layer_features = self.w_dim if self.layer_features is None else int(self.layer_features)
        act = mk.get("activation", "lrelu")
        self.channel_base = int(sk.get("channel_base", 32768))
        self.channel_max = int(sk.get("channel_max", 512))
        self.conv_clamp = sk.get("conv_clamp")
        self.conv_clamp = None if self.conv_clamp is None else float(self.conv_clamp)
        arch = sk.get("architecture", "skip")
        filt = sk.get("resample_filter", [1, 3, 3, 1])
        self.use_noise = bool(sk.get("use_noise", True))
        if self.c_dim != 0:
            raise ValueError(f"c_dim={self.c_dim}: conditional generators are not supported")
        if act != "lrelu":
            raise ValueError(f"mapping activation {act!r} not supported (lrelu only)")
        if sk.get("activation", "lrelu") != "lrelu":
            raise ValueError(f"synthesis activation {sk.get('activation')!r} not supported (lrelu only)")
        if arch != "skip":
            raise ValueError(f"synthesis architecture {arch!r} not supported (skip only)")
        if list(filt) != [1, 3, 3, 1]:
            raise ValueError(f"resample_filter {filt} not supported ([1,3,3,1] only)")
        lg = int(round(math.log2(self.res)))
        if self.res < 4 or 2 ** lg != self.res:
            raise ValueError(f"img_resolution {self.res} is not a power of two >= 4")
        self.lg = lg
        self.block_res = [2 ** k for k in range(2, lg + 1)]
        self.num_ws = 2 * lg - 2

    def ch(self, r):
        return min(self.channel_base // r, self.channel_max)

    def expected_shapes(self):
        """name -> shape of every tensor the checkpoint must hold."""
        exp = {}
        W = self.w_dim
        for r in self.block_res:
            C = self.ch(r)
            p = f"synthesis.b{r}."
            exp[p + "resample_filter"] = [4, 4]
            layers = []
            if r == 4:
                exp[p + "const"] = [C, 4, 4]
                layers.append(("conv1", C))
            else:
                layers.append(("conv0", self.ch(r // 2)))
                layers.append(("conv1", C))
            for ln, cin in layers:
                q = p + ln + "."
                exp[q + "weight"] = [C, cin, 3, 3]
                exp[q + "bias"] = [C]
                exp[q + "resample_filter"] = [4, 4]
                exp[q + "affine.weight"] = [cin, W]
                exp[q + "affine.bias"] = [cin]
                if self.use_noise:
                    exp[q + "noise_strength"] = []
                    exp[q + "noise_const"] = [r, r]
            q = p + "torgb."
            exp[q + "weight"] = [self.img_channels, C, 1, 1]
            exp[q + "bias"] = [self.img_channels]
            exp[q + "affine.weight"] = [C, W]
            exp[q + "affine.bias"] = [C]
        exp["mapping.w_avg"] = [W]
        for l in range(self.map_layers):
            fin = self.z_dim if l == 0 else self.layer_features
            fout = W if l == self.map_layers - 1 else self.layer_features
            exp[f"mapping.fc{l}.weight"] = [fout, fin]
            exp[f"mapping.fc{l}.bias"] = [fout]
        return exp

    def noise_layers(self):
        """Names (without .noise_const) of every layer that has a noise input, in order."""
        out = []
        for r in self.block_res:
            if r > 4:
                out.append(f"synthesis.b{r}.conv0")
            out.append(f"synthesis.b{r}.conv1")
        return out


def default_kwargs(res, channel_base, channel_max, z_dim, w_dim, map_layers, conv_clamp=None):
    return {"c_dim": 0, "img_channels": 3, "img_resolution": res,
            "mapping_kwargs": {"num_layers": map_layers},
            "synthesis_kwargs": {"channel_base": channel_base, "channel_max": channel_max,
                                 "conv_clamp": conv_clamp, "num_fp16_res": 0},
            "w_dim": w_dim, "z_dim": z_dim}


def validate(tensors, cfg, path="<weights>"):
    exp = cfg.expected_shapes()
    errs = []
    for name, shape in exp.items():
        if name not in tensors:
            errs.append(f"missing tensor {name} (expected shape {shape})")
        elif list(tensors[name].shape) != shape:
            errs.append(f"tensor {name}: shape {list(tensors[name].shape)}, expected {shape}")
    for name in tensors:
        if name not in exp:
            errs.append(f"unexpected tensor {name} {list(tensors[name].shape)}")
    if errs:
        raise ValueError(f"{path}: checkpoint does not match generator_kwargs "
                         f"(res {cfg.res}, channel_base {cfg.channel_base}, channel_max {cfg.channel_max}):\n  "
                         + "\n  ".join(errs[:20]) + ("" if len(errs) <= 20 else f"\n  ... {len(errs) - 20} more"))
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    f = torch.outer(f, f) / 64.0
    for name in exp:
        if name.endswith("resample_filter"):
            if (tensors[name].double() - f).abs().max() > 1e-6:
                raise ValueError(f"{path}: {name} is not the [1,3,3,1] filter / 64")


def load_generator(path, dtype=torch.float32):
    tensors, meta = st_read(path)
    if "generator_kwargs" not in meta:
        raise ValueError(f"{path}: __metadata__ has no generator_kwargs")
    cfg = GenConfig(json.loads(meta["generator_kwargs"]))
    validate(tensors, cfg, path)
    return Generator(cfg, tensors, dtype), meta


# ----------------------------------------------------------------------------
# the network

def lrelu_gain_clamp(v, clamp, acts=None, name=None):
    y = F.leaky_relu(v, 0.2) * SQRT2
    if clamp is not None:
        if acts is not None:
            acts["preclamp." + name] = y
        y = y.clamp(-clamp, clamp)
    return y


class Generator:
    def __init__(self, cfg, tensors, dtype=torch.float32):
        self.cfg = cfg
        self.dtype = dtype
        self.p = {k: v.to(dtype) for k, v in tensors.items()}
        # per-axis up-sampling taps [1,3,3,1]/4 as a 4x4 depthwise kernel (sum 4)
        h = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=dtype) / 4.0
        self.fir = torch.outer(h, h)

    # -- mapping ----------------------------------------------------------
    def mapping(self, z, psi=1.0, cutoff=None, acts=None):
        cfg, p = self.cfg, self.p
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for l in range(cfg.map_layers):
            Wt = p[f"mapping.fc{l}.weight"]
            g = cfg.lr_mul / math.sqrt(Wt.shape[1])
            x = F.linear(x, Wt * g) + p[f"mapping.fc{l}.bias"] * cfg.lr_mul
            x = F.leaky_relu(x, 0.2) * SQRT2
            if acts is not None:
                acts[f"act.mapping.fc{l}"] = x
        return x

    def broadcast(self, w):
        return w.unsqueeze(1).repeat(1, self.cfg.num_ws, 1)

    def truncate(self, ws, psi=1.0, cutoff=None):
        if psi == 1.0:
            return ws
        avg = self.p["mapping.w_avg"]
        n = ws.shape[1] if cutoff is None else int(cutoff)
        head = avg + psi * (ws[:, :n] - avg)
        return torch.cat([head, ws[:, n:]], dim=1)

    # -- layers -----------------------------------------------------------
    def _styles(self, pre, wrow):
        A = self.p[pre + "affine.weight"]
        return F.linear(wrow, A / math.sqrt(A.shape[1])) + self.p[pre + "affine.bias"]

    def _fir_pad1(self, t):
        """Depthwise 4x4 FIR (taps [1,3,3,1]/4 per axis), zero pad 1 each side."""
        C = t.shape[1]
        k = self.fir.expand(C, 1, 4, 4)
        return F.conv2d(F.pad(t, [1, 1, 1, 1]), k, groups=C)

    def _modconv(self, pre, x, wrow, up, noise_mode, noise, fused, gen, acts):
        p = self.p
        W = p[pre + "weight"]                      # [Co, Ci, 3, 3]
        s = self._styles(pre, wrow)                # [N, Ci]
        N, Ci = s.shape
        Co = W.shape[0]
        # demodulation d[n,o] = 1/sqrt(sum_{i,a,b} (W s_i)^2 + 1e-8)
        d = torch.rsqrt(F.linear(s.square(), W.square().sum(dim=[2, 3])) + 1e-8)   # [N, Co]
        if not fused:
            xs = x * s[:, :, None, None]
            if up:
                # transposed conv, stride 2, no padding, kernel NOT flipped -> (2h+1)^2
                t = F.conv_transpose2d(xs, W.transpose(0, 1), stride=2)
                c = self._fir_pad1(t)
            else:
                c = F.conv2d(xs, W, padding=1)
            u = c * d[:, :, None, None]
        else:
            Wn = W[None] * s[:, None, :, None, None] * d[:, :, None, None, None]  # [N,Co,Ci,3,3]
            h = x.shape[2]
            xg = x.reshape(1, N * Ci, h, h)
            if up:
                wg = Wn.transpose(1, 2).reshape(N * Ci, Co, 3, 3)
                t = F.conv_transpose2d(xg, wg, stride=2, groups=N)
                t = t.reshape(N, Co, t.shape[2], t.shape[3])
                u = self._fir_pad1(t)
            else:
                u = F.conv2d(xg, Wn.reshape(N * Co, Ci, 3, 3), padding=1, groups=N)
                u = u.reshape(N, Co, h, h)
        r = u.shape[2]
        if self.cfg.use_noise and noise_mode != "none":
            ns = p[pre + "noise_strength"]
            if noise_mode == "const":
                nm = noise[pre + "noise_const"] if (noise is not None and pre + "noise_const" in noise) \
                    else p[pre + "noise_const"]
                u = u + ns * nm
            elif noise_mode == "random":
                u = u + ns * torch.randn(N, 1, r, r, generator=gen, dtype=u.dtype)
            else:
                raise ValueError(f"noise_mode {noise_mode!r}")
        v = u + p[pre + "bias"][None, :, None, None]
        y = lrelu_gain_clamp(v, self.cfg.conv_clamp, acts, pre[:-1])
        if acts is not None:
            acts["act." + pre + "styles"] = s
            acts["act." + pre[:-1]] = y
        return y

    def _torgb(self, pre, x, wrow, acts):
        p = self.p
        W = p[pre + "weight"]                      # [3, Ci, 1, 1]
        Ci = W.shape[1]
        a = self._styles(pre, wrow)                # affine output
        s = a / math.sqrt(Ci)                      # ToRGB's weight gain goes on the styles
        y = F.conv2d(x * s[:, :, None, None], W) + p[pre + "bias"][None, :, None, None]
        if self.cfg.conv_clamp is not None:
            if acts is not None:
                acts["preclamp." + pre[:-1]] = y
            y = y.clamp(-self.cfg.conv_clamp, self.cfg.conv_clamp)
        if acts is not None:
            acts["act." + pre + "styles"] = a
            acts["act." + pre[:-1]] = y
        return y

    def upsample_img(self, img):
        """2x up-sampling of the skip image: zero-stuff, pad 2 before/1 after, FIR."""
        N, C, n, _ = img.shape
        z = torch.zeros(N, C, 2 * n, 2 * n, dtype=img.dtype)
        z[:, :, ::2, ::2] = img
        k = self.fir.expand(C, 1, 4, 4)
        return F.conv2d(F.pad(z, [2, 1, 2, 1]), k, groups=C)

    # -- synthesis --------------------------------------------------------
    def synthesis(self, ws, noise_mode="const", noise=None, fused=False, gen=None, acts=None):
        cfg, p = self.cfg, self.p
        N = ws.shape[0]
        if ws.shape[1] != cfg.num_ws or ws.shape[2] != cfg.w_dim:
            raise ValueError(f"ws shape {list(ws.shape)}, expected [N, {cfg.num_ws}, {cfg.w_dim}]")
        img = None
        x = None
        for r in cfg.block_res:
            k = int(round(math.log2(r)))
            pre = f"synthesis.b{r}."
            if r == 4:
                x = p[pre + "const"].unsqueeze(0).repeat(N, 1, 1, 1)
                x = self._modconv(pre + "conv1.", x, ws[:, 0], False, noise_mode, noise, fused, gen, acts)
                img = self._torgb(pre + "torgb.", x, ws[:, 1], acts)
            else:
                x = self._modconv(pre + "conv0.", x, ws[:, 2 * k - 5], True, noise_mode, noise, fused, gen, acts)
                x = self._modconv(pre + "conv1.", x, ws[:, 2 * k - 4], False, noise_mode, noise, fused, gen, acts)
                img = self.upsample_img(img) + self._torgb(pre + "torgb.", x, ws[:, 2 * k - 3], acts)
            if acts is not None:
                acts[f"act.synthesis.b{r}.x"] = x
                acts[f"act.synthesis.b{r}.img"] = img
        return img


# ----------------------------------------------------------------------------
# random init (spec section 7, optional perturbation so every path carries signal)

def random_init(cfg, seed, perturb=True, w_avg_samples=256):
    g = torch.Generator().manual_seed(seed)
    t = {}
    for name, shape in cfg.expected_shapes().items():
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith("resample_filter"):
            f = torch.tensor([1.0, 3.0, 3.0, 1.0])
            t[name] = torch.outer(f, f) / 64.0
        elif name.startswith("mapping.fc") and leaf == "weight":
            t[name] = torch.randn(shape, generator=g) / cfg.lr_mul
        elif name.startswith("mapping.fc") and leaf == "bias":
            t[name] = (torch.randn(shape, generator=g) / cfg.lr_mul * 0.1) if perturb else torch.zeros(shape)
        elif name == "mapping.w_avg":
            t[name] = torch.zeros(shape)
        elif name.endswith("affine.bias"):
            t[name] = 1.0 + (0.1 * torch.randn(shape, generator=g) if perturb else 0.0)
        elif leaf == "noise_strength":
            t[name] = 0.3 * torch.randn(shape, generator=g) if perturb else torch.zeros(shape)
        elif leaf == "bias":
            t[name] = 0.1 * torch.randn(shape, generator=g) if perturb else torch.zeros(shape)
        else:  # weights, affine weights, const, noise_const
            t[name] = torch.randn(shape, generator=g)
        t[name] = t[name].float().reshape(shape)
    G = Generator(cfg, t, torch.float32)
    with torch.no_grad():
        z = torch.randn(w_avg_samples, cfg.z_dim, generator=g)
        t["mapping.w_avg"] = G.mapping(z).mean(dim=0).float()
    return t


# ----------------------------------------------------------------------------
# golden computation

def compute_golden(G, z, R, noise_mode="const"):
    """Everything the golden files hold, for given z and R (dtype of G)."""
    cfg = G.cfg
    out = {"z": z, "R": R}
    acts = {}
    with torch.no_grad():
        w = G.mapping(z, acts=acts)
        ws = G.broadcast(w)
        out["w"], out["ws"] = w, ws
        out["ws_psi0p7"] = G.truncate(ws, 0.7)
        out["ws_psi0p7_cut4"] = G.truncate(ws, 0.7, 4)
        out["img_nonoise"] = G.synthesis(ws, noise_mode="none")
        out["img_psi0p7"] = G.synthesis(out["ws_psi0p7"], noise_mode=noise_mode)
    # gradients of loss = sum(img * R) w.r.t. z (through mapping), ws, noise maps
    zz = z.clone().requires_grad_(True)
    w_g = G.mapping(zz)
    ws_g = G.broadcast(w_g)
    ws_g.retain_grad()
    noise = {}
    if cfg.use_noise:
        for ln in cfg.noise_layers():
            noise[ln + ".noise_const"] = G.p[ln + ".noise_const"].clone().requires_grad_(True)
    img = G.synthesis(ws_g, noise_mode=noise_mode, noise=noise, acts=acts)
    loss = (img * R).sum()
    loss.backward()
    out["img"] = img.detach()
    out["loss"] = loss.detach()
    out["grad_ws"] = ws_g.grad.detach()
    out["grad_w"] = ws_g.grad.detach().sum(dim=1)
    out["grad_z"] = zz.grad.detach()
    for k, v in noise.items():
        out["grad." + k] = v.grad.detach()
    info = {}
    for k, v in acts.items():
        if k.startswith("preclamp."):
            m = ((v.detach().abs() - cfg.conv_clamp).abs().min().item(), k[len("preclamp."):])
            info["clamp_margin"] = min(info.get("clamp_margin", m), m)
            c = int((v.detach().abs() > cfg.conv_clamp).sum().item())
            info["clamped_values"] = info.get("clamped_values", 0) + c
        else:
            out[k] = v.detach()
    return out, info


def relerr(a, b):
    a = a.double()
    b = b.double()
    den = b.abs().max().item()
    num = (a - b).abs().max().item() if a.numel() else 0.0
    return num / den if den > 0 else num


# ----------------------------------------------------------------------------
# CLI

def _sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cmdline():
    """The command line, without machine-specific absolute paths."""
    cwd = os.getcwd()
    args = []
    for x in sys.argv[1:]:
        if x.startswith("/"):
            rel = os.path.relpath(x, cwd)
            x = rel if not rel.startswith("..") else ".../" + "/".join(x.split("/")[-2:])
        args.append(x)
    return "tools/sg2_ref.py " + " ".join(args)


def cmd_golden(a):
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    G, wmeta = load_generator(a.weights, dtype)
    cfg = G.cfg
    g = torch.Generator().manual_seed(a.seed)
    z = torch.randn(a.batch, cfg.z_dim, generator=g, dtype=torch.float64).to(dtype)
    R = torch.randn(a.batch, cfg.img_channels, cfg.res, cfg.res, generator=g, dtype=torch.float64).to(dtype)
    # z and R are stored as float32: round them first so float32 consumers see the same inputs
    z = z.float().to(dtype)
    R = R.float().to(dtype)
    out, info = compute_golden(G, z, R)
    if a.no_acts:
        out = {k: v for k, v in out.items() if not k.startswith("act.")}
    out = {k: v.float() for k, v in out.items()}
    meta = {
        "format": "latentmill-sg2ref-golden-v1",
        "generator_kwargs": json.dumps(cfg.kwargs, sort_keys=True),
        "num_ws": str(cfg.num_ws),
        "seed": str(a.seed), "batch": str(a.batch),
        "rng": "torch.Generator().manual_seed(seed): z = randn(B, z_dim) then R = randn(B, C, res, res), float64 draws rounded to float32",
        "compute_dtype": a.dtype,
        "torch_version": torch.__version__,
        "command": _cmdline(),
        "weights_file": os.path.basename(a.weights),
        "weights_sha256": _sha256(a.weights),
        "loss_definition": "loss = sum(img * R); img = synthesis(ws, noise_mode=const); weights frozen",
        "synthesis": "non-fused modulation; noise_mode const for img/acts/grads; img_nonoise with noise_mode none",
        "acts": "act.<layer> = layer output after bias/lrelu/clamp; act.<layer>.styles = affine output "
                "(torgb: before its 1/sqrt(Cin) gain); act.synthesis.b<r>.x / .img = block outputs",
        "grad_w": "gradient w.r.t. one w broadcast to all ws rows = sum over rows of grad_ws",
    }
    if "clamp_margin" in info:
        meta["clamp"] = (f"conv_clamp {cfg.conv_clamp}: {info['clamped_values']} values clamped in the forward "
                         f"of img; smallest | |pre-clamp value| - clamp | = {info['clamp_margin'][0]:.3e} "
                         f"(layer {info['clamp_margin'][1]})")
        print(meta["clamp"])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    st_write(a.out, out, meta)
    print(f"wrote {a.out}: {len(out)} tensors, loss {out['loss'].item():.6g}, "
          f"img absmax {out['img'].abs().max().item():.4g}, grad_ws absmax {out['grad_ws'].abs().max().item():.4g}")
    return 0


def cmd_verify(a):
    """Recompute a golden file from its own z and R and report relative errors."""
    gold, gmeta = st_read(a.golden)
    worst = {}
    for dtname in a.dtypes.split(","):
        dtype = torch.float64 if dtname == "float64" else torch.float32
        G, _ = load_generator(a.weights, dtype)
        ours, _ = compute_golden(G, gold["z"].to(dtype), gold["R"].to(dtype))
        if a.fused:
            with torch.no_grad():
                ours["img_fused"] = G.synthesis(ours["ws"], noise_mode="const", fused=True)
            gold = dict(gold)
            gold["img_fused"] = gold["img"]
        names = sorted(set(gold) & set(ours))
        missing = sorted(set(gold) - set(ours))
        rows = []
        for k in names:
            if list(gold[k].shape) != list(ours[k].shape):
                rows.append((k, float("inf"), f"shape {list(ours[k].shape)} vs {list(gold[k].shape)}"))
                continue
            rows.append((k, relerr(ours[k], gold[k]), ""))
        print(f"== {os.path.basename(a.golden)} vs sg2_ref ({dtname}): {len(names)} tensors compared")
        if missing:
            print(f"   not produced by sg2_ref: {missing}")
        groups = {}
        for k, e, note in rows:
            grp = k if not k.startswith(("act.", "grad.")) else k.split(".")[0] + ".*"
            groups.setdefault(grp, []).append((e, k, note))
            if a.verbose or note:
                print(f"   {k:45s} {e:.3e} {note}")
        for grp in sorted(groups):
            e, k, _ = max(groups[grp])
            print(f"   {grp:20s} max rel err {e:.3e}  ({k})")
        worst[dtname] = max(e for _, e, _ in rows)
        print(f"   overall max rel err {worst[dtname]:.3e}")
    bad = {k: v for k, v in worst.items() if not v <= a.tol}
    if bad:
        print(f"FAIL: max rel err above {a.tol}: {bad}")
        return 1
    print(f"OK: every tensor within {a.tol} (relative to the tensor's max magnitude)")
    return 0


def cmd_random_init(a):
    clamp = a.conv_clamp
    if clamp is not None and float(clamp).is_integer():
        clamp = int(clamp)
    kw = default_kwargs(a.res, a.channel_base, a.channel_max, a.z_dim, a.w_dim, a.mapping_layers, clamp)
    cfg = GenConfig(kw)
    t = random_init(cfg, a.seed, perturb=not a.no_perturb)
    meta = {
        "format": "latentmill-sg2ref-weights-v1",
        "generator_kwargs": json.dumps(kw, sort_keys=True),
        "num_ws": str(cfg.num_ws),
        "seed": str(a.seed),
        "init": ("spec section 7 init; " + ("perturbed: affine.bias=1+0.1N, mapping bias=0.1N/lr_mul, "
                 "other bias=0.1N, noise_strength=0.3N; " if not a.no_perturb else "unperturbed; ")
                 + "w_avg = mean mapping output of 256 z (same generator)"),
        "torch_version": torch.__version__,
        "command": _cmdline(),
    }
    st_write(a.out, t, meta)
    nparam = sum(v.numel() for v in t.values())
    print(f"wrote {a.out}: {len(t)} tensors, {nparam} values, res {cfg.res}, num_ws {cfg.num_ws}, "
          f"channels {[cfg.ch(r) for r in cfg.block_res]}")
    return 0


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    G, _ = load_generator(a.weights, torch.float32)
    cfg = G.cfg
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        ws = G.broadcast(G.mapping(torch.randn(a.batch, cfg.z_dim, generator=g)))
    R = torch.randn(a.batch, cfg.img_channels, cfg.res, cfg.res, generator=g)

    def once():
        if a.backward:
            wsg = ws.clone().requires_grad_(True)
            img = G.synthesis(wsg, noise_mode="const", fused=a.fused)
            (img * R).sum().backward()
        else:
            with torch.no_grad():
                G.synthesis(ws, noise_mode="const", fused=a.fused)

    for _ in range(a.warmup):
        once()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1000.0 / a.batch)
    times.sort()
    med = times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
    print(json.dumps({"ms_per_image": round(med, 3), "best_ms_per_image": round(times[0], 3),
                      "batch": a.batch, "threads": a.threads, "backward": bool(a.backward),
                      "res": cfg.res, "fused": bool(a.fused), "iters": a.iters,
                      "impl": "sg2_ref.py torch " + torch.__version__}))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sg2_ref.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("golden", help="write golden tensors of this implementation")
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="compute dtype (results stored as float32; default float64)")
    p.add_argument("--no-acts", action="store_true", help="omit act.* intermediates")
    p.set_defaults(fn=cmd_golden)

    p = sub.add_parser("verify", help="recompute a golden file from its z, R and compare")
    p.add_argument("--weights", required=True)
    p.add_argument("--golden", required=True)
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--fused", action="store_true", help="also compare the fused formulation's img")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(fn=cmd_verify)

    p = sub.add_parser("bench", help="time synthesis (ws -> img), one JSON line")
    p.add_argument("--weights", required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backward", action="store_true", help="forward + backward of sum(img*R) w.r.t. ws")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--fused", action="store_true", help="fused (grouped-conv) modulation instead of non-fused")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("random-init", help="write a random-init generator (latentmill layout)")
    p.add_argument("--res", type=int, required=True)
    p.add_argument("--channel-base", type=int, default=32768)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--z-dim", type=int, default=512)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--mapping-layers", type=int, default=8)
    p.add_argument("--conv-clamp", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-perturb", action="store_true",
                   help="plain init (zero biases/noise strengths) instead of random non-zero values")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_random_init)

    a = ap.parse_args(argv)
    try:
        return a.fn(a)
    except (SafetensorsError, ValueError, OSError) as e:
        sys.stderr.write(f"sg2_ref.py {a.cmd}: error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
