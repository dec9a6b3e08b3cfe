#!/usr/bin/env bash
# bench_index.sh - exact and IVF search of latentmill vs faiss (Debian's
# python3-faiss), same synthetic identity vectors (N/20 identities x 20 photos,
# 128-D), same queries, same ground truth, in one run: QPS, recall@1/@10 and
# build time at 1 and 2 threads, then ratios ours/faiss.
#   SIZES="200000 1000000" (default), NQ (IVF queries, 5000), NQ_EXACT (1000),
#   NPROBE (16), NLIST (default sqrt(N): the build's default 4 sqrt(N) costs
#   16x more k-means work, minutes per build on 2 shared cores; both sides get
#   the same nlist, k-means iterations (10) and training cap (256 per list)).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
drv="$PWD/$BUILD/bench/bench_index"
SIZES=${SIZES:-"200000 1000000"}
NQ=${NQ:-5000}
NQ_EXACT=${NQ_EXACT:-1000}
NPROBE=${NPROBE:-16}
NPROBE2=${NPROBE2:-24} # ours again at this nprobe: recall vs QPS against faiss at NPROBE
[ -x "$drv" ] || { echo "bench_index: $drv not built"; exit 1; }
# Debian's python3-faiss lives in the system python (a pyenv python3 may shadow it).
have_faiss=0
for PY in python3 /usr/bin/python3; do
    if "$PY" -c "import faiss, numpy" 2>/dev/null; then have_faiss=1; break; fi
done
[ $have_faiss = 1 ] || echo "   (python3-faiss not installed: apt-get install python3-faiss; ours only)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "   $(nproc) cores; $(date -u +%FT%TZ); $(uptime | sed 's/.*load/load/')"
for n in $SIZES; do
    nlist=${NLIST:-$(python3 -c "import math; print(max(1, round(math.sqrt($n))))")}
    echo "-- N=$n x 128, $((n / 20)) identities, nlist=$nlist nprobe=$NPROBE, k=10," \
         "exact on $NQ_EXACT queries, IVF on $NQ"
    t0=$(date +%s.%N)
    nice "$drv" gen "$tmp" "$n" "$NQ" 2>/dev/null || { echo "gen failed"; exit 1; }
    echo "   data + ground truth: $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
    : >"$tmp/res"
    for t in 1 2; do
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$drv" run "$tmp" "$t" "$nlist" "$NPROBE" "$NQ_EXACT" "$NPROBE2" \
            2>/dev/null | tee -a "$tmp/res" | sed 's/^/   /'
        if [ $have_faiss = 1 ]; then
            OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$PY" tests/bench/bench_index_faiss.py \
                "$tmp" "$t" "$nlist" "$NPROBE" "$NQ_EXACT" 2>/dev/null | tee -a "$tmp/res" | sed 's/^/   /'
        fi
    done
    if [ $have_faiss = 1 ]; then
        python3 - "$tmp/res" "$n" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    kv = dict(x.split("=") for x in f[2:])
    rows[(f[0], f[1], kv["T"])] = kv
print(f"   ratios ours/faiss at N={sys.argv[2]} (qps >1: we are faster; build <1: we are faster;")
print("   ivf_l2@P: ours at nprobe P against faiss at the common nprobe)")
print(f"   {'index':10} {'T':>2} {'qps ours':>10} {'qps faiss':>10} {'qps ratio':>9} "
      f"{'r10 ours':>8} {'r10 faiss':>9} {'r1 ours':>7} {'r1 faiss':>8} {'build ratio':>11}")
extra = sorted({k[1] for k in rows if k[1].startswith("ivf_l2@")})
for kind in ["flat_l2", "flat_ip", "ivf_l2"] + extra:
    for t in ("1", "2"):
        a, b = rows.get(("ours", kind, t)), rows.get(("faiss", kind.split("@")[0], t))
        if not a or not b:
            continue
        br = float(a["build_s"]) / max(float(b["build_s"]), 1e-9)
        print(f"   {kind:10} {t:>2} {float(a['qps']):10.1f} {float(b['qps']):10.1f} "
              f"{float(a['qps']) / float(b['qps']):9.2f} {a['r10']:>8} {b['r10']:>9} "
              f"{a['r1']:>7} {b['r1']:>8} {br:11.2f}")
PY
    fi
done
