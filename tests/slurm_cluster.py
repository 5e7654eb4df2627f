"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd started from
Debian's packages with a generated slurm.conf under a temporary state folder, and stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")


def missing() -> str | None:
    """Why no cluster can be started here (a program not installed, not root), or None."""
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test cluster's daemons run as root"
    return None


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path, host: str, cpus: int, memory_mb: int) -> str:
    """The cluster's slurm.conf: one node of ``cpus`` cores, one partition, no accounting."""
    return f"""ClusterName=espcntest
SlurmctldHost={host}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """The daemons of one test cluster; ``env`` is what a client command needs (SLURM_CONF)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: list[subprocess.Popen] = []
        self.munged_pid: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start the daemons, wait until the node is idle."""
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        key = self.folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        subprocess.run(
            [
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={self.folder / 'munge.socket'}",
                f"--pid-file={self.folder / 'munged.pid'}",
                f"--log-file={self.folder / 'munged.log'}",
                f"--seed-file={self.folder / 'munge.seed'}",
            ],
            check=True,
        )
        self.munged_pid = int((self.folder / "munged.pid").read_text())
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20) // 2
        host = socket.gethostname()
        self.conf.write_text(slurm_conf(self.folder, host, os.cpu_count() or 1, memory))
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.folder / f"{daemon}.out", "wb")  # noqa: SIM115 (closed with the daemon)
            self.processes.append(
                subprocess.Popen([daemon, "-D", "-f", str(self.conf)], stdout=log, stderr=log)
            )
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float) -> None:
        """Wait until the node takes jobs, or raise with the daemons' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T").stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        logs = "".join(
            (self.folder / f"{d}.log").read_text()[-1500:] for d in ("slurmctld", "slurmd")
        )
        raise RuntimeError(f"the test cluster's node is not idle after {timeout} s:\n{logs}")

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(command, env=self.env, capture_output=True, text=True)

    def jobs(self) -> list[str]:
        """The ids of the jobs queued or running now."""
        return self.run("squeue", "-h", "-o", "%i").stdout.split()

    def stop(self) -> None:
        """Cancel every job and stop what was started here, by PID."""
        self.run("scancel", "--full", "--user=root")
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.munged_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.munged_pid, signal.SIGTERM)
