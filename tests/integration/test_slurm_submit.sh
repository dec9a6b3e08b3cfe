#!/usr/bin/env bash
# `latentmill submit` and the batch scripts without a cluster: option and job
# errors (exit 2), --dry-run (scripts written, sbatch commands printed, body
# byte-identical to slurm/*.sbatch), sbatch missing or failing (exit 1, its
# message shown), a fake sbatch/scontrol on PATH (argument vectors, the
# afterok dependency, jobs.json, status, refusing a second submission), and
# the generated script run by hand with a fake srun: SIGUSR1 drains and
# requeues, SIGTERM drains without requeueing, a finished run exits 0.
. "$(dirname "$0")/lib.sh"
N=1500
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N --size 178x218 >/dev/null || fail "mkimages"
# Items heavy enough (and chunks small enough) that a run lasts seconds, so
# the signals below land mid-run on a fast machine too.
write_job "$TMP/job.ini" out imgs "stages = decode,resize" "resolution = 256" "job: max_chunk = 4" "item_threads = 1"
OUT=$TMP/out
body() { sed -n '/^# ---- common body/,$p' "$1"; }

# Usage and job errors: exit 2 with a message.
"$LM" submit --help | grep -q -- "--signal-seconds" || fail "submit --help"
expect2() { # description, args...
    local what=$1
    shift
    "$LM" submit "$@" >"$TMP/err.log" 2>&1
    local rc=$?
    [ $rc = 2 ] || { cat "$TMP/err.log"; fail "$what: exit $rc, expected 2"; }
    echo "  $what: $(head -1 "$TMP/err.log")"
}
expect2 "no job" --dry-run
expect2 "--nodes 0" "$TMP/job.ini" --nodes 0 --dry-run
expect2 "bad --time" "$TMP/job.ini" --time 1:xx --dry-run
expect2 "--partition with a space" "$TMP/job.ini" "--partition=a b" --dry-run
expect2 "bad --launcher" "$TMP/job.ini" --launcher ssh --dry-run
expect2 "--sbatch-arg not an option" "$TMP/job.ini" --sbatch-arg mem --dry-run
expect2 "missing job file" "$TMP/nope.ini" --dry-run
write_job "$TMP/nods.ini" out2 missing-dir
expect2 "missing dataset" "$TMP/nods.ini" --dry-run
grep -q "missing-dir" "$TMP/err.log" || fail "missing dataset: message does not name it"
printf '[job\nout = x\n' >"$TMP/syntax.ini"
expect2 "job file syntax error" "$TMP/syntax.ini" --dry-run

# --dry-run: scripts written, commands printed, nothing submitted.
"$LM" submit "$TMP/job.ini" --dry-run --nodes 3 --ntasks-per-node 4 --gpus-per-task 1 \
    --cpus-per-task 2 --time 1-02:00:00 --partition gpu --account proj1 --signal-seconds 120 \
    --mpi pmix_v4 --sbatch-arg=--mem=8G --reduce-ntasks-per-node 2 >"$TMP/dry.log" 2>&1 || { cat "$TMP/dry.log"; fail "dry run"; }
cat "$TMP/dry.log"
grep -qx "sbatch --parsable $OUT/slurm/map.sbatch" "$TMP/dry.log" || fail "dry run: map command"
grep -qx "sbatch --parsable '--dependency=afterok:<map job id>' $OUT/slurm/reduce.sbatch" "$TMP/dry.log" ||
    fail "dry run: reduce command"
[ ! -e "$OUT/slurm/jobs.json" ] || fail "dry run recorded jobs"
for l in "--nodes=3" "--ntasks-per-node=4" "--gpus-per-task=1" "--cpus-per-task=2" \
    "--time=1-02:00:00" "--partition=gpu" "--account=proj1" "--signal=B:USR1@120" "--requeue" \
    "--open-mode=append" "--mem=8G" "--output=$OUT/slurm/map-%j.out"; do
    grep -qx -- "#SBATCH $l" "$OUT/slurm/map.sbatch" || fail "map.sbatch lacks #SBATCH $l"
