#!/usr/bin/env bash
# Stop an instance started by start_registrar.sh / bench_uac.sh: SIGTERM to the main
# process (it ends its workers), SIGKILL to its process group after 5 s.
# usage: KAM_RUN_ROOT=DIR stop_instance.sh NAME
set -uo pipefail
RUN_ROOT=${KAM_RUN_ROOT:?KAM_RUN_ROOT must name the run root}
NAME=${1:?usage: stop_instance.sh NAME}
PIDF=$RUN_ROOT/$NAME/kamailio.pid
[ -s "$PIDF" ] || { echo "no pid file for $NAME"; exit 0; }
PID=$(cat "$PIDF")
if kill -0 "$PID" 2>/dev/null; then
  kill -TERM "$PID"
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && { echo "forcing $NAME ($PID)"; kill -KILL -- "-$PID"; }
fi
rm -f "$PIDF"
echo "stopped $NAME ($PID)"
