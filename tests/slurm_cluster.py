"""A throwaway single-node Slurm on loopback, for tests.

`local_cluster(tmp)` starts munged (unless one already answers), slurmctld and slurmd from
Debian's packages as root, with state, spool, logs and PIDs under `tmp`, writes
/etc/slurm/slurm.conf and gres.conf (fake GPUs) after backing up any existing ones, waits
until `sinfo` shows the node idle, and yields a `Cluster`. On exit it cancels the cluster's
jobs, stops every daemon it started by its PID and restores /etc/slurm. A lock file keeps
two test runs on one machine from sharing /etc/slurm at the same time.

The config has to live at /etc/slurm: the Snakemake jobstep plugin strips SLURM_* variables
(SLURM_CONF too) before its inner `srun`. Where Slurm cannot run (not root, packages missing
and not installable, another Slurm already running here, a daemon that does not come up)
it raises `Unavailable`, whose message says why; tests turn that into a skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "slurmctld", "slurmd", "munge", "slurm-client")
BINARIES = (
    "munged",
    "munge",
    "unmunge",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "srun",
)
ETC = Path("/etc/slurm")
CONFIGS = ("slurm.conf", "gres.conf")
PARTITION = "debug"
LOCK = Path("/run/lock/revcor-slurm-test.lock")


class Unavailable(RuntimeError):
    """Slurm cannot run on this machine; the message says why."""


@dataclass
class Cluster:
    root: Path  # state, spool, logs
    node: str
    cpus: int
    memory_mb: int
    gpus: int
    partition: str = PARTITION
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)  # daemons we started

    def run(self, *cmd: str, check: bool = True) -> str:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check and result.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def job(self, jobid: str) -> dict[str, str]:
        """`scontrol show job` as a dict (a job stays visible for MinJobAge = 300 s after it ends)."""
        fields = {}
        for token in self.run("scontrol", "show", "job", "-o", str(jobid)).split():
            key, sep, value = token.partition("=")
            if sep and key not in fields:
                fields[key] = value
        return fields

    def log(self, daemon: str = "slurmctld") -> str:
        path = self.root / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _which_missing() -> list[str]:
    dirs = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return [b for b in BINARIES if shutil.which(b, path=dirs) is None]


def ensure_installed(install: bool = True) -> None:
    """Root, and the Slurm and munge binaries, installing Debian's packages when missing."""
    if os.name != "posix" or os.geteuid() != 0:
        raise Unavailable("not root: a local Slurm needs root (daemons, /etc/slurm/slurm.conf)")
    missing = _which_missing()
    if not missing:
        return
    if not install or shutil.which("apt-get") is None:
        raise Unavailable(
            f"Slurm binaries not found ({', '.join(missing)}) and no apt-get to install {' '.join(PACKAGES)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=300)
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    missing = _which_missing()
    if result.returncode or missing:
        raise Unavailable(
            f"could not install {' '.join(PACKAGES)} (missing: {', '.join(missing)}): {result.stderr.strip()[-500:]}"
        )


def _running(names: tuple[str, ...]) -> dict[int, str]:
    """PIDs of running processes with these command names."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                comm = (proc / "comm").read_text().strip()
            except OSError:
                continue
            if comm in names:
                found[int(proc.name)] = comm
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _munge_works() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        if cred.returncode:
            return False
        return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _wait(predicate, timeout: float, interval: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _node_state() -> str:
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else ""


def _try_lock(file) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def slurm_conf(root: Path, node: str, cpus: int, memory_mb: int, gpus: int) -> str:
    gres = f" Gres=gpu:{gpus}" if gpus else ""
    return f"""# written by tests/slurm_cluster.py for a test; the original is restored afterwards
ClusterName=revcortest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb}{gres} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def local_cluster(
    root: Path,
    cpus: int | None = None,
    memory_mb: int | None = None,
    gpus: int = 2,
    timeout: float = 60,
    install: bool = True,
) -> Iterator[Cluster]:
    """Start a single-node Slurm (partition `debug`, `gpus` fake GPUs), yield it, stop it."""
    ensure_installed(install)
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        if not _wait(lambda: _try_lock(lock), timeout=600, interval=2):
            raise Unavailable(f"another test's Slurm held {LOCK} for 10 minutes")
        with _cluster(Path(root), cpus, memory_mb, gpus, timeout) as cluster:
            yield cluster


