#!/usr/bin/env bash
# test_generate.sh - `latentmill generate` on a tiny random generator (`synth
# generator`, torgb scaled by tame_generator.py when numpy is there so pixels do
# not saturate): grid and per-seed PNG sizes, byte-identical reruns, seeds
# differ, --batch changes at most a rare pixel by one level, psi = 0 renders
# w_avg for every seed, grid tiles equal the per-seed files, and bad input
# (seeds, model, output path, options) exits 2 naming it. Seeds 0,1,2,303 at
# psi 0.7 match NVlabs generate.py's images (tests/golden/generate/).
. "$(dirname "$0")/lib.sh"
cd "$TMP"

# png_size FILE -> "W H" from the IHDR chunk (bytes 16..23, big-endian).
png_size() {
    local b
    b=$(od -An -tu1 -j16 -N8 "$1" | tr -s ' \n' ' ')
    set -- $b
    echo "$(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 )) $(( ($5 << 24) | ($6 << 16) | ($7 << 8) | $8 ))"
}
gen() { nice -n 10 "$LM" generate -q "$@"; }

# The golden res32 generator (NVlabs layout, non-zero noise strengths and w_avg;
# tests/golden/stylegan2/README.md), torgb scaled so pixels do not saturate.
W="$ROOT/tests/golden/stylegan2/res32.weights.safetensors"
if "$PY" -c 'import numpy' 2>/dev/null; then
    check "tame generator" "$PY" "$ROOT/tests/integration/tame_generator.py" "$W" g.safetensors
    touch g.tamed
else
    echo "note: no numpy, using the untamed generator"
    cp "$W" g.safetensors
fi
check "synth generator" "$LM" synth generator raw.safetensors --res 16 --seed 7 >/dev/null

# 1. Grid and per-seed files, sizes. 10 seeds -> 4 columns x 3 rows of 32 px.
gen --model g.safetensors --seeds 0-9 -o grid.png --outdir a --batch 4 >out.txt 2>err.txt \
    || { cat err.txt; fail "generate exited $?"; }
[ "$(png_size grid.png)" = "128 96" ] || fail "grid is $(png_size grid.png), want 128 96"
for s in 0 1 2 3 4 5 6 7 8 9; do
    f=a/seed000$s.png
    [ -f "$f" ] || fail "missing $f"
    [ "$(png_size "$f")" = "32 32" ] || fail "$f is $(png_size "$f"), want 32 32"
done
[ "$(ls a | wc -l)" = 10 ] || fail "outdir holds more than the 10 images: $(ls a)"
grep -q 'grid.png: 10 images, 4 x 3 grid of 32x32' out.txt || { cat out.txt; fail "summary line"; }
gen --model g.safetensors --seeds 3,1 -o cols.png --cols 1 >/dev/null || fail "--cols 1"
[ "$(png_size cols.png)" = "32 64" ] || fail "--cols 1 grid is $(png_size cols.png), want 32 64"
echo "ok: grid 128x96 and 10 per-seed 32x32 files"

# 2. Same options -> byte-identical; different seeds -> different images.
gen --model g.safetensors --seeds 0-9 -o grid2.png --outdir b --batch 4 >/dev/null || fail "rerun"
cmp -s grid.png grid2.png || fail "grid differs between two identical runs"
for s in 0 1 2 3 4 5 6 7 8 9; do
    cmp -s a/seed000$s.png b/seed000$s.png || fail "seed $s differs between two identical runs"
done
for s in 1 2 3 4 5 6 7 8 9; do
    cmp -s a/seed0000.png a/seed000$s.png && fail "seeds 0 and $s give the same image"
done
gen --model g.safetensors --seeds 0-9 --outdir fwd --batch 10 >/dev/null || fail "batch 10"
# The random generator of `synth generator` works too (16 px).
gen --model raw.safetensors --seeds 2,4 --outdir raw >/dev/null || fail "synth generator model"
# `edit --seed S` draws the same z as `generate --seeds S`: the same image, byte for byte
# (both write through the same PNG encoder), also with truncation.
for s in 2 4; do
    "$LM" edit --seed $s --generator raw.safetensors --png edit$s.png >/dev/null ||
        fail "edit --seed $s"
    cmp -s edit$s.png raw/seed000$s.png || fail "edit --seed $s differs from generate --seeds $s"
