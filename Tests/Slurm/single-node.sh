#!/usr/bin/env bash
# A single-node Slurm in a scratch directory, for the Slurm test and the campaign
# benchmark: `single-node.sh start DIR PORT` starts munged (once per machine),
# slurmctld and slurmd with DIR/slurm.conf on PORT and PORT+1 and waits until the
# node is idle; `single-node.sh stop DIR` stops the two daemons by pid. Callers
# then use SLURM_CONF=DIR/slurm.conf. Needs root (SlurmUser=root) and Debian's
# slurm-wlm and munge.
set -euo pipefail
action=${1:?usage: single-node.sh start DIR PORT | stop DIR}
dir=${2:?usage: single-node.sh start DIR PORT | stop DIR}

if [ "$action" = stop ]; then
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -s "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  exit 0
fi
port=${3:?usage: single-node.sh start DIR PORT}

# munged, once per machine: its socket directory and key.
if ! munge -n >/dev/null 2>&1; then
  mkdir -p /run/munge /etc/munge /var/log/munge /var/lib/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown -R munge:munge /run/munge /etc/munge /var/log/munge /var/lib/munge
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
  sleep 1
fi
munge -n | unmunge >/dev/null || { echo "munged did not start" >&2; exit 1; }

mkdir -p "$dir/state" "$dir/spool" "$dir/log"
host=$(hostname -s)
cat > "$dir/slurm.conf" <<CONF
ClusterName=hpccloudtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld && /usr/sbin/slurmd || { tail -n 20 "$dir"/log/*.log >&2; exit 1; }
for _ in $(seq 1 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && exit 0
  sleep 0.5
done
echo "the Slurm node did not become idle" >&2
tail -n 20 "$dir"/log/*.log >&2
exit 1
