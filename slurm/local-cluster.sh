#!/usr/bin/env bash
# slurm/local-cluster.sh - a real single-node Slurm cluster (munged, slurmctld,
# slurmd from Debian 12's slurm-wlm and munge packages) in one directory, as
# root, without systemd or cgroups. Used by tests/integration/test_slurm*.sh;
# handy for trying the sbatch templates on a workstation.
#
#   slurm/local-cluster.sh up DIR     start it; prints `export SLURM_CONF=...`
#   slurm/local-cluster.sh down DIR   cancel every job, stop the daemons
#   slurm/local-cluster.sh status DIR sinfo + squeue
#
# Every client (sbatch, srun, squeue, scontrol, latentmill submit/status)
# needs SLURM_CONF=DIR/etc/slurm.conf in its environment.
#
# Environment:
#   SLURM_LOCAL_CPUS   CPUs the node declares (default: nproc; may exceed it)
#   SLURM_LOCAL_PORT   slurmctld port; slurmd uses PORT+1 (default: the first
#                      free pair from 6817, so two clusters can coexist)
#
# Exit status of `up`: 0 running, 1 a daemon did not start (logs printed),
# 3 the packages are missing (message names them). `down` only signals the
# PIDs in DIR's pid files after checking their command line, so it never
# touches another cluster's daemons.
set -u

die() {
    echo "local-cluster: $*" >&2
    exit 1
}

# pid_of FILE NAME: the PID in FILE if it is alive and its command is NAME.
pid_of() {
    local f=$1 name=$2 p
    [ -f "$f" ] || return 1
    p=$(cat "$f" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$p/cmdline" | head -1 | grep -q "$name\$" || return 1
    echo "$p"
}

port_free() {
    ! (ss -Hltn 2>/dev/null | awk '{print $4}' | grep -Eq "[:.]$1\$")
}

stop_pid() { # FILE NAME: SIGTERM, wait up to 10 s, then SIGKILL
    local p
    p=$(pid_of "$1" "$2") || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 100); do
        [ -d "/proc/$p" ] || return 0
        sleep 0.1
    done
    echo "local-cluster: $2 (pid $p) ignored SIGTERM; SIGKILL" >&2
    kill -KILL "$p" 2>/dev/null
}

# Leftover slurmstepd processes of this cluster (they outlive slurmd).
stepds() {
    local p
    for p in $(pgrep -x slurmstepd); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$CONF" && echo "$p"
    done
}

cmd_down() {
    export SLURM_CONF=$CONF
    if pid_of "$D/run/slurmctld.pid" slurmctld >/dev/null; then
        local ids
        ids=$(squeue -h -o %i 2>/dev/null)
        [ -n "$ids" ] && echo "$ids" | xargs scancel 2>/dev/null
        for _ in $(seq 150); do
            [ -z "$(squeue -h -t PD,R,CG,S,CF,RQ,RS,SE -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_pid "$D/run/slurmd.pid" slurmd
    stop_pid "$D/run/slurmctld.pid" slurmctld
    local p
    for p in $(stepds); do kill -KILL "$p" 2>/dev/null; done
    stop_pid "$D/munge/run/munged.pid" munged
    return 0
}

cmd_up() {
    local missing="" c
    for c in munged mungekey slurmctld slurmd sbatch srun squeue scontrol sinfo; do
        command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
    done
    if [ -n "$missing" ]; then
        echo "local-cluster: missing commands:$missing (apt-get install slurm-wlm munge libpmix-dev)" >&2
        exit 3
    fi
    [ "$(id -u)" = 0 ] || die "must run as root (SlurmUser=root, munged as root)"
    PATH=$PATH:/usr/sbin:/sbin
    cmd_down >/dev/null 2>&1
    mkdir -p "$D"/{etc,run,log} "$D"/munge/{etc,run,lib,log} || die "cannot create $D"
    chmod 0755 "$D" "$D/munge" "$D/munge/run"
    chmod 0700 "$D/munge/etc" "$D/munge/lib" "$D/munge/log"
    rm -rf "$D/state" "$D/spool"
    mkdir -p "$D/state" "$D/spool"
    local key=$D/munge/etc/munge.key sock=$D/munge/run/munge.socket.2
    [ -f "$key" ] || mungekey --create --keyfile="$key" || die "mungekey failed"
    chmod 0600 "$key"
    munged --socket="$sock" --key-file="$key" --pid-file="$D/munge/run/munged.pid" \
        --log-file="$D/munge/log/munged.log" --seed-file="$D/munge/lib/munged.seed" ||
        { cat "$D/munge/log/munged.log" >&2; die "munged did not start"; }
    munge -n -S "$sock" | unmunge -S "$sock" >/dev/null ||
        { cat "$D/munge/log/munged.log" >&2; die "munge round trip failed"; }

    local host cpus mem port mpi=pmix
    host=$(hostname -s)
    cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
    [ -n "$mem" ] || mem=1024
    port=${SLURM_LOCAL_PORT:-}
    if [ -z "$port" ]; then
        for port in $(seq 6817 2 6917); do
            port_free "$port" && port_free $((port + 1)) && break
        done
    fi
    if ! ls /usr/lib/*/pmix2/lib/libpmix.so >/dev/null 2>&1; then
        echo "local-cluster: warning: libpmix.so (libpmix-dev) not found: MpiDefault=none," \
            "srun cannot start MPI programs" >&2
        mpi=none
    fi
    cat >"$CONF" <<EOF
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock,cred_expire=10
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
SlurmdParameters=config_overrides
MpiDefault=$mpi
JobRequeue=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
MinJobAge=600
KillWait=5
ReturnToService=2
EnforcePartLimits=ALL
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=10
PartitionName=urgent Nodes=ALL Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
    export SLURM_CONF=$CONF
    # Logs first, the reason last (callers show the last lines).
    fail_up() {
        tail -n 15 "$D/log/slurmctld.log" "$D/log/slurmd.log" >&2 2>/dev/null
        cmd_down >/dev/null 2>&1
        echo "local-cluster: $1 (logs in $D/log)" >&2
        exit 1
    }
    slurmctld -c || fail_up "slurmctld did not start"
    slurmd || fail_up "slurmd did not start"
    local state=""
    for _ in $(seq 300); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
        [ "$state" = idle ] && break
        sleep 0.1
        # A daemon that died (port taken, bad config) will not come back.
        pid_of "$D/run/slurmctld.pid" slurmctld >/dev/null ||
            fail_up "slurmctld exited: $(grep -E 'error|fatal' "$D/log/slurmctld.log" | tail -n 1)"
        pid_of "$D/run/slurmd.pid" slurmd >/dev/null ||
            fail_up "slurmd exited: $(grep -E 'error|fatal' "$D/log/slurmd.log" | tail -n 1)"
    done
    [ "$state" = idle ] || fail_up "node not idle after 30 s (state '$state')"
    echo "export SLURM_CONF=$CONF"
}

[ $# = 2 ] || die "usage: $0 up|down|status DIR"
mkdir -p "$2" || die "cannot create $2"
D=$(cd "$2" && pwd)
CONF=$D/etc/slurm.conf
case "$1" in
up) cmd_up ;;
down) cmd_down ;;
status)
    export SLURM_CONF=$CONF
    sinfo && squeue -t all
    ;;
*) die "usage: $0 up|down|status DIR" ;;
esac