done
grep -qx "LATENTMILL_MPI=pmix_v4" "$OUT/slurm/map.sbatch" || fail "map.sbatch: --mpi"
grep -q -- "--gpus-per-task" "$OUT/slurm/reduce.sbatch" && fail "reduce.sbatch asks for GPUs"
grep -qx -- "#SBATCH --nodes=3" "$OUT/slurm/reduce.sbatch" || fail "reduce: --nodes"
grep -qx -- "#SBATCH --ntasks-per-node=2" "$OUT/slurm/reduce.sbatch" || fail "reduce: --reduce-ntasks-per-node"
grep -qx -- "#SBATCH --kill-on-invalid-dep=yes" "$OUT/slurm/reduce.sbatch" || fail "reduce: kill-on-invalid-dep"
grep -qx "lm_phase=reduce" "$OUT/slurm/reduce.sbatch" || fail "reduce.sbatch phase"
for p in map reduce; do
    [ -x "$OUT/slurm/$p.sbatch" ] || fail "$p.sbatch not executable"
    bash -n "$OUT/slurm/$p.sbatch" || fail "$p.sbatch: syntax"
    diff <(body "$OUT/slurm/$p.sbatch") <(body "$ROOT/slurm/$p.sbatch") >"$TMP/diff" ||
        { cat "$TMP/diff"; fail "$p.sbatch body differs from slurm/$p.sbatch (update cmd_submit.c)"; }
    if command -v shellcheck >/dev/null; then
        shellcheck "$OUT/slurm/$p.sbatch" "$ROOT/slurm/$p.sbatch" || fail "shellcheck $p.sbatch"
    fi
done
"$LM" submit "$TMP/job.ini" --dry-run --time 4 --signal-seconds 300 2>&1 | grep -q "warning: --signal-seconds 300" ||
    fail "no warning for --signal-seconds beyond --time"

# sbatch missing, sbatch failing: exit 1, its message shown.
"$LM" submit "$TMP/job.ini" >/dev/null 2>"$TMP/err.log"
rc=$?
if ! command -v sbatch >/dev/null; then
    [ $rc = 1 ] && grep -q "sbatch: command not found on PATH" "$TMP/err.log" ||
        { cat "$TMP/err.log"; fail "sbatch missing: exit $rc"; }
fi
env PATH=/nonexistent "$LM" submit "$TMP/job.ini" >/dev/null 2>"$TMP/err.log"
rc=$?
[ $rc = 1 ] && grep -q "sbatch: command not found on PATH" "$TMP/err.log" ||
    { cat "$TMP/err.log"; fail "sbatch not on PATH: exit $rc"; }
echo "  no sbatch: $(cat "$TMP/err.log")"
FAKE=$TMP/fake
mkdir -p "$FAKE"
cat >"$FAKE/sbatch" <<'EOF'
#!/bin/sh
echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2
exit 1
EOF
chmod +x "$FAKE/sbatch"
PATH=$FAKE:$PATH "$LM" submit "$TMP/job.ini" >/dev/null 2>"$TMP/err.log"
rc=$?
[ $rc = 1 ] && grep -q "Invalid account or account/partition" "$TMP/err.log" ||
    { cat "$TMP/err.log"; fail "failing sbatch: exit $rc"; }
echo "  failing sbatch: $(head -1 "$TMP/err.log")"

# A fake sbatch that accepts (ids 41 and 42;cluster) and a fake scontrol.
cat >"$FAKE/sbatch" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$FAKE/sbatch.calls"
n=\$(wc -l <"$FAKE/sbatch.calls")
[ "\$n" = 1 ] && echo 41 || echo "42;othercluster"
EOF
cat >"$FAKE/scontrol" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$FAKE/scontrol.calls"
case "\$*" in
"show job -o 41") echo "JobId=41 JobName=lm-map-test UserId=u(1) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 ExitCode=0:0" ;;
"show job -o 42") echo "JobId=42 JobName=lm-reduce-test JobState=PENDING Reason=Dependency Dependency=afterok:41(unfulfilled) Restarts=0 ExitCode=0:0" ;;
requeue*) exit 0 ;;
*) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;
esac
EOF
chmod +x "$FAKE/sbatch" "$FAKE/scontrol"
rm -f "$FAKE/sbatch.calls"
PATH=$FAKE:$PATH "$LM" submit "$TMP/job.ini" >"$TMP/sub.log" 2>&1 || { cat "$TMP/sub.log"; fail "fake submit"; }
cat "$TMP/sub.log"
grep -qx "map job 41: $OUT/slurm/map.sbatch" "$TMP/sub.log" || fail "map id not printed"
grep -qx "reduce job 42 (after map job 41 succeeds): $OUT/slurm/reduce.sbatch" "$TMP/sub.log" ||
    fail "reduce id not printed"
[ "$(sed -n 1p "$FAKE/sbatch.calls")" = "--parsable $OUT/slurm/map.sbatch" ] || fail "map argv: $(sed -n 1p "$FAKE/sbatch.calls")"
[ "$(sed -n 2p "$FAKE/sbatch.calls")" = "--parsable --dependency=afterok:41 $OUT/slurm/reduce.sbatch" ] ||
    fail "reduce argv: $(sed -n 2p "$FAKE/sbatch.calls")"
