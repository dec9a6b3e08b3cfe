#!/usr/bin/env python3
"""bench_index_faiss.py - the faiss side of tests/bench/bench_index.sh.

Same vectors, queries and ground truth as bench_index.c (DIR/base.npy,
query.npy, gt.npy), same measurements: IndexFlatL2 and IndexFlatIP on the first
NQ_EXACT queries, IndexIVFFlat (L2) with the same nlist, nprobe, k-means
iterations (10) and training sample cap (256 points per list) on all queries.
Prints "faiss <kind> T=<t> build_s=... qps=... r1=... r10=...".
usage: bench_index_faiss.py DIR THREADS NLIST NPROBE NQ_EXACT
"""
import sys
import time

import numpy as np
import faiss

K = 10


def recall(got, gt):
    r1 = float(np.mean(got[:, 0] == gt[:, 0]))
    hits = sum(len(set(a) & set(b)) for a, b in zip(got.tolist(), gt.tolist()))
    return r1, hits / gt.size


def main():
    d, threads, nlist, nprobe, nq_exact = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    faiss.omp_set_num_threads(threads)
    x = np.ascontiguousarray(np.load(f"{d}/base.npy"), dtype=np.float32)
    q = np.ascontiguousarray(np.load(f"{d}/query.npy"), dtype=np.float32)
    gt = np.load(f"{d}/gt.npy")
    dim = x.shape[1]
    qe = q[:nq_exact]
    for name, cls in (("flat_l2", faiss.IndexFlatL2), ("flat_ip", faiss.IndexFlatIP)):
        t0 = time.perf_counter()
        ix = cls(dim)
        ix.add(x)
        t1 = time.perf_counter()
        _, ids = ix.search(qe, K)
        t2 = time.perf_counter()
        r1, r10 = recall(ids, gt[:nq_exact]) if name == "flat_l2" else (float("nan"),) * 2
        print(f"faiss {name} T={threads} build_s={t1 - t0:.3f} qps={len(qe) / (t2 - t1):.1f} "
              f"r1={r1:.4f} r10={r10:.4f}", flush=True)
        del ix
    t0 = time.perf_counter()
    quant = faiss.IndexFlatL2(dim)
    ivf = faiss.IndexIVFFlat(quant, dim, nlist, faiss.METRIC_L2)
    ivf.cp.niter = 10
    ivf.cp.max_points_per_centroid = 256
    ivf.cp.seed = 1234
    ivf.train(x)
    ivf.add(x)
    t1 = time.perf_counter()
    ivf.nprobe = nprobe
    _, ids = ivf.search(q, K)
    t2 = time.perf_counter()
    r1, r10 = recall(ids, gt)
    print(f"faiss ivf_l2 T={threads} build_s={t1 - t0:.3f} qps={len(q) / (t2 - t1):.1f} "
          f"r1={r1:.4f} r10={r10:.4f} nlist={nlist} nprobe={nprobe}", flush=True)


if __name__ == "__main__":
    main()
