#!/usr/bin/env python3
"""convert_weights.py - StyleGAN2 checkpoints -> latentmill .safetensors.

Inputs:
  * an official NVlabs stylegan2-ada-pytorch network pickle (e.g. ffhq.pkl):
    a plain pickle of {'G', 'D', 'G_ema', 'training_set_kwargs', 'augment_pipe'}
    whose networks are "persistent" objects. It is read WITHOUT NVlabs' code:
    a restricted unpickler rebuilds only tensors and containers; the persistent
    network objects become inert stubs that keep their pickled state (the
    embedded module source is never executed). G_ema's parameters and buffers
    are collected under their state_dict names, G_ema's init kwargs become
    __metadata__.generator_kwargs.
  * a rosinality/stylegan2-pytorch checkpoint (.pt written by torch.save:
    {'g_ema': state_dict, 'latent_avg': ..., 'args': Namespace, ...} or a bare
    generator state_dict), read with the same restricted unpickler (own reader
    of the torch.save zip and legacy formats: torch.load is never called, as
    some torch builds ignore its pickle_module argument) and renamed to the
    NVlabs names.

Output: latentmill's layout (NVlabs state-dict names, float32, constructor
kwargs as JSON in __metadata__.generator_kwargs), validated against the
configuration with tools/sg2_ref.py's checker.

  convert_weights.py IN --out OUT.safetensors [--format auto|nvlabs|rosinality]

Needs torch (Debian: python3-torch). Re-executes itself with /usr/bin/python3
when the first python3 on PATH has no torch.
"""
import os
import sys

try:
    import torch