"$PY" - "$OUT/slurm/jobs.json" "$TMP/job.ini" <<'EOF' || fail "jobs.json"
import json, os, sys
j = json.load(open(sys.argv[1]))
assert j["map"]["id"] == "41" and j["reduce"]["id"] == "42", j
assert j["job"] == os.path.realpath(sys.argv[2]), j["job"]
assert j["reduce"]["sbatch"][2] == "--dependency=afterok:41", j["reduce"]
EOF
PATH=$FAKE:$PATH "$LM" status "$OUT" >"$TMP/status.log" || fail "status with jobs.json"
cat "$TMP/status.log"
grep -qx "slurm: map job 41 RUNNING, restarts 2" "$TMP/status.log" || fail "status: map line"
grep -qx "slurm: reduce job 42 PENDING (Dependency)" "$TMP/status.log" || fail "status: reduce line"
grep -q "^not started: " "$TMP/status.log" || fail "status: not started"
PATH=$FAKE:$PATH "$LM" submit "$TMP/job.ini" >/dev/null 2>"$TMP/err.log"
[ $? = 2 ] && grep -q "map job 41 submitted earlier is RUNNING" "$TMP/err.log" ||
    { cat "$TMP/err.log"; fail "second submission not refused"; }
rm -f "$FAKE/sbatch.calls"
PATH=$FAKE:$PATH "$LM" submit "$TMP/job.ini" --force --no-reduce >/dev/null 2>&1 || fail "--force"
[ "$(wc -l <"$FAKE/sbatch.calls")" = 1 ] || fail "--no-reduce submitted $(wc -l <"$FAKE/sbatch.calls") jobs"
env PATH=/nonexistent "$LM" status "$OUT" | grep -q "map job 41: unknown to Slurm now (scontrol: command not found" ||
    fail "status without scontrol"

# The generated script run by hand: a fake srun that drops its options and
# execs the command, so the batch shell's signals reach latentmill through it.
cat >"$FAKE/srun" <<'EOF'
#!/bin/bash
while [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
EOF
chmod +x "$FAKE/srun"
"$LM" submit "$TMP/job.ini" --dry-run --ntasks-per-node 1 >/dev/null || fail "dry run"
byhand() { # signal (or none) -> exit status of the script; log in $TMP/byhand.log
    : >"$FAKE/scontrol.calls"
    PATH=$FAKE:$PATH SLURM_JOB_ID=77 SLURM_RESTART_COUNT=$2 bash "$OUT/slurm/map.sbatch" >"$TMP/byhand.log" 2>&1 &
    local p=$!
    if [ "$1" != none ]; then
        for _ in $(seq 200); do [ -S "$OUT/status.sock" ] && break; sleep 0.05; done
        sleep 0.3
        kill -s "$1" $p
    fi
    wait $p
}
rm -rf "$OUT/plan.bin" "$OUT/journal.bin"
byhand USR1 0
rc=$?
[ $rc = 3 ] || { cat "$TMP/byhand.log"; fail "USR1: script exit $rc, expected 3"; }
grep -qx "requeue 77" "$FAKE/scontrol.calls" || { cat "$TMP/byhand.log"; fail "USR1: no scontrol requeue 77"; }
grep -q "drained (exit 3): requeued" "$TMP/byhand.log" || fail "USR1: no requeue note"
byhand TERM 1
rc=$?
[ $rc = 3 ] || { cat "$TMP/byhand.log"; fail "TERM: script exit $rc, expected 3"; }
grep -q requeue "$FAKE/scontrol.calls" && fail "TERM: the script requeued (Slurm does that itself)"
grep -q "drained after SIGTERM (exit 3): not requeueing" "$TMP/byhand.log" || { cat "$TMP/byhand.log"; fail "TERM note"; }
LATENTMILL_MAX_RESTARTS=2 byhand USR1 2
rc=$?
[ $rc = 3 ] && ! grep -q requeue "$FAKE/scontrol.calls" || { cat "$TMP/byhand.log"; fail "max restarts: rc $rc"; }
byhand none 3
rc=$?
[ $rc = 0 ] || { cat "$TMP/byhand.log"; fail "final run: exit $rc"; }
grep -q "finished with exit status 0" "$TMP/byhand.log" || fail "final note"
"$LM" export "$OUT" --npy >/dev/null || fail "export"
[ "$(sort -u "$OUT/export/keys.txt" | wc -l)" = $N ] && [ "$(wc -l <"$OUT/export/keys.txt")" = $N ] ||
    fail "keys after three drains: $(wc -l <"$OUT/export/keys.txt")"
[ "$(ls "$OUT/runs" | wc -l)" = 4 ] || fail "expected 4 runs, got $(ls "$OUT/runs")"
echo "ok: submit errors, dry run, fake sbatch/scontrol, script drains+requeues by hand; $N keys once"
