#!/usr/bin/env bash
# A real SLURM cluster (slurmctld + slurmd + slurmdbd/MariaDB accounting) on loopback, for the
# tests of the SLURM launch path: one node, or several (LALM_SLURM_NODES=2: one slurmd per node,
# all on this machine, nodes lalm-n1, lalm-n2, ...; a real multi-node cluster for `srun -N2`).
#
#   local_cluster.sh start  [STATE_DIR]   install missing packages (apt), configure, start, wait idle
#   local_cluster.sh stop   [STATE_DIR]   cancel jobs, stop the daemons by their pid files
#   local_cluster.sh status [STATE_DIR]   exit 0 when every daemon runs and the node answers
#
# Everything (config, spool, state, MariaDB datadir, logs, pid files) lives under STATE_DIR
# (default: $LALM_SLURM_STATE or ${TMPDIR:-/tmp}/lalm-slurm), so `rm -rf STATE_DIR` resets it.
# Clients find the cluster through SLURM_CONF: `source STATE_DIR/env.sh`.
# Ports: LALM_SLURM_PORT_BASE (default 6817) = slurmctld, +1 slurmd, +2 slurmdbd, +3 MariaDB,
# +4... the slurmd of nodes 2, 3, ... Several nodes: their names go into /etc/hosts (one line
# marked with the state dir, removed by `stop`): Lightning resolves the first node for DDP.
# CPUs: LALM_SLURM_CPUS (default 8) in all, spread over the nodes; GPUs: LALM_SLURM_GPUS per node
# (default 2) advertised as GRES (gpu) on links to /dev/null under STATE_DIR/dev: no real device,
# but SLURM allocates them and sets each task's CUDA_VISIBLE_DEVICES.
# Exit codes: 0 ok, 1 failure (logs named on stderr), 2 usage, 3 impossible here (not root,
# no apt, not Linux): callers skip on 3.
# Facts behind the choices: docs/slurm.md and the shared note slurm-on-one-machine.md
# (accounting is needed, or submitit waits forever on a cancelled job).
set -euo pipefail

CMD="${1:-}"
STATE="${2:-${LALM_SLURM_STATE:-${TMPDIR:-/tmp}/lalm-slurm}}"
PORT_BASE="${LALM_SLURM_PORT_BASE:-6817}"
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))
HOST="$(hostname -s)"
N_NODES="${LALM_SLURM_NODES:-1}"
if ((N_NODES > 1)); then
  NODES=(); for ((i = 1; i <= N_NODES; i++)); do NODES+=("lalm-n$i"); done
else
  NODES=("$HOST")  # one node: the machine itself
fi
# More CPUs than the machine has, so that several small jobs run at once (config_overrides).
TOTAL_CPUS="${LALM_SLURM_CPUS:-8}"
NODE_CPUS=$(((TOTAL_CPUS + N_NODES - 1) / N_NODES))
NODE_GPUS="${LALM_SLURM_GPUS:-2}"
HOSTS_MARK="# lalm-slurm test cluster $STATE"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
NEEDED_BINARIES=(munged slurmctld slurmd slurmdbd sbatch sacct mariadbd mariadb-install-db)
DAEMONS=(slurmctld slurmdbd mariadbd munged)  # and one slurmd per node

say() { echo "local_cluster: $*" >&2; }
die() { say "$*"; exit 1; }
cannot() { say "cannot run here: $*"; exit 3; }

pidfile() {  # pidfile DAEMON, or slurmd:NODE for a node's slurmd
  case "$1" in
    munged) echo "$STATE/munge/munged.pid" ;;
    mariadbd) echo "$STATE/mysql/run/mariadbd.pid" ;;
    slurmd:*) echo "$STATE/run/slurmd-${1#slurmd:}.pid" ;;
    *) echo "$STATE/run/$1.pid" ;;
  esac
}

pid_of() {  # prints the pid of a daemon of THIS cluster when it is alive
  local f; f="$(pidfile "$1")"
  [[ -s "$f" ]] || return 1
  local pid; pid="$(tr -dc '0-9' < "$f")"
  # a stale pid file may name a recycled pid: it must still be that daemon
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "${1%%:*}" ]] \
    && echo "$pid"
}

slurmd_daemons() {  # slurmd:NODE for every node whose slurmd left a pid file in this state dir
  local f
  for f in "$STATE"/run/slurmd-*.pid; do
    [[ -e "$f" ]] || continue
    f="${f##*/slurmd-}"
    echo "slurmd:${f%.pid}"
  done
}