except ImportError:  # pragma: no cover
    if (os.environ.get("SG2REF_NO_REEXEC") is None and os.path.exists("/usr/bin/python3")
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
        os.environ["SG2REF_NO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.stderr.write("SKIP: python3-torch missing (apt-get install python3-torch)\n")
    sys.exit(77)

import argparse
import collections
import copyreg
import io
import json
import math
import pickle
import re
import struct
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sg2_ref  # noqa: E402  (safetensors I/O, config checks, mapping for w_avg)


class ConvertError(Exception):
    pass


# ----------------------------------------------------------------------------
# restricted unpickling

class Inert:
    """Stand-in for a class of the checkpoint's code (network classes,
    argparse.Namespace, numpy scalars, ...). Never runs foreign code: it only
    records constructor arguments and the pickled state."""
    _qualname = "?"

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<inert {self._qualname}>"


class InertDict(dict):
    """Stand-in for dict subclasses such as dnnlib.util.EasyDict."""
    _qualname = "?"

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class PersistentObj:
    """What torch_utils.persistence._reconstruct_persistent_obj(meta) yields
    here: the class name and the pickled __dict__ of the network object."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError("persistent object: meta is not a dict")
        self.class_name = meta.get("class_name")
        self.version = meta.get("version")
        self.state = meta.get("state")
        self.module_src_chars = len(meta.get("module_src") or "")

    def __repr__(self):
        return f"<persistent {self.class_name}>"


_inert_cache = {}


def _inert_class(module, name, base):
    key = (module, name, base)
    if key not in _inert_cache:
        _inert_cache[key] = type(name, (base,), {"_qualname": f"{module}.{name}"})
    return _inert_cache[key]


def _safe_reconstructor(cls, base, state):
    # copyreg._reconstructor for protocol < 2 objects: only for our own stand-ins
    if isinstance(cls, type) and issubclass(cls, (Inert, InertDict)):
        obj = cls.__new__(cls)
        if issubclass(cls, Inert):
            Inert.__init__(obj)
        return obj
    if cls in (collections.OrderedDict, dict) and base in (dict, object):
        return cls() if state is None else cls(state)
    raise pickle.UnpicklingError(f"copyreg._reconstructor refused for {cls!r}")


def _safe_load_from_bytes(b):
    # torch.storage._load_from_bytes: a torch.save stream (legacy format) of one storage
    if b[:2] == b"PK":
        return _load_torch_zip(io.BytesIO(b), "<pickled storage>")
    return _load_torch_legacy(io.BytesIO(b), "<pickled storage>")


_TORCH_FUNCS = {
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_qtensor"),
}
_REAL = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch", "Tensor"): torch.Tensor,
    ("torch", "Size"): torch.Size,
}
# module prefixes whose classes are replaced by inert stand-ins
_INERT_PREFIXES = ("dnnlib", "torch_utils", "training", "torch.nn.modules", "argparse", "numpy")
_DICT_CLASSES = {("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict")}


def _safe_rebuild_from_type_v2(func, new_type, args, state):
    if func not in _allowed_funcs() or new_type not in (torch.Tensor, torch.nn.Parameter):
        raise pickle.UnpicklingError(f"_rebuild_from_type_v2 refused for {func!r} / {new_type!r}")
    ret = func(*args)
    if type(ret) is not new_type:
        ret = ret.as_subclass(new_type)
    return ret


def _allowed_funcs():
    import torch._utils as tu
    out = set()
    for mod, name in _TORCH_FUNCS:
        f = getattr(tu, name, None)
        if f is not None:
            out.add(f)
    return out


class RestrictedUnpickler(pickle.Unpickler):
    """Allows: torch tensor/parameter/storage rebuild functions, OrderedDict and
    plain containers, torch dtypes, the NVlabs persistence hook (-> PersistentObj),
    and inert stand-ins for classes of known training code. Anything else is
    refused with the offending global named."""

    def find_class(self, module, name):
        if (module, name) in _TORCH_FUNCS:
            import torch._utils as tu
            f = getattr(tu, name, None)
            if f is not None:
                return f
        if (module, name) == ("torch._tensor", "_rebuild_from_type_v2"):
            return _safe_rebuild_from_type_v2
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _safe_load_from_bytes
        if module == "torch" and name.endswith("Storage") and isinstance(getattr(torch, name, None), type):
            return getattr(torch, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) in _REAL:
            return _REAL[(module, name)]
        if (module, name) == ("copyreg", "_reconstructor"):
            return _safe_reconstructor
        if module == "torch_utils.persistence" and name == "_reconstruct_persistent_obj":
            return PersistentObj
        if (module, name) in _DICT_CLASSES:
            return _inert_class(module, name, InertDict)
        if module.startswith(_INERT_PREFIXES) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            if name[:1].isupper() or module.startswith("numpy"):
                return _inert_class(module, name, Inert)
        raise pickle.UnpicklingError(
            f"refusing to load global '{module}.{name}' from the checkpoint: only tensors, "
            f"containers and known network classes are allowed")


# ---- torch.save containers, read without torch.load (whose pickle_module
# argument is ignored by some torch builds, e.g. Debian's 1.13)

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


def _storage_dtype(stype, where):
    dt = getattr(stype, "dtype", None)
    if isinstance(stype, type) and stype.__name__ == "UntypedStorage":
        dt = torch.uint8
    if not isinstance(dt, torch.dtype):
        raise ConvertError(f"{where}: unsupported storage type {stype!r}")
    return dt


def _load_torch_zip(f, where):
    """torch.save zip format: <prefix>/data.pkl plus one record per storage."""
    zf = zipfile.ZipFile(f)
    pk = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pk) != 1:
        raise ConvertError(f"{where}: zip archive has no single <name>/data.pkl record (found {pk})")
    prefix = pk[0][:-len("data.pkl")]
    if prefix + "byteorder" in zf.namelist() and zf.read(prefix + "byteorder").strip() != b"little":
        raise ConvertError(f"{where}: big-endian checkpoints are not supported")
    storages = {}

    class ZipUnpickler(RestrictedUnpickler):
        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
                raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
            _, stype, key, _location, _numel = pid[:5]
            dtype = _storage_dtype(stype, where)
            if key not in storages:
                name = f"{prefix}data/{key}"
                try:
                    raw = zf.read(name)
                except KeyError:
                    raise ConvertError(f"{where}: storage record {name} is missing")
                esz = torch.empty(0, dtype=dtype).element_size()
                if len(raw) % esz:
                    raise ConvertError(f"{where}: storage record {name} has {len(raw)} bytes, "
                                       f"not a multiple of {esz} ({dtype})")
                t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
                storages[key] = t.storage()
            return storages[key]

    return ZipUnpickler(io.BytesIO(zf.read(pk[0]))).load()


def _load_torch_legacy(f, where):
    """torch.save legacy format (before torch 1.6, and inside pickled storages):
    magic, protocol, sys_info, the object pickle, the storage keys, then per
    storage an int64 element count and the raw little-endian data."""
    magic = RestrictedUnpickler(f).load()
    if magic != _LEGACY_MAGIC:
        raise ConvertError(f"{where}: not a torch.save stream (bad magic number)")
    RestrictedUnpickler(f).load()  # protocol version
    sys_info = RestrictedUnpickler(f).load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise ConvertError(f"{where}: big-endian checkpoints are not supported")
    bufs = {}

    class LegacyUnpickler(RestrictedUnpickler):
        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
                raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]} "
                                             f"(pickled module sources are refused)")
            _, stype, key, _location, numel, view = pid
            if view is not None:
                raise ConvertError(f"{where}: storage views (very old torch.save files) are not supported")
            dtype = _storage_dtype(stype, where)
            if key not in bufs:
                bufs[key] = torch.empty(int(numel), dtype=dtype)
            return bufs[key].storage()

    obj = LegacyUnpickler(f).load()
    keys = RestrictedUnpickler(f).load()
    for key in keys:
        if key not in bufs:
            raise ConvertError(f"{where}: storage {key} listed but never referenced")
        buf = bufs[key]
        hdr = f.read(8)
        if len(hdr) != 8:
            raise ConvertError(f"{where}: storage {key}: file truncated")
        (n,) = struct.unpack("<q", hdr)
        nbytes = n * buf.element_size()
        raw = f.read(nbytes)
        if n != buf.numel() or len(raw) != nbytes:
            raise ConvertError(f"{where}: storage {key}: {len(raw)} of {nbytes} bytes "
                               f"({n} elements, expected {buf.numel()}); file truncated or corrupt")
        if n:
            buf.copy_(torch.frombuffer(bytearray(raw), dtype=buf.dtype))
    return obj


def load_any(path):
    """Read a torch.save file (zip or legacy format) or a plain pickle (NVlabs)
    through the restricted unpickler. torch.load is never called."""
    with open(path, "rb") as f:
        head = f.read(4)
    try:
        if head[:2] == b"PK":
            if not zipfile.is_zipfile(path):
                raise ConvertError(f"{path}: starts like a torch.save zip archive but is not a valid zip "
                                   f"(truncated?)")
            with open(path, "rb") as f:
                return _load_torch_zip(f, path)
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f).load()
        if isinstance(obj, int) and obj == _LEGACY_MAGIC:
            with open(path, "rb") as f:
                return _load_torch_legacy(f, path)
        return obj
    except (ConvertError, pickle.UnpicklingError) as e:
        msg = str(e)
        raise ConvertError(msg if msg.startswith(path) else f"{path}: {msg}")
    except Exception as e:  # truncated / corrupt / not a checkpoint
        raise ConvertError(f"{path}: cannot read checkpoint: {type(e).__name__}: {e}")


# ----------------------------------------------------------------------------
# NVlabs pickle

def _module_tensors(obj, prefix, out, where):
    st = obj.state if isinstance(obj, (PersistentObj, Inert)) else None
    if not isinstance(st, dict):
        raise ConvertError(f"{where}: module {prefix or '<root>'} has no pickled state")
    nonpers = st.get("_non_persistent_buffers_set") or set()
    for n, p in (st.get("_parameters") or {}).items():
        if p is not None:
            out[prefix + n] = p
    for n, b in (st.get("_buffers") or {}).items():
        if b is not None and n not in nonpers:
            out[prefix + n] = b
    for n, m in (st.get("_modules") or {}).items():
        if m is not None:
            _module_tensors(m, prefix + n + ".", out, where)


def _jsonable(x, where):
    if isinstance(x, dict):
        return {str(k): _jsonable(v, where) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, where) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise ConvertError(f"{where}: init kwarg value {x!r} ({type(x).__name__}) is not representable as JSON")


def convert_nvlabs(data, path, which="G_ema"):
    if not isinstance(data, dict):
        raise ConvertError(f"{path}: expected a dict with G/D/G_ema, got {type(data).__name__}")
    if which not in data:
        raise ConvertError(f"{path}: no '{which}' entry (keys: {sorted(map(str, data))})")
    g = data[which]
    if not isinstance(g, PersistentObj):
        raise ConvertError(f"{path}: '{which}' is {g!r}, not a persistent network object")
    if g.class_name != "Generator":
        raise ConvertError(f"{path}: '{which}' is a {g.class_name}, expected Generator")
    tensors = {}
    _module_tensors(g, "", tensors, path)
    kw = g.state.get("_init_kwargs")
    if kw is None:
        raise ConvertError(f"{path}: {which} has no recorded init kwargs (_init_kwargs)")
    kw = _jsonable(dict(kw), path)
    if g.state.get("_init_args"):
        raise ConvertError(f"{path}: {which} was built with positional args {g.state['_init_args']!r}; "
                           f"only keyword arguments are supported")
    out = {}
    for k, v in tensors.items():
        if not isinstance(v, torch.Tensor):
            raise ConvertError(f"{path}: {k} is {type(v).__name__}, not a tensor")
        out[k] = v.detach().to(torch.float32).contiguous()
    meta = {"source_format": "nvlabs-pickle", "source_entry": which,
            "source_class_version": str(g.version)}
    return out, kw, meta


# ----------------------------------------------------------------------------
# rosinality checkpoint

def _expected_kernel():
    a = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(a, a) / 64.0


def convert_rosinality(data, path, key=None, lr_mlp=0.01, w_avg_samples=10000, w_avg_seed=0):
    sd = None
    used_key = None
    if isinstance(data, dict) and any(isinstance(k, str) and k.startswith("style.") for k in data):
        sd, used_key = data, "<state_dict>"
    elif isinstance(data, dict):
        for k in ([key] if key else ["g_ema", "g"]):
            if k in data:
                sd, used_key = data[k], k
                break
    if sd is None:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ConvertError(f"{path}: no generator state_dict found (looked for {key or 'g_ema, g'}; have {keys})")
    sd = {k: v for k, v in sd.items()}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise ConvertError(f"{path}: {used_key}.{k} is {type(v).__name__}, not a tensor")
    consumed = set()

    def take(name, shape=None):
        if name not in sd:
            raise ConvertError(f"{path}: missing tensor {used_key}.{name}")
        t = sd[name]
        if shape is not None and list(t.shape) != list(shape):
            raise ConvertError(f"{path}: {used_key}.{name} has shape {list(t.shape)}, expected {list(shape)}")
        consumed.add(name)
        return t.detach().to(torch.float32)

    # mapping
    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in sd:
        n_mlp += 1
    if n_mlp == 0:
        raise ConvertError(f"{path}: missing tensor {used_key}.style.1.weight (mapping network)")
    style_dim = sd["style.1.weight"].shape[1]
    out = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight", [style_dim, style_dim])
        out[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias", [style_dim])
    # synthesis
    const = take("input.input")
    if const.dim() != 4 or const.shape[0] != 1 or const.shape[2:] != (4, 4):
        raise ConvertError(f"{path}: {used_key}.input.input has shape {list(const.shape)}, expected [1, C, 4, 4]")
    n_up = 0
    while f"to_rgbs.{n_up}.conv.weight" in sd:
        n_up += 1
    res = 4 * 2 ** n_up
    ch = {4: const.shape[1]}
    out["synthesis.b4.const"] = const[0]
    kern = _expected_kernel()

    def styled(src, dst, r, cin, noise_idx, up):
        w = take(src + ".conv.weight")
        if w.dim() != 5 or w.shape[0] != 1 or w.shape[2] != cin or w.shape[3:] != (3, 3):
            raise ConvertError(f"{path}: {used_key}.{src}.conv.weight has shape {list(w.shape)}, "
                               f"expected [1, C, {cin}, 3, 3]")
        cout = w.shape[1]
        out[dst + "weight"] = w[0]
        out[dst + "affine.weight"] = take(src + ".conv.modulation.weight", [cin, style_dim])
        out[dst + "affine.bias"] = take(src + ".conv.modulation.bias", [cin])
        out[dst + "noise_strength"] = take(src + ".noise.weight", [1]).reshape([])
        out[dst + "bias"] = take(src + ".activate.bias", [cout])
        out[dst + "noise_const"] = take(f"noises.noise_{noise_idx}", [1, 1, r, r])[0, 0]
        out[dst + "resample_filter"] = kern.clone()
        if up:
            k = take(src + ".conv.blur.kernel", [4, 4])
            if (k - 4 * kern).abs().max() > 1e-6:
                raise ConvertError(f"{path}: {used_key}.{src}.conv.blur.kernel is not the [1,3,3,1] "
                                   f"up-sampling filter; only that filter is supported")
        return cout

    def torgb(src, dst, cin):
        out[dst + "weight"] = take(src + ".conv.weight", [1, 3, cin, 1, 1])[0]
        out[dst + "affine.weight"] = take(src + ".conv.modulation.weight", [cin, style_dim])
        out[dst + "affine.bias"] = take(src + ".conv.modulation.bias", [cin])
        out[dst + "bias"] = take(src + ".bias", [1, 3, 1, 1]).reshape(3)

    c4 = styled("conv1", "synthesis.b4.conv1.", 4, ch[4], 0, False)
    if c4 != ch[4]:
        raise ConvertError(f"{path}: {used_key}.conv1 maps {ch[4]} -> {c4} channels; the 4x4 block must keep its width")
    out["synthesis.b4.resample_filter"] = kern.clone()
    torgb("to_rgb1", "synthesis.b4.torgb.", ch[4])
    cin = ch[4]
    for j in range(n_up):
        r = 8 * 2 ** j
        pre = f"synthesis.b{r}."
        c = styled(f"convs.{2 * j}", pre + "conv0.", r, cin, 2 * j + 1, True)
        styled(f"convs.{2 * j + 1}", pre + "conv1.", r, c, 2 * j + 2, False)
        torgb(f"to_rgbs.{j}", pre + "torgb.", c)
        k = take(f"to_rgbs.{j}.upsample.kernel", [4, 4])
        if (k - 4 * kern).abs().max() > 1e-6:
            raise ConvertError(f"{path}: {used_key}.to_rgbs.{j}.upsample.kernel is not the [1,3,3,1] filter")
        out[pre + "resample_filter"] = kern.clone()
        ch[r] = c
        cin = c
    extra = sorted(set(sd) - consumed)
    if extra:
        raise ConvertError(f"{path}: unknown tensors in {used_key} (not a rosinality StyleGAN2 generator "
                           f"of resolution {res}?): {extra[:10]}{' ...' if len(extra) > 10 else ''}")
    # channel_base / channel_max reproducing the widths: ch(r) = min(base // r, max)
    cmax = max(ch.values())
    lo, hi = 1, 1 << 40
    for r, c in ch.items():
        if c < cmax:
            lo, hi = max(lo, c * r), min(hi, (c + 1) * r - 1)
    if all(c == cmax for c in ch.values()):
        lo = hi = cmax * res
    base = next((b for b in range(lo, hi + 1) if all(min(b // r, cmax) == c for r, c in ch.items())), None) \
        if hi >= lo else None
    if base is None:
        raise ConvertError(f"{path}: channel widths {dict(sorted(ch.items()))} cannot be expressed as "
                           f"min(channel_base // r, channel_max)")
    kw = sg2_ref.default_kwargs(res, base, cmax, style_dim, style_dim, n_mlp, None)
    if lr_mlp != 0.01:
        kw["mapping_kwargs"]["lr_multiplier"] = lr_mlp
    meta = {"source_format": "rosinality", "source_entry": used_key}
    # w_avg: the checkpoint's latent_avg if any, else the mean mapping output of N z
    lat = data.get("latent_avg") if isinstance(data, dict) and used_key != "<state_dict>" else None
    if lat is not None:
        if not isinstance(lat, torch.Tensor) or lat.numel() != style_dim:
            raise ConvertError(f"{path}: latent_avg is not a tensor of {style_dim} values")
        out["mapping.w_avg"] = lat.detach().to(torch.float32).reshape(style_dim)
        meta["w_avg_source"] = "checkpoint latent_avg"
    else:
        cfg = sg2_ref.GenConfig(kw)
        tmp = dict(out)
        tmp["mapping.w_avg"] = torch.zeros(style_dim)
        G = sg2_ref.Generator(cfg, tmp, torch.float64)
        g = torch.Generator().manual_seed(w_avg_seed)
        with torch.no_grad():
            z = torch.randn(w_avg_samples, style_dim, generator=g, dtype=torch.float64)
            out["mapping.w_avg"] = G.mapping(z).mean(dim=0).float()
        meta["w_avg_source"] = f"mean mapping output of {w_avg_samples} z (torch seed {w_avg_seed}); checkpoint had no latent_avg"
    meta["note"] = ("rosinality adds its 1e-8 demodulation epsilon after the 1/sqrt(fan_in) weight scale; "
                    "NVlabs before it - outputs differ by ~1e-8 relative")
    return out, kw, meta


# ----------------------------------------------------------------------------

def detect_format(data):
    if isinstance(data, dict) and any(isinstance(v, PersistentObj) for v in data.values()):
        return "nvlabs"
    return "rosinality"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="convert_weights.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="NVlabs network pickle (.pkl) or rosinality checkpoint (.pt)")
    ap.add_argument("--out", "-o", required=True, help="output .safetensors")
    ap.add_argument("--format", choices=["auto", "nvlabs", "rosinality"], default="auto")
    ap.add_argument("--which", default="G_ema", help="NVlabs: pickle entry to convert (default G_ema)")
    ap.add_argument("--key", default=None, help="rosinality: checkpoint entry (default g_ema, then g)")
    ap.add_argument("--lr-mlp", type=float, default=0.01,
                    help="rosinality: mapping lr multiplier the network was trained with (not stored; default 0.01)")
    ap.add_argument("--w-avg-samples", type=int, default=10000,
                    help="rosinality without latent_avg: number of z for w_avg (default 10000)")
    a = ap.parse_args(argv)
    try:
        data = load_any(a.input)
        fmt = detect_format(data) if a.format == "auto" else a.format
        if fmt == "nvlabs":
            tensors, kw, meta = convert_nvlabs(data, a.input, a.which)
        else:
            tensors, kw, meta = convert_rosinality(data, a.input, a.key, a.lr_mlp, a.w_avg_samples)
        cfg = sg2_ref.GenConfig(kw)
        sg2_ref.validate(tensors, cfg, a.input)
        meta.update({
            "format": "latentmill-sg2-weights-v1",
            "generator_kwargs": json.dumps(kw, sort_keys=True),
            "num_ws": str(cfg.num_ws),
            "source_file": os.path.basename(a.input),
            "converter": "tools/convert_weights.py (torch " + torch.__version__ + ")",
        })
        sg2_ref.st_write(a.out, tensors, meta)
    except (ConvertError, pickle.UnpicklingError, ValueError, OSError, sg2_ref.SafetensorsError, RuntimeError) as e:
        sys.stderr.write(f"convert_weights.py: error: {e}\n")
        return 2
    n = sum(t.numel() for t in tensors.values())
    print(f"wrote {a.out}: {fmt} -> {len(tensors)} tensors, {n} values, res {cfg.res}, "
          f"z {cfg.z_dim} w {cfg.w_dim}, {cfg.map_layers} mapping layers, channels "
          f"{[cfg.ch(r) for r in cfg.block_res]}, conv_clamp {cfg.conv_clamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
