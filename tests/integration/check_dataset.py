#!/usr/bin/env python3
"""check_dataset.py KIND DATASET_DIR OUTDIR [options] - check that every item,
label, identity and landmark of a native-layout dataset arrived in a
latentmill run, by parsing the dataset's own label files independently of
latentmill and comparing with `latentmill export --npy` (labels.npy, keys.txt)
and the meta records in the shards (identity, landmarks).

Options: --wild (celeba in-the-wild variant), --split N (celeba/ffhq partition
kept), --frames all|policy (ckplus), --peak K, --zipped (ckplus: trees are zips),
--csv FILE (folder), --aligned S (the align stage ran at resolution S on
synthetic faces: every item's aligned landmarks sit at the canonical FFHQ
positions the recipe gives the synthetic template, within --align-tol px,
default 0.5; CelebA's integer 5 points need 1)."""
import glob, json, os, struct, sys, zipfile
import numpy as np
import lmdb

args = sys.argv[1:]
kind, ds, out = args[0], args[1], args[2]
opt = {}
i = 3
while i < len(args):
    if args[i] in ("--wild", "--zipped"):
        opt[args[i][2:]] = True
        i += 1
    else:
        opt[args[i][2:]] = args[i + 1]
        i += 2


def fail(msg):
    sys.exit("check_dataset: " + msg)


def decode(buf):
    magic, ver, dtype, ndim, rank = struct.unpack_from("<4sHBBI", buf)
    assert magic == b"LMV1"
    if dtype == 5:
        return json.loads(bytes(buf[32:]).decode())
    dims = struct.unpack_from("<4I", buf, 12)[:ndim]
    dt = {1: np.float32, 2: np.uint8, 3: np.int32, 4: np.float64}[dtype]
    return np.frombuffer(buf, dt, offset=32).reshape(dims)


meta = {}
for sh in sorted(glob.glob(os.path.join(out, "shards", "*"))):
    env = lmdb.open(sh, readonly=True, lock=False, max_dbs=16)
    db = env.open_db(b"meta", create=False)
    with env.begin() as txn:
        for k, v in txn.cursor(db):
            meta[k.decode()] = decode(v)
    env.close()

exp = os.path.join(out, "export")
keys = [l for l in open(os.path.join(exp, "keys.txt")).read().split("\n") if l]
labels = np.load(os.path.join(exp, "labels.npy"))
if labels.shape[0] != len(keys):
    fail("labels.npy has %d rows for %d keys" % (labels.shape[0], len(keys)))
if len(set(keys)) != len(keys):
    fail("duplicate keys")
fails = [l for l in open(os.path.join(exp, "failures.tsv")) if l.strip()]
if fails:
    fail("failed items: %s" % fails[:3])


def stem(name):
    return os.path.splitext(os.path.basename(name))[0]


def check_points(key, want, tol=1e-3):
    got = meta[key].get("landmarks")
    if want is None:
        if got is not None:
            fail("%s: landmarks present, none expected" % key)
        return
    if got is None:
        fail("%s: no landmarks in meta" % key)
    got = np.array(got, np.float64).reshape(-1)
    want = np.array(want, np.float64).reshape(-1)
    if got.shape != want.shape or np.max(np.abs(got - want)) > tol:
        fail("%s: landmarks differ: %s vs %s" % (key, got[:6], want[:6]))


n_expected = None
if kind == "celeba":
    def rows(path, skip):
        d = {}
        with open(path, "rb") as f:
            data = f.read()
        if b"\r\n" not in data:
            fail("%s: not CRLF" % path)
        for line in data.decode().split("\r\n")[skip:]:
            t = line.split()
            if t:
                d[stem(t[0])] = [int(x) for x in t[1:]]
        return d
    attr = rows(os.path.join(ds, "Anno/list_attr_celeba.txt"), 2)
    ident = rows(os.path.join(ds, "Anno/identity_CelebA.txt"), 0)
    part = rows(os.path.join(ds, "Eval/list_eval_partition.txt"), 0)
    bbox = rows(os.path.join(ds, "Anno/list_bbox_celeba.txt"), 2)
    lf = "list_landmarks_celeba.txt" if opt.get("wild") else "list_landmarks_align_celeba.txt"
    lmk = rows(os.path.join(ds, "Anno", lf), 2)
    names = sorted(attr)
    if "split" in opt:
        names = [n for n in names if part[n][0] == int(opt["split"])]
    n_expected = len(names)
    for k, row in zip(keys, labels):
        s = stem(k)
        want = attr[s] + ident[s] + part[s] + bbox[s]
        if list(row) != want:
            fail("%s: labels %s, expected %s" % (k, list(row), want))
        if meta[k].get("identity") != ident[s][0]:
            fail("%s: identity %s, expected %d" % (k, meta[k].get("identity"), ident[s][0]))
        check_points(k, lmk[s])
    if sorted(stem(k) for k in keys) != names:
        fail("item set differs from the annotation files")
