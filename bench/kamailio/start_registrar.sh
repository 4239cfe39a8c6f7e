#!/usr/bin/env bash
# Start a private Kamailio registrar on loopback (for bench_uac.sh).
#
# usage: KAM_RUN_ROOT=DIR start_registrar.sh NAME SIP_PORT
#   NAME      instance name -> runtime dir $KAM_RUN_ROOT/NAME
#   SIP_PORT  UDP+TCP port
# The configuration is the project's own registrar, tests/kamailio/registrar.cfg
# (REG_CFG=... to use another), the one tests/kamailio/registrar.py starts.
# env:
#   NUSERS=N        subscribers userNNNNNN / passNNNNNN for 1..N (plus USERS="u:p ...")
#   CHILDREN=4  DBGLEVEL=2  SHM_MB=128  MIN_EXPIRES=60  FLOW_TIMER=0  PATH_MODE=1
#   AUTH_QOP=1 (0 = no qop in challenges)   EXTRA_ARGS="-A FOO=1 ..."
# Prints the main PID; files in the runtime dir:
#   kamailio.pid  kamailio.log  kamailio_ctl (binrpc, kamcmd)  kamailio_rpc.fifo (kamctl)  kam.sqlite
set -euo pipefail
H=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REG_CFG=${REG_CFG:-$H/../../tests/kamailio/registrar.cfg}
RUN_ROOT=${KAM_RUN_ROOT:?KAM_RUN_ROOT must name the run root}
NAME=${1:?usage: start_registrar.sh NAME SIP_PORT}
PORT=${2:?usage: start_registrar.sh NAME SIP_PORT}
RUN=$RUN_ROOT/$NAME
mkdir -p "$RUN"
[ -r "$REG_CFG" ] || { echo "no registrar configuration at $REG_CFG" >&2; exit 1; }

if [ -s "$RUN/kamailio.pid" ] && kill -0 "$(cat "$RUN/kamailio.pid")" 2>/dev/null; then
  echo "instance $NAME already running (pid $(cat "$RUN/kamailio.pid"))" >&2
  exit 1
fi
rm -f "$RUN/kam.sqlite" "$RUN/kamailio_ctl" "$RUN/kamailio_rpc.fifo" "$RUN/kamailio.pid"

# ---- subscriber database (SQLite, schema shipped with kamailio-sqlite-modules) ----
DB=$RUN/kam.sqlite
{
  cat /usr/share/kamailio/db_sqlite/standard-create.sql
  cat /usr/share/kamailio/db_sqlite/auth_db-create.sql
  echo "BEGIN;"
  for up in ${USERS:-}; do
    echo "INSERT INTO subscriber(username,domain,password) VALUES('${up%%:*}','','${up#*:}');"
  done
  if [ "${NUSERS:-0}" -gt 0 ]; then
    seq -f '%06g' 1 "$NUSERS" | awk '{printf "INSERT INTO subscriber(username,domain,password) VALUES(\x27user%s\x27,\x27\x27,\x27pass%s\x27);\n",$1,$1}'
  fi
  echo "COMMIT;"
} | sqlite3 "$DB"

ARGS=(-f "$REG_CFG" -DD -E -Y "$RUN" -P "$RUN/kamailio.pid" -m "${SHM_MB:-128}"
  -A "SIP_PORT=$PORT"
  -A "DBURL=\"sqlite://$DB\"" -A "CTL_SOCK=\"unix:$RUN/kamailio_ctl\""
  -A "CHILDREN=${CHILDREN:-4}" -A "DBGLEVEL=${DBGLEVEL:-2}"
  -A "MIN_EXPIRES=${MIN_EXPIRES:-60}" -A "FLOW_TIMER=${FLOW_TIMER:-0}"
  -A "PATH_MODE=${PATH_MODE:-1}" -A "AUTH_QOP=${AUTH_QOP:-1}")
# shellcheck disable=SC2206
ARGS+=(${EXTRA_ARGS:-})

# -DD: stay in the foreground (no daemonizing), -E: log to stderr -> kamailio.log;
# setsid: a process group of its own, which stop_instance.sh can kill as a whole
setsid kamailio "${ARGS[@]}" >"$RUN/kamailio.log" 2>&1 </dev/null &
SPID=$!

# wait (bounded) until the binrpc control socket answers
for _ in $(seq 1 100); do
  if kamcmd -s "unix:$RUN/kamailio_ctl" core.uptime >/dev/null 2>&1; then
    cat "$RUN/kamailio.pid"
    exit 0
  fi
  kill -0 "$SPID" 2>/dev/null || break
  sleep 0.1
done
echo "kamailio $NAME failed to start; see $RUN/kamailio.log" >&2
tail -20 "$RUN/kamailio.log" >&2
kill -KILL -- "-$SPID" 2>/dev/null || true
exit 1
