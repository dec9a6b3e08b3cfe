#!/usr/bin/env python3
"""mt19937_ref.py - reference numbers from NumPy's legacy RandomState for
tests/unit/test_mt19937.c (shared/lm_mt19937.c). Writes
tests/golden/mt19937/randomstate.txt; run from the repository root:

    python3 tools/mt19937_ref.py > tests/golden/mt19937/randomstate.txt

Per seed, one line each:
  seed S
  u32 ...      first 8 raw outputs: randint(0, 2**32, dtype=uint32) (no rejection
               for the full range, so these are the generator's words)
  double ...   random_sample(5) of a fresh RandomState(S)
  randn ...    randn(1, 13)[0] of a fresh RandomState(S) (odd count: the cached
               second normal of a pair is used and one is left over)
  randn_f32 .. the same randn(1, 64) cast to float32, printed as uint32 bit patterns
"""
import sys

import numpy as np

SEEDS = [0, 1, 2, 42, 303, 123456789, 2**31 - 1, 2**32 - 1]


def main():
    out = sys.stdout
    out.write("# NumPy %s legacy RandomState reference (tools/mt19937_ref.py)\n" % np.__version__)
    for s in SEEDS:
        out.write("seed %d\n" % s)
        u = np.random.RandomState(s).randint(0, 2**32, size=8, dtype=np.uint32)
        out.write("u32 " + " ".join("%d" % v for v in u) + "\n")
        d = np.random.RandomState(s).random_sample(5)
        out.write("double " + " ".join("%.17g" % v for v in d) + "\n")
        g = np.random.RandomState(s).randn(1, 13)[0]
        out.write("randn " + " ".join("%.17g" % v for v in g) + "\n")
        z = np.random.RandomState(s).randn(1, 64)[0].astype(np.float32)
        out.write("randn_f32 " + " ".join("%d" % v for v in z.view(np.uint32)) + "\n")


if __name__ == "__main__":
    main()
