#!/usr/bin/env bash
# Stop the daemons tests/slurm/up.sh started, by the PIDs it recorded (never by name).
# Jobs still running on the node end with slurmd. Leaves logs in the state dir.
set -uo pipefail

STATE=${TASKDIST_SLURM_STATE:-/tmp/taskdist-slurm}
PIDS=$STATE/started.pids

log() { echo "slurm-down: $*" >&2; }

if [ ! -s "$PIDS" ]; then
    log "nothing to stop ($PIDS is empty or missing)"
    exit 0
fi

# Stop in reverse start order: slurmd, slurmctld, munged.
mapfile -t entries < <(tac "$PIDS")
for entry in "${entries[@]}"; do
    read -r name pid <<<"$entry"
    [ -n "${pid:-}" ] || continue
    if ! kill -0 "$pid" 2>/dev/null || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]; then
        log "$name (pid $pid) already gone"
        continue
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    log "stopped $name (pid $pid)"
done
: >"$PIDS"
