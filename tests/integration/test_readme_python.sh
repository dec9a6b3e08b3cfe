#!/usr/bin/env bash
# The README's Python reader (lmdb + numpy) really reads a shard: the snippet
# is taken from README.md, pointed at a fresh shard's pixels db, and must give
# the arrays `export --npy` gives.
. "$(dirname "$0")/lib.sh"
"$PY" -c "import lmdb" 2>/dev/null || skip "python3-lmdb missing (apt-get install python3-lmdb)"
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" 30 >/dev/null || fail mkimages
write_job "$TMP/job.ini" out imgs "resolution = 16"
check "run" "$LM" run -q "$TMP/job.ini"
check "export" "$LM" export "$TMP/out" --npy >/dev/null
awk '/^Reading a latent/{f=1} f&&/^```python/{g=1;next} g&&/^```/{exit} g' "$ROOT/README.md" >"$TMP/snippet.py"
[ -s "$TMP/snippet.py" ] || fail "no Python snippet found in README.md"
sed -i "s|out/shards/run0001-rank0001|$TMP/out/shards/run0001-rank0000|; s|b\"latent\"|b\"pixels\"|; s|print(key.decode(), w.shape)|got[key.decode()] = w|" "$TMP/snippet.py"
{ echo "got = {}"; cat "$TMP/snippet.py"; cat <<PYEOF
import numpy as np
keys = open("$TMP/out/export/keys.txt").read().split()
px = np.load("$TMP/out/export/pixels.npy")
assert sorted(got) == sorted(keys), (len(got), len(keys))
for i, k in enumerate(keys):
    assert np.array_equal(got[k], px[i]), k
print("README reader matches export for", len(keys), "items")
PYEOF
} >"$TMP/check.py"
"$PY" "$TMP/check.py" || fail "README snippet"
