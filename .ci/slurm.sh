#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the tests of `fluidloss study submit` (tests/test_slurm.py):
# Debian's slurmctld, slurmd and munge, one node named after `hostname` with the machine's CPUs, jobs sharing the
# cores (one CPU per job by default). Run as root. Idempotent: a running cluster with this config is left as it is
# (a changed config is reloaded), so a second run returns at once.
set -euo pipefail
host=$(hostname)
if [ "$(id -u)" != 0 ]; then
    echo "run as root" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd munge slurm-client >/dev/null
fi
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge /etc/slurm /var/spool/slurmctld /var/spool/slurmd \
    /var/log/slurm
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none  # a random key
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
node=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
conf=$(cat <<EOF
ClusterName=fluidloss
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after cred_expire seconds (default 120)
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# jobs start within seconds of becoming eligible (a requeued job's begin time, a dependency met)
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=100000
# finished jobs stay visible (squeue -t all, scontrol requeue) for 10 minutes
MinJobAge=600
KillWait=10
InactiveLimit=0
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
if [ "$conf" != "$(cat /etc/slurm/slurm.conf 2>/dev/null)" ]; then
    printf '%s\n' "$conf" > /etc/slurm/slurm.conf
    if pgrep -x slurmctld >/dev/null; then scontrol reconfigure; fi
fi
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