done
"$LM" edit --seed 4 --psi 0.5 --generator raw.safetensors --png edit4p.png >/dev/null ||
    fail "edit --seed 4 --psi 0.5"
gen --model raw.safetensors --seeds 4 --psi 0.5 --outdir rawp >/dev/null || fail "generate psi 0.5"
cmp -s edit4p.png rawp/seed0004.png || fail "edit --seed 4 --psi 0.5 differs from generate"
echo "ok: edit --seed S renders generate --seeds S (psi 1 and 0.5)"
[ "$(png_size raw/seed0004.png)" = "16 16" ] || fail "raw/seed0004.png is $(png_size raw/seed0004.png)"
echo "ok: reruns byte-identical, 10 seeds give 10 different images"

# 3. --noise modes: random differs from const, and is reproducible.
gen --model g.safetensors --seeds 0-3 --outdir r1 --noise random --batch 2 >/dev/null || fail "noise random"
gen --model g.safetensors --seeds 0-3 --outdir r2 --noise random --batch 2 >/dev/null || fail "noise random 2"
cmp -s r1/seed0002.png r2/seed0002.png || fail "--noise random not reproducible"
gen --model g.safetensors --seeds 0-3 --outdir c2 --batch 2 >/dev/null || fail "noise const batch 2"
cmp -s r1/seed0002.png c2/seed0002.png && fail "--noise random gives the const-noise image"
gen --model g.safetensors --seeds 0-3 --outdir n2 --noise none --batch 2 >/dev/null || fail "noise none"
echo "ok: --noise random reproducible and different from const"

# 4. psi = 0: every seed renders w_avg.
gen --model g.safetensors --seeds 0-9 --psi 0 --outdir p0 --batch 5 -o p0.png >/dev/null || fail "psi 0"
gen --model g.safetensors --seeds 0-9 --psi 0.5 --outdir p5 --batch 5 >/dev/null || fail "psi 0.5"
cmp -s p5/seed0000.png p5/seed0001.png && fail "psi 0.5 made seeds 0 and 1 equal"
cmp -s p5/seed0000.png a/seed0000.png && fail "psi 0.5 changed nothing"
gen --model g.safetensors --seeds 0-9 --psi 0.5 --cutoff 2 --outdir pc --batch 5 >/dev/null || fail "cutoff"
cmp -s pc/seed0000.png p5/seed0000.png && fail "--cutoff 2 changed nothing"

# 5. Pixel checks (PIL): tiles equal per-seed files; --batch 1/3/10 vs 4 at most
#    one level on rare pixels; psi 0 images equal to each other within that.
gen --model g.safetensors --seeds 0-9 --outdir b1 --batch 1 >/dev/null || fail "batch 1"
gen --model g.safetensors --seeds 0-9 --outdir b3 --batch 3 >/dev/null || fail "batch 3"
gen --model g.safetensors --seeds 0,1,2,303 --psi 0.7 --outdir nv >/dev/null || fail "psi 0.7"
if ! "$PY" -c 'import PIL, numpy' 2>/dev/null; then
    echo "SKIP (part): no PIL/numpy for $PY: tile and --batch pixel comparisons not run"
else
    ROOT=$ROOT "$PY" - <<'PYEOF' || fail "pixel checks"
import os
import numpy as np
from PIL import Image

def load(p):
    return np.asarray(Image.open(p).convert("RGB")).astype(np.int32)

grid = load("grid.png")
assert grid.shape == (96, 128, 3), grid.shape
for s in range(10):
    r, c = divmod(s, 4)
    tile = grid[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32]
    one = load("a/seed%04d.png" % s)
    if not np.array_equal(tile, one):
        d = np.argwhere(tile != one)[:5]
        raise SystemExit("grid tile %d != a/seed%04d.png at %s" % (s, s, d.tolist()))
assert (grid[64:, 64:] == 0).all(), "unused tiles are not black"
# The images are not saturated (the test would then prove little).
mid = ((grid > 10) & (grid < 245)).mean()
print("grid: %.0f%% of values strictly inside (10, 245), std %.1f" % (100 * mid, grid.std()))