slurmd_port() {  # slurmd_port NODE_INDEX (0-based)
  if (($1 == 0)); then echo "$SLURMD_PORT"; else echo $((PORT_BASE + 3 + $1)); fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_packages() {
  local missing=()
  for b in "${NEEDED_BINARIES[@]}"; do
    command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || missing+=("$b")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ "$(uname -s)" == Linux ]] || cannot "SLURM needs Linux"
  [[ $EUID -eq 0 ]] || cannot "missing ${missing[*]} and not root: install ${PACKAGES[*]} (apt) or run as root"
  command -v apt-get >/dev/null || cannot "missing ${missing[*]} and no apt-get: install ${PACKAGES[*]}"
  say "installing ${PACKAGES[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$STATE/apt.log" 2>&1 \
    && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$STATE/apt.log" 2>&1 \
    || die "apt-get install failed, see $STATE/apt.log"
}

write_configs() {
  local mem_mb
  mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4))
  mkdir -p "$STATE"/{etc,run,log,slurmctld,dev}
  local node i
  for node in "${NODES[@]}"; do mkdir -p "$STATE/slurmd-$node"; done
  # GPU "devices": SLURM wants character devices; /dev/null under the names gpu0, gpu1, ...
  # (the number is the device index SLURM puts into CUDA_VISIBLE_DEVICES)
  for ((i = 0; i < NODE_GPUS; i++)); do ln -sfn /dev/null "$STATE/dev/gpu$i"; done
  cat >"$STATE/etc/slurm.conf" <<EOF
# generated by tests/slurm/local_cluster.sh
ClusterName=lalm
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long before it starts again (default 120 s)
AuthInfo=socket=$STATE/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd-%n
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$STATE/run/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# the munge socket for the slurmdbd connection (AuthInfo does not cover it)
AccountingStoragePass=$STATE/munge/munge.socket
JobAcctGatherType=jobacct_gather/linux
# GPUs (GRES) in accounting too: sacct shows what each job got (AllocTRES)
AccountingStorageTRES=gres/gpu
JobRequeue=1
KillWait=5
MinJobAge=600
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=sched_interval=2
GresTypes=gpu
EOF
  i=0
  for node in "${NODES[@]}"; do
    local where="NodeAddr=127.0.0.1"
    ((N_NODES > 1)) && where="NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$(slurmd_port "$i")"
    echo "NodeName=$node $where CPUs=$NODE_CPUS RealMemory=$((mem_mb / N_NODES)) Gres=gpu:$NODE_GPUS State=UNKNOWN" \
      >>"$STATE/etc/slurm.conf"
    i=$((i + 1))
  done
  cat >>"$STATE/etc/slurm.conf" <<EOF
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=debug Nodes=ALL MaxTime=60 State=UP
EOF
  echo "Name=gpu File=$STATE/dev/gpu[0-$((NODE_GPUS - 1))]" >"$STATE/etc/gres.conf"
  (umask 077 && cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$(pidfile slurmdbd)
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  )
  echo "export SLURM_CONF=$STATE/etc/slurm.conf" >"$STATE/env.sh"
}

start_munge() {
  [[ -s /etc/munge/munge.key ]] || mungekey --create >/dev/null 2>&1 || die "no munge key"
  install -d -o munge -g munge -m 0755 "$STATE/munge"
  runuser -u munge -- munged --socket="$STATE/munge/munge.socket" \
    --pid-file="$(pidfile munged)" --log-file="$STATE/munge/munged.log" \
    --seed-file="$STATE/munge/munged.seed" \
    || die "munged did not start, see $STATE/munge/munged.log"
  wait_for 10 munge bash -c "munge -S '$STATE/munge/munge.socket' -n | unmunge -S '$STATE/munge/munge.socket'" \
    || die "munge does not answer, see $STATE/munge/munged.log"
}

