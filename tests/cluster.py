"""Real services for the cluster tests: a single-node SLURM cluster (munged + slurmctld +
slurmd) and a Dask scheduler with worker processes, started by the tests and stopped by pid.

SLURM design (the simplest that works in a root container without systemd):

- everything runs inside a private network namespace (`ip netns add mediocrity-<pid>`) that
  has only `lo`, with 127.0.0.2/32 added (slurm's own name lookup fails when 127.0.0.1 is
  the only IPv4 address). Nothing listens outside it, and its default ports (6817/6818)
  cannot clash with anything on the host. Processes enter it with
  `nsenter --net=/run/netns/NAME` (`ip netns exec` remounts /sys and slurmd then finds no
  cgroups);
- the configuration lives in a temporary directory, passed by `SLURM_CONF` to every client
  the tests start (sbatch, squeue, snakemake...). slurmd runs in a private mount namespace
  where that directory is bind-mounted on /etc/slurm: the Snakemake job step strips
  `SLURM_*` variables before its nested `srun`, which then reads /etc/slurm/slurm.conf;
- munged uses its own key, socket and pid file in the same directory;
- accounting is off (no slurmdbd), as on many small clusters: `sacct` fails, job status
  comes from `squeue` (MinJobAge=300 keeps finished jobs visible).

Use `slurm_cluster` (session fixture): `.run(*cmd)` / `.popen(*cmd)` run a command inside
the namespace with the cluster's environment. It skips, naming the reason, only where the
machine cannot provide the cluster (not root, a binary missing, no network namespaces).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import pytest

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo",
                  "srun", "ip", "nsenter", "unshare", "mount")


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM a process we started (by pid), SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def slurm_conf(root: Path, cpus: int, mem_mb: int) -> str:
    """slurm.conf of the single-node cluster: loopback only, no accounting, no cgroups."""
    host = socket.gethostname().split(".")[0]
    return f"""\
ClusterName=mediocrity
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=mednode NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=mednode Default=YES MaxTime=INFINITE State=UP
"""


def memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def why_no_slurm() -> str | None:
    """The reason this machine cannot host the test cluster, or None."""
    if sys.platform != "linux":
        return "the single-node SLURM test cluster needs Linux"
    if os.geteuid() != 0:
        return "the single-node SLURM test cluster needs root (network namespace, munged)"
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge "
                "iproute2 util-linux)")
    return None


class SlurmCluster:
    """munged + slurmctld + slurmd in network namespace `netns`, files under `root`."""

    def __init__(self, root: Path, netns: str):
        self.root, self.netns = root, netns
        self.conf = root / "etc" / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs: dict[str, subprocess.Popen] = {}
        self.cpus = os.cpu_count() or 1
        self.mem_mb = int(memory_mb() * 0.85)

    # -- running commands inside the cluster's namespace ------------------------------
    def command(self, *args) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *map(str, args)]

    def run(self, *args, check=True, timeout=600, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        run = subprocess.run(self.command(*args), env=kwargs.pop("env", self.env),
                             timeout=timeout, **kwargs)
        if check and run.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, args))} failed ({run.returncode}):\n"
                                 f"{(run.stdout or '')[-3000:]}{(run.stderr or '')[-3000:]}")
        return run

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=kwargs.pop("env", self.env), **kwargs)

    def jobs(self, states: str = "all") -> list[dict]:
        """Jobs slurmctld knows (finished ones for MinJobAge): id, name, state, reason."""
        out = self.run("squeue", "--noheader", f"--states={states}",
                       "--format=%i|%j|%T|%r").stdout
        return [dict(zip(("id", "name", "state", "reason"), line.split("|", 3)))
                for line in out.splitlines() if line.strip()]

    def active_jobs(self) -> list[dict]:
        return [j for j in self.jobs() if j["state"] in ("PENDING", "RUNNING", "CONFIGURING",
                                                          "COMPLETING", "SUSPENDED")]

    def wait_until_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.active_jobs() and time.monotonic() < deadline:
            time.sleep(0.5)

    # -- bringing it up and down --------------------------------------------------------
    def _ip(self, *args) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def start(self) -> None:
        root = self.root
        for sub in ("etc", "munge", "state", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "munge", 0o700)
        self.conf.write_text(slurm_conf(root, self.cpus, self.mem_mb))
        if Path("/etc/slurm/plugstack.conf").is_file():  # keep the host's SPANK config
            shutil.copy("/etc/slurm/plugstack.conf", root / "etc")
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)

        self._ip("netns", "add", self.netns)
        self._ip("-n", self.netns, "link", "set", "lo", "up")
        self._ip("-n", self.netns, "addr", "add", "127.0.0.2/32", "dev", "lo")

        log = root / "log"
        self._daemon("munged", "munged", "--foreground", "--force",
                     f"--key-file={key}", f"--socket={root}/munge/munge.socket",
                     f"--pid-file={root}/munge/munged.pid", f"--seed-file={root}/munge/seed",
                     f"--log-file={log}/munged.log")
        self._wait_for(lambda: (root / "munge" / "munge.socket").exists(), "munged", 10)
        self._daemon("slurmctld", "slurmctld", "-D", "-i")
        self._wait_for(lambda: self.run("scontrol", "ping", check=False).returncode == 0,
                       "slurmctld", 30)
        # slurmd in its own mount namespace where our config dir is /etc/slurm (see top)
        self._daemon("slurmd", "unshare", "--mount", "--propagation", "private", "sh", "-c",
                     f'mount --bind "{root}/etc" /etc/slurm && exec slurmd -D -N mednode')
        self._wait_for(self._node_idle, "slurmd", 30)

    def _node_idle(self) -> bool:
        run = self.run("sinfo", "--noheader", "--format=%T", check=False)
        return run.returncode == 0 and run.stdout.strip() == "idle"

    def _daemon(self, name: str, *args) -> None:
        out = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = self.popen(*args, stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def _wait_for(self, ready, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
        log = self.root / "log"
        raise RuntimeError(f"{name} did not come up in {timeout:.0f} s:\n"
                           f"{_tail(log / f'{name}.out')}\n{_tail(log / f'{name}.log')}")

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld, munged by pid; drop the netns."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--full", "--user", "root", check=False, timeout=30)
            self.wait_until_idle(30)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in self.procs:
                _stop(self.procs[name])
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM cluster (see the module docstring)."""
    reason = why_no_slurm()
    if reason:
        print(f"SKIP slurm: {reason}", file=sys.stderr)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="mediocrity-slurm-"))
    cluster = SlurmCluster(root, f"mediocrity-{os.getpid()}")
    try:
        try:
            cluster._ip("netns", "add", cluster.netns + "-probe")
            cluster._ip("netns", "delete", cluster.netns + "-probe")
        except subprocess.CalledProcessError as exc:
            reason = f"cannot create a network namespace here: {exc.stderr.strip()}"
            print(f"SKIP slurm: {reason}", file=sys.stderr)
            pytest.skip(reason)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- Dask --------------------------------------------------------------------------------
