#!/usr/bin/env bash
# End-to-end registration benchmark on loopback, Kamailio against Kamailio: the peer
# that bench/registrations.py compares sipprofiled with (copied from the reference
# set-up in /work/shared/kamailio and made to run from this folder):
#   registrar instance (tests/kamailio/registrar.cfg, N subscribers in SQLite)
#   <- uac_reg peer instance (uacpeer.cfg, N rows in SQLite `uacreg`)
# usage: bench_uac.sh N
# env: REG_PORT, UAC_PORT (default: free loopback ports) REG_CHILDREN=4 UAC_CHILDREN=2
#      EXPIRES=3600 UDP_MAXBUF=4194304 (kamailio maxbuffer for both; 262144 = kamailio
#      default; capped by net.core.rmem_max) TIMEOUT=<s> (default 60 + N/20)
#      KAM_RUN_ROOT=DIR (default: a new temporary directory, removed afterwards unless
#      the run failed or KEEP=1) KEEP=1 (leave both instances running)
# Prints one summary line prefixed with "SUMMARY"; exit status 1 if fewer than N
# accounts registered.
set -euo pipefail
H=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
N=${1:?usage: bench_uac.sh N}
OWN_ROOT=0
if [ -z "${KAM_RUN_ROOT:-}" ]; then
  KAM_RUN_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/bench-uac.XXXXXX")
  OWN_ROOT=1
fi
export KAM_RUN_ROOT
RUN_ROOT=$KAM_RUN_ROOT
# free_port [tcp]: a loopback port free for UDP (and TCP too with "tcp")
free_port() {
  python3 - "${1:-}" <<'PY'
import socket, sys
for _ in range(100):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        if sys.argv[1] == "tcp":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        print(port)
        break
PY
}
REG_PORT=${REG_PORT:-$(free_port tcp)}
UAC_PORT=${UAC_PORT:-$(free_port)}
while [ "$UAC_PORT" = "$REG_PORT" ]; do UAC_PORT=$(free_port); done
EXPIRES=${EXPIRES:-3600}
TIMEOUT=${TIMEOUT:-$((60 + N / 20))}
REG=bench-reg
UAC=bench-uac
REGRUN=$RUN_ROOT/$REG
UACRUN=$RUN_ROOT/$UAC

