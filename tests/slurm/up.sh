#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on localhost for tests/test_slurm.py.
#
#   sudo bash tests/slurm/up.sh      # installs SLURM + munge with apt if missing
#   python -m pytest -m slurm        # the SLURM test
#   sudo bash tests/slurm/down.sh    # stops exactly the daemons this script started
#
# Needs root and Debian/Ubuntu packages (slurmctld slurmd slurm-client munge),
# no systemd. Writes /etc/slurm/slurm.conf (refuses to replace one it did not
# write) and keeps state, logs and the PIDs of the daemons it started in
# $TASKDIST_SLURM_STATE (default /tmp/taskdist-slurm). No slurmdbd: `sacct`
# does not work, so the profile polls job states with `squeue`.
set -euo pipefail

STATE=${TASKDIST_SLURM_STATE:-/tmp/taskdist-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by taskdist tests/slurm/up.sh"
PIDS=$STATE/started.pids # "name pid" per daemon this script started; down.sh reads it

log() { echo "slurm-up: $*" >&2; }
die() {
    log "$*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (installs packages, starts munged/slurmctld/slurmd)"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && cat "$1" || true; }

cluster_idle() { [ "$(sinfo -h -o %t 2>/dev/null | head -n1)" = idle ]; }
cluster_serving() { sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc|comp)'; } # up, maybe busy

# -- packages ---------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$STATE/ctld" "$STATE/d"
touch "$PIDS"

# Already up (a previous up.sh without down.sh)? Then there is nothing to do.
if [ -f "$CONF" ] && grep -qF "$MARKER" "$CONF" && cluster_serving; then
    log "cluster already up: $(sinfo -h -o '%P %D %t %c' | head -n1)"
    exit 0
fi

# -- slurm.conf -------------------------------------------------------------
if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; not replacing it"
fi
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
REAL_MB=$((MEM_MB - MEM_MB / 10 - 512)) # margin: slurmd refuses a node with less than configured
DEF_MB=$((REAL_MB / CPUS))
[ "$DEF_MB" -gt 1000 ] && DEF_MB=1000  # jobs that ask for nothing still share the node
mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARKER; tests/slurm/down.sh stops the daemons
ClusterName=taskdist
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MB
# Finished jobs stay visible to squeue for 5 minutes (no slurmdbd, no sacct).
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
log "wrote $CONF (node $NODE, $CPUS CPUs, RealMemory=$REAL_MB MB, DefMemPerCPU=$DEF_MB)"

# -- munge ------------------------------------------------------------------
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create; else create-munge-key -f; fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if alive "$(pid_of /run/munge/munged.pid)"; then
    log "munged already running (pid $(pid_of /run/munge/munged.pid)), not ours to stop"
else
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do alive "$(pid_of /run/munge/munged.pid)" && break; sleep 0.1; done
    alive "$(pid_of /run/munge/munged.pid)" || die "munged did not start (see /var/log/munge/munged.log)"
    echo "munged $(pid_of /run/munge/munged.pid)" >>"$PIDS"
fi
munge -n | unmunge >/dev/null || die "munge credentials do not round-trip"

# -- slurmctld, slurmd ------------------------------------------------------
start() { # name pidfile command...
    local name=$1 pidfile=$2
    shift 2
    if alive "$(pid_of "$pidfile")"; then
        log "$name already running (pid $(pid_of "$pidfile"))"
        return
    fi
    "$@" || die "$name failed to start (see $STATE/$name.log)"
    for _ in $(seq 100); do alive "$(pid_of "$pidfile")" && break; sleep 0.1; done
    alive "$(pid_of "$pidfile")" || die "$name did not start (see $STATE/$name.log)"
    echo "$name $(pid_of "$pidfile")" >>"$PIDS"
}
start slurmctld "$STATE/slurmctld.pid" slurmctld -c # -c: fresh state, no jobs from a previous cluster
start slurmd "$STATE/slurmd.pid" slurmd

for _ in $(seq 120); do
    cluster_idle && break
    sleep 0.5
done
if ! cluster_idle; then
    sinfo -N -l >&2 || true
    die "node not idle after 60 s (logs: $STATE/slurmctld.log, $STATE/slurmd.log)"
fi
log "cluster up: $(sinfo -h -o 'partition %P, %D node, %t, %c CPUs, %m MB' | head -n1)"
