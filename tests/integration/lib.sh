# lib.sh - shared helpers for the integration tests (sourced).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LM=${LATENTMILL:-$ROOT/build/latentmill}
# Debian's python3 (with numpy, PIL) even where another python3 comes first on PATH.
PY=$(command -v /usr/bin/python3 || command -v python3)
MPIRUN=(mpirun --oversubscribe -np)
if [ "$(id -u)" = 0 ]; then
    MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np)
fi
# OpenMPI would spin in blocking receives; yield when idle so three ranks
# share two cores fairly.
export OMPI_MCA_mpi_yield_when_idle=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lm-test-XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
skip() {
    echo "SKIP: $*"
    exit 77
}
check() { # description, command...
    local what=$1
    shift
    "$@" || fail "$what"
}
# write_job FILE OUT DATASET [LINE...]: LINEs go to [node], or to [job] when
# written "job: key = value".
write_job() {
    local f=$1 out=$2 ds=$3 l
    shift 3
    {
        printf '[job]\nname = test\nout = %s\nprogress = 0\n' "$out"
        for l in "$@"; do case "$l" in job:*) printf '%s\n' "${l#job: }" ;; esac; done
        printf '[dataset]\npath = %s\n' "$ds"
        printf '[node]\n'
        for l in "$@"; do case "$l" in job:*) ;; *) printf '%s\n' "$l" ;; esac; done
    } >"$f"
}
# same_export A B: keys, failures and arrays identical
same_export() {
    "$PY" - "$1" "$2" <<'PYEOF'
import sys, os, numpy as np
a, b = sys.argv[1], sys.argv[2]
for f in ("keys.txt",):
    ka = open(os.path.join(a, f)).read().split("\n")
    kb = open(os.path.join(b, f)).read().split("\n")
    if ka != kb:
        sys.exit("keys differ: %d vs %d lines" % (len(ka), len(kb)))
fa = sorted(l.split("\t")[0] for l in open(os.path.join(a, "failures.tsv")) if l.strip())
fb = sorted(l.split("\t")[0] for l in open(os.path.join(b, "failures.tsv")) if l.strip())
if fa != fb:
    sys.exit("failed items differ: %s vs %s" % (fa, fb))
for f in sorted(os.listdir(a)):
    if f.endswith(".npy"):
        x, y = np.load(os.path.join(a, f)), np.load(os.path.join(b, f))
        if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
            sys.exit("%s differs: %s %s vs %s %s" % (f, x.shape, x.dtype, y.shape, y.dtype))
PYEOF
}