@contextmanager
def _cluster(root: Path, cpus: int | None, memory_mb: int | None, gpus: int, timeout: float) -> Iterator[Cluster]:
    others = _running(("slurmctld", "slurmd", "slurmstepd"))
    if others:
        raise Unavailable(
            "Slurm already runs on this machine "
            f"({', '.join(f'{n} pid {p}' for p, n in sorted(others.items()))}); "
            "not replacing its /etc/slurm/slurm.conf"
        )
    for sub in ("state", "spool", "etc-backup"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = cpus or os.cpu_count() or 1
    if memory_mb is None:  # below what slurmd detects, or it drains the node
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 * 3 // 4
    cluster = Cluster(root, node, cpus, memory_mb, gpus)
    saved = set()
    ETC.mkdir(parents=True, exist_ok=True)
    try:
        for name in CONFIGS:
            if (ETC / name).exists():
                shutil.copy2(ETC / name, root / "etc-backup" / name)
                saved.add(name)
        (ETC / "slurm.conf").write_text(slurm_conf(root, node, cpus, memory_mb, gpus))
        # fake GPUs: empty files stand in for the device files (no cgroups here to open them)
        devices = [root / f"gpu{i}" for i in range(gpus)]
        for device in devices:
            device.touch()
        (ETC / "gres.conf").write_text("".join(f"NodeName={node} Name=gpu File={d}\n" for d in devices))

        if not _munge_works():
            if not Path("/etc/munge/munge.key").exists():
                raise Unavailable("no munge key at /etc/munge/munge.key (reinstall munge)")
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            with open(root / "munged.out", "w") as out:
                cluster.procs["munged"] = subprocess.Popen(
                    ["munged", "--foreground"],
                    user="munge",
                    group="munge",
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if not _wait(_munge_works, 15):
                raise Unavailable(f"munged did not start: {_tail(root / 'munged.out')}")

        with open(root / "slurmctld.out", "w") as out:
            cluster.procs["slurmctld"] = subprocess.Popen(
                ["slurmctld", "-D", "-c"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        slurmctld = cluster.procs["slurmctld"]
        if not _wait(
            lambda: (
                slurmctld.poll() is None
                and "UP" in subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10).stdout
            ),
            20,
        ):
            raise Unavailable(
                f"slurmctld did not start: {_tail(root / 'slurmctld.out')}\n{_tail(root / 'slurmctld.log')}"
            )

        with open(root / "slurmd.out", "w") as out:
            cluster.procs["slurmd"] = subprocess.Popen(
                ["slurmd", "-D"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        slurmd = cluster.procs["slurmd"]
        _wait(lambda: slurmd.poll() is not None or _node_state() in ("idle", "inval", "drain", "down"), timeout)
        if slurmd.poll() is not None:
            raise Unavailable(f"slurmd exited: {_tail(root / 'slurmd.out')}\n{_tail(root / 'slurmd.log')}")
        if (state := _node_state()) != "idle":
            reason = subprocess.run(
                ["sinfo", "-R", "-h", "-o", "%200E"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            raise Unavailable(
                f"node {node} not idle after up to {timeout:.0f} s (state {state!r}, "
                f"reason {reason!r}): {_tail(root / 'slurmd.log')}"
            )
        yield cluster
    finally:
        if "slurmctld" in cluster.procs and cluster.procs["slurmctld"].poll() is None:
            # only this cluster's jobs: the config points at our controller
            subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True, timeout=30)
            _wait(lambda: not _running(("slurmstepd",)), 15)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in cluster.procs:
                _stop(cluster.procs[name])
        for name in CONFIGS:
            if name in saved:
                shutil.copy2(root / "etc-backup" / name, ETC / name)
            else:
                (ETC / name).unlink(missing_ok=True)