def compare(da, db, what):
    worst, ndiff, tot = 0, 0, 0
    for s in range(10):
        x, y = load("%s/seed%04d.png" % (da, s)), load("%s/seed%04d.png" % (db, s))
        d = np.abs(x - y)
        worst, ndiff, tot = max(worst, int(d.max())), ndiff + int((d > 0).sum()), tot + d.size
    print("%s: %d of %d values differ, max %d level(s)" % (what, ndiff, tot, worst))
    assert worst <= 1 and ndiff <= tot // 200, what
for other in ("b1", "b3", "fwd"):
    compare("a", other, "batch 4 vs %s" % other)
# Distinct seeds really differ (by far more than rounding).
x, y = load("a/seed0000.png"), load("a/seed0001.png")
assert np.abs(x - y).mean() > 5, np.abs(x - y).mean()
# NVlabs generate.py's own images (tests/golden/generate/README.md).
if os.path.exists("g.tamed"):
    for s in (0, 1, 2, 303):
        x = load("nv/seed%04d.png" % s)
        y = load(os.path.join(os.environ["ROOT"], "tests/golden/generate/seed%04d.png" % s))
        d = np.abs(x - y)
        print("seed %d vs NVlabs generate.py: %d of %d values differ, max %d" %
              (s, (d > 0).sum(), d.size, d.max()))
        assert d.max() <= 1 and (d > 0).sum() <= d.size // 200, s
p0 = [load("p0/seed%04d.png" % s) for s in range(10)]
worst = max(int(np.abs(p - p0[0]).max()) for p in p0)
print("psi 0: max difference between seeds %d level(s)" % worst)
assert worst <= 1, worst
PYEOF
    echo "ok: tiles equal per-seed files; --batch changes at most 1 level on rare pixels; psi 0 renders one image"
fi

# 6. Bad input: exit 2, the culprit named, no crash, nothing written.
expect2() { # description, expected message fragment, args...
    local what=$1 frag=$2
    shift 2
    "$LM" generate "$@" >/dev/null 2>err.txt
    local rc=$?
    [ $rc -eq 2 ] || { cat err.txt; fail "$what: exit $rc, want 2"; }
    grep -qF -- "$frag" err.txt || { cat err.txt; fail "$what: message lacks '$frag'"; }
    echo "ok: $what -> $(head -c 160 err.txt | head -1)"
}
expect2 "backwards seed range" "'5-3'" --model g.safetensors --seeds 5-3 -o x.png
expect2 "bad seed item" "'x'" --model g.safetensors --seeds 1,x -o x.png
expect2 "seed out of range" "4294967296" --model g.safetensors --seeds 4294967296 -o x.png
expect2 "missing model" "nosuch.safetensors" --model nosuch.safetensors --seeds 0 -o x.png --outdir newdir
[ ! -e newdir ] || fail "a run with a missing model created its --outdir"
head -c 5000 /dev/urandom >junk.safetensors
expect2 "corrupt model" "junk.safetensors" --model junk.safetensors --seeds 0 -o x.png
head -c 3000 g.safetensors >cut.safetensors
expect2 "truncated model" "cut.safetensors" --model cut.safetensors --seeds 0 -o x.png
expect2 "unwritable grid path" "nodir/sub/grid.png" --model g.safetensors --seeds 0 -o nodir/sub/grid.png
touch afile
expect2 "outdir is a file" "afile" --model g.safetensors --seeds 0 --outdir afile
expect2 "no output" "-o and/or --outdir" --model g.safetensors --seeds 0
expect2 "bad noise mode" "--noise" --model g.safetensors --seeds 0 -o x.png --noise loud
expect2 "bad batch" "--batch" --model g.safetensors --seeds 0 -o x.png --batch 0
expect2 "bad psi" "--psi" --model g.safetensors --seeds 0 -o x.png --psi abc
[ ! -e x.png ] || fail "a failed run wrote x.png"
ls -a a | grep -v '^seed[0-9]*\.png$' | grep -qv '^\.\.\?$' && fail "temporary files left in a/: $(ls -a a)"
echo "PASS"