start_mariadb() {
  local db="$STATE/mysql"
  install -d -o mysql -g mysql -m 0755 "$db" "$db/run"
  if [[ ! -d "$db/data/mysql" ]]; then
    mariadb-install-db --user=mysql --datadir="$db/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed, see $STATE/log/mariadb-install.log"
  fi
  # nohup + setsid: the server outlives this script and ignores the caller's terminal.
  setsid nohup mariadbd --no-defaults --user=mysql --datadir="$db/data" \
    --socket="$db/run/mysqld.sock" --pid-file="$(pidfile mariadbd)" \
    --log-error="$db/run/mariadbd.err" --bind-address=127.0.0.1 --port="$DB_PORT" \
    --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 >/dev/null 2>&1 </dev/null &
  wait_for 60 mariadb mariadb --socket="$db/run/mysqld.sock" -e "SELECT 1" \
    || die "MariaDB did not start, see $db/run/mariadbd.err"
  mariadb --socket="$db/run/mysqld.sock" <<'EOF'
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

add_hosts() {  # node names resolve to loopback (several nodes only)
  ((N_NODES > 1)) || return 0
  remove_hosts
  echo "127.0.0.1 ${NODES[*]} $HOSTS_MARK" >>/etc/hosts
}

remove_hosts() {  # in place: /etc/hosts may be a bind mount that cannot be replaced
  grep -qF "$HOSTS_MARK" /etc/hosts 2>/dev/null || return 0
  local kept; kept="$(grep -vF "$HOSTS_MARK" /etc/hosts)"
  printf '%s\n' "$kept" >/etc/hosts
}

nodes_idle() {  # every node of this cluster is idle
  [[ "$(sinfo -h -N -o %T | sort -u)" == idle ]] && (($(sinfo -h -N -o %N | sort -u | wc -l) == N_NODES))
}

start_slurm() {
  slurmdbd || die "slurmdbd did not start, see $STATE/log/slurmdbd.log"
  wait_for 30 slurmdbd port_open "$DBD_PORT" || die "slurmdbd does not listen, see $STATE/log/slurmdbd.log"
  slurmctld || die "slurmctld did not start, see $STATE/log/slurmctld.log"
  wait_for 30 slurmctld scontrol ping || die "slurmctld does not answer, see $STATE/log/slurmctld.log"
  add_hosts
  local node
  for node in "${NODES[@]}"; do
    slurmd -N "$node" || die "slurmd of node $node did not start, see $STATE/log/slurmd-$node.log"
  done
  wait_for 60 "idle nodes" nodes_idle \
    || die "nodes ${NODES[*]} not idle ($(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')), see $STATE/log/slurmd-*.log"
  # sacct must answer too: submitit reads job states through it.
  wait_for 30 sacct sacct -n -X -a || die "sacct fails, see $STATE/log/slurmdbd.log"
}

all_running() {
  local d
  for d in "${DAEMONS[@]}" "${NODES[@]/#/slurmd:}"; do pid_of "$d" >/dev/null || return 1; done
}

do_status() {
  export SLURM_CONF="$STATE/etc/slurm.conf"
  local ok=0 d
  for d in "${DAEMONS[@]}" $(slurmd_daemons); do
    if pid=$(pid_of "$d"); then echo "$d running (pid $pid)"; else echo "$d stopped"; ok=1; fi
  done
  ((ok == 0)) && sinfo -h -N -o "node %N %T" | sort -u && return 0
  return 1
}

do_stop() {
  export SLURM_CONF="$STATE/etc/slurm.conf"
  # Cancel jobs first: their slurmstepd processes would outlive slurmd otherwise.
  if pid_of slurmctld >/dev/null; then
    local jobs; jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      wait_for 20 "jobs cancelled" bash -c '[[ -z "$(squeue -h -o %i)" ]]' || say "jobs still listed"
    fi
  fi
  # Two waves (each daemon takes ~2 s to exit): SLURM first, then what it depends on.
  # shellcheck disable=SC2046
  stop_daemons $(slurmd_daemons) slurmctld
  stop_daemons slurmdbd mariadbd munged
  rm -f "$STATE"/run/*.pid
  remove_hosts
}

stop_daemons() {  # TERM the named daemons of this cluster, wait, KILL those that stay
  local pids=() d pid
  for d in "$@"; do pid=$(pid_of "$d") && kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); done
  for pid in "${pids[@]}"; do
    wait_for 15 "exit of $pid" bash -c "! kill -0 $pid" \
      || { say "pid $pid ignores TERM, killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  done
}

do_start() {
  mkdir -p "$STATE"
  # MariaDB and munge run as their own users: they must be able to enter the state dir.
  chmod 0755 "$STATE"
  ensure_packages
  [[ $EUID -eq 0 ]] || cannot "the daemons need root (SlurmUser=root, munge/mysql users)"
  if all_running; then say "already running in $STATE"; return 0; fi
  do_stop  # leftovers of a half-started cluster in this state dir
  local ports=("$CTLD_PORT" "$DBD_PORT" "$DB_PORT") i
  for ((i = 0; i < N_NODES; i++)); do ports+=("$(slurmd_port "$i")"); done
  for p in "${ports[@]}"; do
    port_free "$p" || die "port $p is in use (another cluster?): set LALM_SLURM_PORT_BASE"
  done
  runuser -u munge -- test -x "$STATE" \
    || die "users munge and mysql cannot enter $STATE (a parent dir is private): use a dir like /tmp/lalm-slurm"
  export SLURM_CONF="$STATE/etc/slurm.conf"
  write_configs
  # Whatever fails half-way, leave no daemon behind.
  trap 'rc=$?; if ((rc != 0)); then say "start failed, stopping what was started"; do_stop || true; fi' EXIT
  start_munge
  start_mariadb
  start_slurm
  trap - EXIT
  say "up: node(s) ${NODES[*]}, SLURM_CONF=$SLURM_CONF ($SECONDS s)"
}

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2 ;;
esac
