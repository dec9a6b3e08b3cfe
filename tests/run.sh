#!/usr/bin/env bash
# tests/run.sh - run every test program in its own process under a timeout
# (libuv's runner). Exit 77 from a test means SKIP (the reason is printed by
# the test). Prints pass/fail/skip counts; exits non-zero on any failure.
#   tests/run.sh            unit + integration
#   tests/run.sh unit       unit tests only
#   tests/run.sh NAME...    only tests whose file name contains NAME
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export LATENTMILL="$PWD/$BUILD/latentmill"
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
# Sanitizer builds: library-lifetime allocations of OpenMPI and OpenBLAS are
# suppressed (tests/lsan.supp); full unwinding so the suppressions can see
# MPI_Init in the stack.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
INTEG_TIMEOUT=${INTEG_TIMEOUT:-600}
mode=all
filters=()
for a in "$@"; do
    case "$a" in
    unit) mode=unit ;;
    integration) mode=integration ;;
    *) filters+=("$a") ;;
    esac
done

selected() {
    [ ${#filters[@]} -eq 0 ] && return 0
    local f
    for f in "${filters[@]}"; do
        case "$1" in *"$f"*) return 0 ;; esac
    done
    return 1
}

pass=0 fail=0 skip=0
failed=()
run_one() { # name timeout cmd...
    local name=$1 to=$2
    shift 2
    local log
    log=$(mktemp)
    local t0=$SECONDS
    timeout --kill-after=10 "$to" "$@" >"$log" 2>&1
    local rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf '  PASS  %-40s %4ds\n' "$name" "$dt"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1)); printf '  SKIP  %-40s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-120)"
    else
        fail=$((fail + 1)); failed+=("$name")
        [ $rc -eq 124 ] && echo "  (timed out after ${to}s)" >>"$log"
        printf '  FAIL  %-40s %4ds (exit %d)\n' "$name" "$dt" "$rc"
        sed 's/^/      | /' "$log" | tail -n 60
    fi
    rm -f "$log"
}

if [ "$mode" != integration ]; then
    echo "== unit, gradient and golden tests"
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d|*.o) continue ;; esac
        n=$(basename "$t")
        selected "$n" || continue
        run_one "$n" "$UNIT_TIMEOUT" "$t"
    done
fi
if [ "$mode" != unit ]; then
    echo "== integration tests"
    for t in tests/integration/test_*.sh; do
        [ -f "$t" ] || continue
        n=$(basename "$t" .sh)
        selected "$n" || continue
        run_one "$n" "$INTEG_TIMEOUT" bash "$t"
    done
fi
echo "== $pass passed, $fail failed, $skip skipped"
if [ $fail -ne 0 ]; then
    printf '   failed: %s\n' "${failed[*]}"
    exit 1
fi
exit 0
