#!/usr/bin/env bash
# A real single-node Slurm cluster (slurm/local-cluster.sh: munged, slurmctld,
# slurmd from Debian's packages, in a temporary directory), then:
#  1. `latentmill submit` of a miniature decode,resize job (2 tasks through
#     srun --mpi=pmix): the map and the reduce job complete, `status` shows
#     them, export --npy has every key once;
#  2. a map job signalled mid-run (SIGUSR1 to the batch shell, as Slurm does
#     before the time limit): it drains, requeues itself, the requeued run
#     (Restarts=1) finishes, the reduce job runs after it, every item exactly
#     once over two runs;
#  3. a map job whose dataset vanished before it ran fails, and its reduce job
#     is cancelled without ever starting;
#  4. the mpirun launcher inside the allocation;
#  5. preemption: a job in a higher-priority partition preempts the running
#     map job; Slurm sends it the --signal (USR1) at once, it drains, is
#     requeued, runs again after the urgent job and finishes every item once.
#  0. slurm/map.sbatch with plain sbatch and a real --time=1 limit
#     (--signal=B:USR1@59) around a stand-in binary: the warning arrives,
#     the script requeues the job, the restart completes.
# The cluster is stopped on exit (no daemon left behind). Where the daemons
# cannot start the test says SKIP with the reason.
. "$(dirname "$0")/lib.sh"
CLUSTER=$ROOT/slurm/local-cluster.sh
[ "$(id -u)" = 0 ] || skip "slurm: needs root to run munged/slurmctld/slurmd (SlurmUser=root)"
for c in munged mungekey slurmctld slurmd sbatch srun scontrol; do
    PATH=$PATH:/usr/sbin command -v $c >/dev/null 2>&1 ||
        skip "slurm: '$c' not installed (apt-get install slurm-wlm munge libpmix-dev)"