now() { date +%s.%N; }
# cpu <mainpid>: "<user_s> <sys_s> <sched_s> <nproc>" summed over main + children
cpu() {
  local p pids u=0 s=0 ns=0 n=0 t
  pids="$1 $(ps -o pid= --ppid "$1" | tr '\n' ' ')"
  for p in $pids; do
    [ -r /proc/$p/stat ] || continue
    read -r -a st < <(sed 's/^.*) //' /proc/$p/stat)   # fields after "(comm) "
    u=$((u + st[11])); s=$((s + st[12])); n=$((n + 1))  # utime=14, stime=15
    for t in /proc/$p/task/*/schedstat; do ns=$((ns + $(cut -d' ' -f1 "$t"))); done
  done
  local hz; hz=$(getconf CLK_TCK)
  awk -v u="$u" -v s="$s" -v ns="$ns" -v n="$n" -v hz="$hz" \
    'BEGIN{printf "%.3f %.3f %.3f %d\n", u/hz, s/hz, ns/1e9, n}'
}
# mem <mainpid>: "<rss_sum_MB> <pss_sum_MB>"
mem() {
  local p pids
  pids="$1 $(ps -o pid= --ppid "$1" | tr '\n' ' ')"
  for p in $pids; do
    awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r, p}' /proc/$p/smaps_rollup 2>/dev/null || true
  done | awk '{r+=$1; p+=$2} END{printf "%.1f %.1f\n", r/1024, p/1024}'
}
regcount() {
  kamcmd -s "unix:$REGRUN/kamailio_ctl" stats.get_statistics location_contacts 2>/dev/null \
    | awk -F'= ' '/location_contacts/{print $2+0; found=1} END{if(!found) print -1}'
}
regcount_requests() {
  kamcmd -s "unix:$REGRUN/kamailio_ctl" stats.get_statistics rcv_requests_register 2>/dev/null \
    | awk -F'= ' '/rcv_requests_register/{print $2+0; found=1} END{if(!found) print -1}'
}
udp_rcvbuf_errors() { awk '/^Udp: [0-9]/{print $6}' /proc/net/snmp; }

cleanup() {
  local status=$?
  if [ "${KEEP:-0}" != 1 ]; then
    "$H/stop_instance.sh" "$UAC" >/dev/null 2>&1 || true
    "$H/stop_instance.sh" "$REG" >/dev/null 2>&1 || true
    if [ "$OWN_ROOT" = 1 ]; then
      if [ "$status" = 0 ]; then rm -rf "$RUN_ROOT"; else echo "bench_uac.sh: logs kept in $RUN_ROOT" >&2; fi
    fi
  else
    echo "bench_uac.sh: KEEP=1, instances still running in $RUN_ROOT" >&2
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

"$H/stop_instance.sh" "$UAC" >/dev/null 2>&1 || true
"$H/stop_instance.sh" "$REG" >/dev/null 2>&1 || true

# ---- 1. registrar with N subscribers userNNNNNN/passNNNNNN ----
T_SETUP0=$(now)
REGPID=$(USERS="" NUSERS=$N DBGLEVEL=1 CHILDREN=${REG_CHILDREN:-4} MIN_EXPIRES=60 \
  EXTRA_ARGS="-A UDP_MAXBUF=${UDP_MAXBUF:-4194304}" \
  "$H/start_registrar.sh" "$REG" "$REG_PORT")

# ---- 2. uac peer: uacreg table with N rows ----
mkdir -p "$UACRUN"
rm -f "$UACRUN/uac.sqlite" "$UACRUN/kamailio_ctl" "$UACRUN/kamailio_rpc.fifo" "$UACRUN/kamailio.pid"
{
  cat /usr/share/kamailio/db_sqlite/standard-create.sql
  cat /usr/share/kamailio/db_sqlite/uac-create.sql
  echo "BEGIN;"
  seq -f '%06g' 1 "$N" | awk -v rp="$REG_PORT" -v ex="$EXPIRES" '{
    printf "INSERT INTO uacreg(l_uuid,l_username,l_domain,r_username,r_domain,realm,auth_username,auth_password,auth_proxy,expires,flags,reg_delay,contact_addr,socket) VALUES(\x27u%s\x27,\x27user%s\x27,\x27local\x27,\x27user%s\x27,\x27127.0.0.1:%s\x27,\x27127.0.0.1\x27,\x27user%s\x27,\x27pass%s\x27,\x27sip:127.0.0.1:%s\x27,%d,0,0,\x27\x27,\x27\x27);\n",
      $1,$1,$1,rp,$1,$1,rp,ex }'
  echo "COMMIT;"
} | sqlite3 "$UACRUN/uac.sqlite"

# uac_reg loads the whole uacreg table into *private* (pkg) memory of one process at
# startup (db_sqlite has no incremental fetch): the 8 MB default fails at ~5000 rows
setsid kamailio -f "$H/uacpeer.cfg" -DD -E -Y "$UACRUN" -P "$UACRUN/kamailio.pid" \
  -m "${UAC_SHM_MB:-256}" -M "${UAC_PKG_MB:-64}" \
  -A "SIP_PORT=$UAC_PORT" -A "CONTACT_ADDR=\"127.0.0.1:$UAC_PORT\"" \
  -A "DBURL=\"sqlite://$UACRUN/uac.sqlite\"" -A "CTL_SOCK=\"unix:$UACRUN/kamailio_ctl\"" \
  -A "CHILDREN=${UAC_CHILDREN:-2}" -A "REG_ACTIVE=0" -A "UDP_MAXBUF=${UDP_MAXBUF:-4194304}" \
  >"$UACRUN/kamailio.log" 2>&1 </dev/null &
SPID=$!
for _ in $(seq 1 100); do
  kamcmd -s "unix:$UACRUN/kamailio_ctl" core.uptime >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { echo "uac peer failed to start:" >&2; tail -5 "$UACRUN/kamailio.log" >&2; exit 1; }
  sleep 0.1
done
UACPID=$(cat "$UACRUN/kamailio.pid")
T_SETUP1=$(now)
# records are loaded asynchronously after startup: wait (bounded) until the last row
# is in memory (cheap uac.reg_info instead of a full dump, to not inflate RSS)
LAST=$(printf 'u%06d' "$N"); LOADED=0
for _ in $(seq 1 40); do
  if kamcmd -s "unix:$UACRUN/kamailio_ctl" uac.reg_info l_uuid "$LAST" 2>/dev/null | grep -q "$LAST"; then
    LOADED=1; break
  fi
  sleep 0.5
done
if [ "$LOADED" -ne 1 ]; then
  echo "uac peer did not load its $N uacreg records; see $UACRUN/kamailio.log" >&2
  grep -m5 ERROR "$UACRUN/kamailio.log" >&2 || true
  exit 1
fi
sleep 1   # let both settle

# ---- 3. measure ----
read -r U0 S0 X0 NP_UAC < <(cpu "$UACPID")
read -r RU0 RS0 RX0 NP_REG < <(cpu "$REGPID")
E0=$(udp_rcvbuf_errors)
RQ0=$(regcount_requests)
T0=$(now)
kamcmd -s "unix:$UACRUN/kamailio_ctl" uac.reg_active 1 >/dev/null
TFIRST=""; TALL=""; C=0
MAXIT=$((TIMEOUT * 40))
for ((i = 0; i < MAXIT; i++)); do
  C=$(regcount)
  if [ -z "$TFIRST" ] && [ "$C" -gt 0 ]; then TFIRST=$(now); fi
  if [ "$C" -ge "$N" ]; then TALL=$(now); break; fi
  if [ -z "$TFIRST" ] && [ "$i" -gt 500 ]; then echo "nothing registered after 10 s" >&2; break; fi
  sleep 0.02
done
[ -n "$TALL" ] || TALL=$(now)
read -r U1 S1 X1 _ < <(cpu "$UACPID")
read -r RU1 RS1 RX1 _ < <(cpu "$REGPID")
E1=$(udp_rcvbuf_errors)
RQ1=$(regcount_requests)
read -r UAC_RSS UAC_PSS < <(mem "$UACPID")
read -r REG_RSS REG_PSS < <(mem "$REGPID")
read -r U_ALL S_ALL X_ALL _ < <(cpu "$UACPID")   # incl. startup + DB load
SHM_MAX=$(kamcmd -s "unix:$UACRUN/kamailio_ctl" core.shmmem m 2>/dev/null | awk '/max_used/{print $2}')
# uac-side view: records with the "registered" flag (4)
# (kamcmd/binrpc refuses replies this large -> use the JSON-RPC FIFO via kamctl)
ONLINE=$(RPCFIFOPATH="$UACRUN/kamailio_rpc.fifo" timeout 20 kamctl rpc uac.reg_dump 2>/dev/null \
  | awk -F'[:,]' '/"flags"/{if (int($2/4)%2==1) n++} END{print n+0}' || true)
# per-socket kernel drop counters (last column of /proc/net/udp)
drops() { awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" {print $NF}' /proc/net/udp; }
REG_DROPS=$(drops "$REG_PORT"); UAC_DROPS=$(drops "$UAC_PORT")

awk -v n="$N" -v c="$C" -v on="$ONLINE" -v t0="$T0" -v tf="${TFIRST:-$TALL}" -v ta="$TALL" \
  -v u0="$U0" -v s0="$S0" -v x0="$X0" -v u1="$U1" -v s1="$S1" -v x1="$X1" \
  -v ru0="$RU0" -v rs0="$RS0" -v rx0="$RX0" -v ru1="$RU1" -v rs1="$RS1" -v rx1="$RX1" \
  -v uall="$U_ALL" -v sall="$S_ALL" -v xall="$X_ALL" -v np="$NP_UAC" -v npr="$NP_REG" \
  -v rss="$UAC_RSS" -v pss="$UAC_PSS" -v shm="${SHM_MAX:-0}" -v rrss="$REG_RSS" -v rpss="$REG_PSS" \
  -v e="$((E1 - E0))" -v rq="$((RQ1 - RQ0))" -v rd="$REG_DROPS" -v ud="$UAC_DROPS" -v setup="$(awk -v a="$T_SETUP0" -v b="$T_SETUP1" 'BEGIN{print b-a}')" 'BEGIN{
  printf "SUMMARY N=%d registered=%d uac_online=%d wall_activate_to_all=%.3fs wall_first_to_all=%.3fs rate=%.0f/s ",
    n, c, on, ta-t0, ta-tf, (ta-tf>0 ? c/(ta-tf) : 0)
  printf "uac_cpu=%.3fs(user=%.2f sys=%.2f) uac_cpu_total_since_start=%.3fs uac_procs=%d uac_rss_sum=%.1fMB uac_pss=%.1fMB uac_shm_max_used=%dMB ",
    x1-x0, u1-u0, s1-s0, xall, np, rss, pss, shm
  printf "registrar_cpu=%.3fs registrar_registers=%d registrar_procs=%d registrar_pss=%.1fMB udp_rcvbuf_errors=%d(registrar_sock=%d uac_sock=%d) setup=%.1fs\n",
    rx1-rx0, rq, npr, rpss, e, rd, ud, setup
  if (c < n) exit 1
}'