def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """`dask scheduler` and `dask worker --no-nanny` processes on 127.0.0.1 (so a worker's
    pid is the worker itself: kill -9 really kills it), stopped by pid."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                        MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")

    def _spawn(self, name: str, *args) -> subprocess.Popen:
        out = open(self.root / f"{name}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        out.close()
        return proc

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn("scheduler", "distributed.cli.dask_scheduler",
                                     "--host", "127.0.0.1", "--port", str(self.port),
                                     "--dashboard-address", f"127.0.0.1:{free_port()}",
                                     "--no-show")

    def start_worker(self, nthreads: int = 1) -> subprocess.Popen:
        n = len(self.workers)
        proc = self._spawn(f"worker{n}", "distributed.cli.dask_worker", self.address,
                           "--host", "127.0.0.1", "--nthreads", str(nthreads),
                           "--no-nanny", "--name", f"w{n}", "--no-dashboard",
                           "--local-directory", str(self.root / f"w{n}"))
        self.workers.append(proc)
        return proc

    def client(self, timeout: float = 60):
        from distributed import Client

        return Client(self.address, timeout=f"{timeout}s")

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        with self.client(timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in self.workers + ([self.scheduler] if self.scheduler else []):
            _stop(proc)


@pytest.fixture
def dask_processes(tmp_path):
    """Start with .start_scheduler() / .start_worker(); everything is stopped after."""
    procs = DaskProcesses(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


def main() -> None:
    """`python tests/cluster.py`: bring the single-node test cluster up by hand, print how
    to use it, keep it up until Ctrl-C (or SIGTERM), then stop it."""
    reason = why_no_slurm()
    if reason:
        raise SystemExit(f"cannot start the test cluster: {reason}")
    root = Path(tempfile.mkdtemp(prefix="mediocrity-slurm-"))
    cluster = SlurmCluster(root, f"mediocrity-{os.getpid()}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with &
    try:
        cluster.start()
        print(f"SLURM is up (munged, slurmctld, slurmd; logs in {root}/log). In a shell:\n"
              f"  export SLURM_CONF={cluster.conf}\n"
              f"  nsenter --net=/run/netns/{cluster.netns} bash   # sinfo, sbatch, snakemake...\n"
              "Ctrl-C here stops it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