done
CL=$TMP/cluster
chmod 0755 "$TMP" # munged wants every directory above its socket world-executable
cleanup() {
    "$CLUSTER" down "$CL" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # run cleanup when the test runner's timeout strikes
t_up=$SECONDS
# Three CPUs whatever the machine has (Slurm may declare more than there
# are): 2-rank jobs plus the 1-task time-limit job; the urgent job of the
# preemption case asks for all three.
if ! out=$(SLURM_LOCAL_CPUS=3 "$CLUSTER" up "$CL" 2>&1); then
    skip "slurm: the local cluster did not start: $(echo "$out" | tail -n 1)"
fi
export SLURM_CONF=$CL/etc/slurm.conf
echo "cluster up in $((SECONDS - t_up))s"

state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# wait_state ID TIMEOUT STATE...: until the job is in one of the states.
wait_state() {
    local id=$1 to=$2 s
    shift 2
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$to" ]; do
        s=$(state "$id")
        for w in "$@"; do [ "$s" = "$w" ] && return 0; done
        sleep 0.5
    done
    echo "job $id is '$s' after ${to}s, expected $*" >&2
    scontrol show job "$id" >&2
    squeue -t all >&2
    return 1
}
show_logs() { # OUTDIR
    local f
    for f in "$1"/slurm/*.out; do
        [ -f "$f" ] && { echo "--- $f"; tail -30 "$f"; }
    done
    tail -20 "$CL/log/slurmctld.log"
}
ids() { # OUTDIR -> "MAP REDUCE" from jobs.json
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1]+"/slurm/jobs.json")); print(j["map"]["id"], j.get("reduce",{}).get("id",""))' "$1"
}
# mid_run OUTDIR JOBID: wait (60 s at most) until the job's run has done some
# but not all items; print how many.
mid_run() {
    local t0=$SECONDS n='' s
    while [ $((SECONDS - t0)) -lt 60 ]; do
        n=$("$LM" status "$1" 2>/dev/null | sed -n 's/^running: .* \([0-9]*\)\/\([0-9]*\) done.*/\1 \2/p')
        if [ -n "$n" ] && [ "${n% *}" -gt 0 ]; then
            echo "${n% *}"
            [ "${n% *}" -lt "${n#* }" ]
            return
        fi
        s=$(state "$2")
        case "$s" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
            echo "job $2 $s"
            return 1
            ;;
        esac
        sleep 0.1
    done
    echo "nothing after 60s"
    return 1
}
every_key_once() { # OUTDIR N
    "$LM" export "$1" --npy >/dev/null || fail "export $1"
    local k=$1/export/keys.txt
    [ "$(sort -u "$k" | wc -l)" = "$2" ] || fail "$1: $(sort -u "$k" | wc -l) unique keys, expected $2"
    [ "$(wc -l <"$k")" = "$2" ] || fail "$1: duplicate keys"
    [ ! -s "$1/export/failures.tsv" ] || fail "$1: failed items: $(head -3 "$1/export/failures.tsv")"
}

# 0. A real time limit, started first because it takes 30-45 s of waiting:
# slurm/map.sbatch submitted with plain sbatch, --time=1 --signal=B:USR1@59,
# and a stand-in for latentmill (no CPU) that exits 3 on SIGUSR1 like a drain
# and 0 when restarted. Slurm checks limits about every 30 s.
cat >"$TMP/fake-lm" <<'FAKE'
#!/bin/bash
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
    echo "fake-lm: restarted ($SLURM_RESTART_COUNT): $*"
    exit 0
fi
trap 'echo "fake-lm: SIGUSR1 after ${SECONDS}s"; kill $!; exit 3' USR1
sleep 300 &
wait
FAKE
chmod +x "$TMP/fake-lm"
tl=$(LATENTMILL=$TMP/fake-lm sbatch --parsable --time=1 --signal=B:USR1@59 -n 1 \
    -o "$TMP/timelimit-%j.out" "$ROOT/slurm/map.sbatch" "$TMP/timelimit.ini") || fail "sbatch map.sbatch"
t_tl=$SECONDS

N=2000
"$PY" "$ROOT/tests/integration/mkimages.py" "$TMP/imgs" $N --size 300x360 >/dev/null || fail "mkimages"

# 1. submit, wait for map and reduce, check the outputs.
t0=$SECONDS
write_job "$TMP/basic.ini" basic imgs "stages = decode,resize" "resolution = 64" \
    "job: max_chunk = 32"
sed -i 's/^path = imgs$/path = imgs\nlimit = 400/' "$TMP/basic.ini"
"$LM" submit "$TMP/basic.ini" --ntasks-per-node 2 --time 10 >"$TMP/submit.log" 2>&1 ||
    { cat "$TMP/submit.log"; fail "submit"; }
cat "$TMP/submit.log"
read -r map red <<<"$(ids "$TMP/basic")"
grep -q "^map job $map: " "$TMP/submit.log" || fail "submit did not print the map job id"
grep -q "^reduce job $red " "$TMP/submit.log" || fail "submit did not print the reduce job id"
[ "$(field "$red" Dependency)" = "afterok:${map}(unfulfilled)" ] ||
    [ "$(state "$red")" != PENDING ] || fail "reduce dependency: $(field "$red" Dependency)"
wait_state "$map" 120 COMPLETED FAILED CANCELLED || { show_logs "$TMP/basic"; fail "map job"; }
[ "$(state "$map")" = COMPLETED ] || { show_logs "$TMP/basic"; fail "map job $(state "$map")"; }
wait_state "$red" 60 COMPLETED FAILED CANCELLED || { show_logs "$TMP/basic"; fail "reduce job"; }
[ "$(state "$red")" = COMPLETED ] || { show_logs "$TMP/basic"; fail "reduce job $(state "$red")"; }
grep -q "2 ranks" "$TMP/basic/slurm/map-$map.out" || { show_logs "$TMP/basic"; fail "map did not run 2 ranks"; }
"$LM" status "$TMP/basic" >"$TMP/status.log" || fail "status"
cat "$TMP/status.log"
grep -q "^slurm: map job $map COMPLETED, exit 0:0" "$TMP/status.log" || fail "status: map state"
grep -q "^slurm: reduce job $red COMPLETED" "$TMP/status.log" || fail "status: reduce state"
grep -q "400/400 items done" "$TMP/status.log" || fail "status: totals"
every_key_once "$TMP/basic" 400
echo "ok 1: map $map + reduce $red completed in $((SECONDS - t0))s, 400 keys once"

# 2. SIGUSR1 to the batch shell mid-run: drain, self-requeue, resume.
t0=$SECONDS
write_job "$TMP/requeue.ini" requeue imgs "stages = decode,resize" "resolution = 64" \
    "job: max_chunk = 16"
"$LM" submit "$TMP/requeue.ini" --ntasks-per-node 2 --signal-seconds 60 --time 10 >/dev/null ||
    fail "submit (requeue)"
read -r map red <<<"$(ids "$TMP/requeue")"
n=$(mid_run "$TMP/requeue" "$map") ||
    { show_logs "$TMP/requeue"; fail "map job not seen mid-run (done '$n', state $(state "$map"))"; }
scancel --batch --signal=USR1 "$map" || fail "scancel --signal"
echo "signalled map job $map at $n/$N items"
for _ in $(seq 300); do
    [ "$(field "$map" Restarts)" = 1 ] && break
    sleep 0.2
done
[ "$(field "$map" Restarts)" = 1 ] || { show_logs "$TMP/requeue"; fail "map job not requeued"; }
[ "$(state "$red")" = PENDING ] || fail "reduce job $red left PENDING while the map was requeued: $(state "$red")"
wait_state "$map" 150 COMPLETED FAILED CANCELLED || { show_logs "$TMP/requeue"; fail "requeued map"; }
[ "$(state "$map")" = COMPLETED ] || { show_logs "$TMP/requeue"; fail "requeued map $(state "$map")"; }
wait_state "$red" 60 COMPLETED FAILED CANCELLED || { show_logs "$TMP/requeue"; fail "reduce after requeue"; }
[ "$(state "$red")" = COMPLETED ] || { show_logs "$TMP/requeue"; fail "reduce after requeue: $(state "$red")"; }
log=$TMP/requeue/slurm/map-$map.out
grep -q "SIGUSR1: forwarding" "$log" || { cat "$log"; fail "no forwarding note"; }
grep -q "drained (exit 3): requeued" "$log" || { cat "$log"; fail "no requeue note"; }
grep -q "restart 1," "$log" || { cat "$log"; fail "no restart 1 in the log"; }
grep -q "done earlier" "$log" || { cat "$log"; fail "second run did not resume"; }
[ "$(ls "$TMP/requeue/runs" | wc -l)" = 2 ] || fail "expected 2 runs: $(ls "$TMP/requeue/runs")"
"$LM" status "$TMP/requeue" | grep -q "map job $map COMPLETED, exit 0:0, restarts 1" ||
    fail "status does not show the restart: $("$LM" status "$TMP/requeue")"
every_key_once "$TMP/requeue" $N
echo "ok 2: signalled at $n/$N, requeued, resumed, reduce ran; $N keys once ($((SECONDS - t0))s)"

# 3. a failing map job: the reduce job never starts.
t0=$SECONDS
cp -r "$TMP/imgs" "$TMP/vanish"
write_job "$TMP/fail.ini" fail vanish "stages = decode,resize"
"$LM" submit "$TMP/fail.ini" --sbatch-arg=--hold >/dev/null || fail "submit (fail)"
read -r map red <<<"$(ids "$TMP/fail")"
rm -rf "$TMP/vanish"
scontrol release "$map" "$red" || fail "scontrol release"
wait_state "$map" 60 FAILED COMPLETED CANCELLED || { show_logs "$TMP/fail"; fail "failing map"; }
[ "$(state "$map")" = FAILED ] || { show_logs "$TMP/fail"; fail "map job $(state "$map"), expected FAILED"; }
[ "$(field "$map" ExitCode)" = 2:0 ] || fail "map exit code $(field "$map" ExitCode), expected 2:0"
wait_state "$red" 30 CANCELLED COMPLETED FAILED ||
    [ "$(field "$red" Reason)" = DependencyNeverSatisfied ] || fail "reduce job $(state "$red")"
[ "$(state "$red")" = CANCELLED ] || [ "$(field "$red" Reason)" = DependencyNeverSatisfied ] ||
    fail "reduce job $(state "$red") ($(field "$red" Reason))"
nl=$(field "$red" NodeList)
[ -z "$nl" ] || [ "$nl" = "(null)" ] || fail "reduce job was given node(s) '$nl': it started"
grep "^JobId=$red " "$CL/log/jobcomp.txt" | grep -q " NodeCnt=0 " ||
    fail "job completion record of the reduce job: $(grep "^JobId=$red " "$CL/log/jobcomp.txt")"
[ ! -e "$TMP/fail/slurm/reduce-$red.out" ] || fail "reduce job wrote output: it ran"
"$LM" status "$TMP/fail" >"$TMP/status.log"
grep -q "map job $map FAILED, exit 2:0" "$TMP/status.log" || { cat "$TMP/status.log"; fail "status (fail)"; }
grep -q "reduce job $red CANCELLED (DependencyNeverSatisfied)" "$TMP/status.log" ||
    { cat "$TMP/status.log"; fail "status (fail, reduce)"; }
echo "ok 3: map $map FAILED (exit 2), reduce $red $(state "$red") ($(field "$red" Reason)) without running ($((SECONDS - t0))s)"

# 4. mpirun inside the allocation instead of srun.
t0=$SECONDS
write_job "$TMP/mpirun.ini" mpirun imgs "stages = decode,resize" "resolution = 32"
sed -i 's/^path = imgs$/path = imgs\nlimit = 200/' "$TMP/mpirun.ini"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    "$LM" submit "$TMP/mpirun.ini" --launcher mpirun --ntasks-per-node 2 --no-reduce >/dev/null ||
    fail "submit (mpirun)"
read -r map red <<<"$(ids "$TMP/mpirun")"
[ -z "$red" ] || fail "--no-reduce submitted a reduce job"
wait_state "$map" 90 COMPLETED FAILED CANCELLED && [ "$(state "$map")" = COMPLETED ] ||
    { show_logs "$TMP/mpirun"; fail "mpirun map job $(state "$map")"; }
grep -q "2 ranks" "$TMP/mpirun/slurm/map-$map.out" || { show_logs "$TMP/mpirun"; fail "mpirun: not 2 ranks"; }
every_key_once "$TMP/mpirun" 200
echo "ok 4: mpirun launcher, 2 ranks, 200 keys once ($((SECONDS - t0))s)"

# 0 (continued): the time-limit job.
log=$TMP/timelimit-$tl.out
wait_state "$tl" 90 COMPLETED FAILED CANCELLED TIMEOUT || { cat "$log"; fail "time-limit job"; }
[ "$(state "$tl")" = COMPLETED ] || { cat "$log"; fail "time-limit job $(state "$tl")"; }
[ "$(field "$tl" Restarts)" = 1 ] || { cat "$log"; fail "time-limit job: restarts $(field "$tl" Restarts)"; }
for w in "SIGUSR1: forwarding" "fake-lm: SIGUSR1 after" "drained (exit 3): requeued" "restart 1," \
    "fake-lm: restarted (1): run $TMP/timelimit.ini --phase map"; do
    grep -qF "$w" "$log" || { cat "$log"; fail "time-limit job: no '$w' in its output"; }
done
echo "ok 0: --time=1 --signal=B:USR1@59: $(grep -o 'SIGUSR1 after [0-9]*s' "$log"), requeued," \
    "restarted, COMPLETED $((SECONDS - t_tl))s after submission"

# 5. preemption by a job in the higher-priority partition "urgent".
t0=$SECONDS
write_job "$TMP/preempt.ini" preempt imgs "stages = decode,resize" "resolution = 48" \
    "job: max_chunk = 16"
"$LM" submit "$TMP/preempt.ini" --ntasks-per-node 2 --no-reduce >/dev/null || fail "submit (preempt)"
read -r map red <<<"$(ids "$TMP/preempt")"
n=$(mid_run "$TMP/preempt" "$map") || { show_logs "$TMP/preempt"; fail "preempt: map not seen mid-run ('$n')"; }
urgent=$(sbatch --parsable -p urgent -n 3 -o "$TMP/urgent-%j.out" --wrap "sleep 1") || fail "urgent job"
echo "urgent job $urgent submitted while map job $map was at $n/$N"
wait_state "$urgent" 60 COMPLETED FAILED CANCELLED || { show_logs "$TMP/preempt"; fail "urgent job"; }
[ "$(field "$map" Restarts)" -ge 1 ] || { show_logs "$TMP/preempt"; fail "map job was not requeued"; }
wait_state "$map" 150 COMPLETED FAILED CANCELLED || { show_logs "$TMP/preempt"; fail "preempted map"; }
[ "$(state "$map")" = COMPLETED ] || { show_logs "$TMP/preempt"; fail "preempted map $(state "$map")"; }
log=$TMP/preempt/slurm/map-$map.out
grep -q "SIGUSR1: forwarding" "$log" || { cat "$log"; fail "preempt: no USR1 before the preemption"; }
grep -q "done earlier" "$log" || { cat "$log"; fail "preempt: the requeued run did not resume"; }
every_key_once "$TMP/preempt" $N
echo "ok 5: preempted at $n/$N, USR1 drain, requeued (restarts $(field "$map" Restarts)), $N keys once ($((SECONDS - t0))s)"

# Teardown leaves nothing behind.
"$CLUSTER" down "$CL" || fail "cluster down"
for f in run/slurmctld run/slurmd munge/run/munged; do
    p=$(cat "$CL/$f.pid" 2>/dev/null)
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "${f##*/}" &&
        fail "${f##*/} (pid $p) still running after down"
done
for p in $(pgrep -x slurmstepd); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" &&
        fail "slurmstepd $p of this cluster left behind"
done
echo "ok: cluster stopped, no daemon left"