elif kind == "ffhq":
    js = json.load(open(os.path.join(ds, "ffhq-dataset-v2.json")))
    lic = ["Attribution License", "Attribution-NonCommercial License", "Public Domain Mark",
           "Public Domain Dedication (CC0)", "United States Government Work"]
    n_expected = len(js)
    for k, row in zip(keys, labels):
        idx = int(stem(k).replace("img", ""))
        e = js[str(idx)]
        want = [idx, {"training": 0, "validation": 1}[e["category"]],
                lic.index(e["metadata"]["license"])]
        if list(row) != want:
            fail("%s: labels %s, expected %s" % (k, list(row), want))
        part = "in_the_wild" if opt.get("wild") else "image"
        check_points(k, e[part]["face_landmarks"], 1e-3)
        m = meta[k]["ffhq"]
        if m["license"] != e["metadata"]["license"] or m["file_md5"] != e[part]["file_md5"]:
            fail("%s: ffhq metadata differs: %s" % (k, m))
        if not meta[k].get("md5_ok"):
            fail("%s: MD5 not verified" % k)
elif kind == "ckplus":
    K = int(opt.get("peak", 3))
    def tree(name, zname):
        files = {}
        if opt.get("zipped"):
            with zipfile.ZipFile(os.path.join(ds, zname)) as z:
                for n in z.namelist():
                    if not n.endswith("/"):
                        files[os.path.basename(n)] = z.read(n).decode()
        else:
            for p in glob.glob(os.path.join(ds, name, "*/*/*")):
                files[os.path.basename(p)] = open(p).read()
        return files
    lm = tree("Landmarks", "Landmarks.zip")
    emo = tree("Emotion", "Emotion_labels.zip")
    imgs = tree.__defaults__ if False else None
    if opt.get("zipped"):
        with zipfile.ZipFile(os.path.join(ds, "cohn-kanade-images.zip")) as z:
            frames = [os.path.basename(n) for n in z.namelist() if n.endswith(".png")]
    else:
        frames = [os.path.basename(p) for p in glob.glob(os.path.join(ds, "cohn-kanade-images/*/*/*.png"))]
    seqs = {}
    for f in frames:
        seqs.setdefault(f[:8], []).append(int(f[9:17]))
    seq_emo = {}
    for n, t in emo.items():
        seq_emo[n[:8]] = int(round(float(t.split()[0])))
    expected = {}
    for f in frames:
        q, fr = f[:8], int(f[9:17])
        first, last = min(seqs[q]), max(seqs[q])
        role = 2 if fr > last - K else 0 if fr == first else 1
        e = seq_emo.get(q, -1) if role == 2 else 0 if role == 0 else -1
        if opt.get("frames") == "policy" and role == 1:
            continue
        expected[f[:17]] = [e, int(f[1:4]), int(f[5:8]), fr, role]
    n_expected = len(expected)
    for k, row in zip(keys, labels):
        s = stem(k)
        if list(row) != expected[s]:
            fail("%s: labels %s, expected %s" % (k, list(row), expected[s]))
        if meta[k].get("identity") != int(s[1:4]):
            fail("%s: identity %s" % (k, meta[k].get("identity")))
        pts = [float(x) for x in lm[s + "_landmarks.txt"].split()]
        check_points(k, pts, 1e-3)
    if sorted(stem(k) for k in keys) != sorted(expected):
        fail("item set differs")
elif kind == "folder":
    lines = open(opt["csv"]).read().split("\n")
    rows = {l.split(",")[0]: [int(x) for x in l.split(",")[1:]] for l in lines[1:] if l}
    n_expected = len(rows)
    for k, row in zip(keys, labels):
        rel = k.split("/", 1)[1]
        if list(row) != rows[rel]:
            fail("%s: labels %s, expected %s" % (k, list(row), rows[rel]))
else:
    fail("unknown kind " + kind)
if "aligned" in opt:
    S = float(opt["aligned"])
    # canonical face: eyes (-0.5, 0), (0.5, 0), mouth corners (-0.45, 1), (0.45, 1);
    # the recipe's quad spans (-2, -1.9) .. (2, 2.1) in those units
    def canon(u, v):
        return [(u + 2) / 4 * S - 0.5, (v + 1.9) / 4 * S - 0.5]
    worst = 0.0
    for k in keys:
        al = meta[k].get("align")
        if al is None:
            fail("%s: no align record" % k)
        p = np.array(al["landmarks"])
        if len(p) == 68:
            got = [p[36:42].mean(0), p[42:48].mean(0), p[48], p[54]]
        else:
            got = [p[0], p[1], p[3], p[4]]
        want = [canon(-0.5, 0), canon(0.5, 0), canon(-0.45, 1), canon(0.45, 1)]
        worst = max(worst, float(np.max(np.abs(np.array(got) - np.array(want)))))
    tol = float(opt.get("align-tol", 0.5))
    if worst > tol:
        fail("aligned landmarks off the canonical positions by %.3f px" % worst)
    px = np.load(os.path.join(exp, "pixels.npy"))
    if px.shape[1:] != (int(S), int(S), 3):
        fail("pixels.npy shape %s" % (px.shape,))
    print("aligned: landmarks within %.3f px of the canonical positions" % worst)
if len(keys) != n_expected:
    fail("%d items arrived, expected %d" % (len(keys), n_expected))
print("ok: %s %s: %d items, labels %s, identities and landmarks match" % (kind, ds, len(keys), labels.shape))
