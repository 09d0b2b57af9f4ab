"""Where a cell's seeds run and how it is followed: BLAS pinned to one thread, Dask
schedulers (local threads, an existing scheduler, a dask_jobqueue SLURMCluster per job),
per-seed progress and the engine seconds of every cell, for every study."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from . import paths

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "GOTO_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


def single_thread_env() -> dict:
    """Environment that pins BLAS/OpenMP/numba pools to one thread: the only parallelism
    is Dask over seeds (and Snakemake over jobs)."""
    return {name: "1" for name in BLAS_THREAD_VARS}


def say(message: str) -> None:
    """One time-stamped line on stderr (a job's log)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", file=sys.stderr, flush=True)


class SeedProgress:
    """Dask local-scheduler callback: sums the seeds' own wall times (engine seconds) and
    logs seeds done/total and elapsed at every 10% and at least every 30 s. On a
    distributed scheduler the callback does not fire; `from_task_stream` then sums the
    compute times the workers measured themselves."""

    def __init__(self, label: str, total: int):
        from dask.callbacks import Callback

        self.label, self.total, self.done, self.engine_seconds = label, total, 0, 0.0
        self.started, self.t0, self.last_said = {}, time.perf_counter(), 0.0
        self.callback = Callback(pretask=self._pretask, posttask=self._posttask)

    def _pretask(self, key, dsk, state):
        self.started[key] = time.perf_counter()

    def _posttask(self, key, result, dsk, state, worker_id):
        name = key[0] if isinstance(key, tuple) else str(key)
        if not name.startswith("_run_seed"):  # a seed's run (of either study)
            return
        now = time.perf_counter()
        self.engine_seconds += now - self.started.pop(key)
        self.done += 1
        step = max(self.total // 10, 1)
        if self.done % step == 0 or self.done == self.total or now - self.last_said > 30:
            self.last_said = now
            say(f"{self.label}: seeds done {self.done}/{self.total}, "
                 f"elapsed {now - self.t0:.1f} s")

    def from_task_stream(self, records) -> None:
        """Engine seconds of the seed tasks from a distributed task stream (each record's
        compute start/stop is taken on its worker). A task recomputed after its worker
        died counts once: its last completed run."""
        last = {}
        for rec in records:
            key = rec.get("key")
            name = key[0] if isinstance(key, tuple) else str(key)
            if not str(name).startswith("_run_seed"):
                continue
            for ss in rec.get("startstops", ()):
                if ss.get("action") == "compute":
                    last[key] = ss["stop"] - ss["start"]
        self.engine_seconds = float(sum(last.values()))
        self.done = len(last)


def slurm_cluster_kwargs(dask_cfg: dict, log_dir: str | None = None) -> dict:
    """dask_jobqueue.SLURMCluster arguments: scheduler and dashboard on 127.0.0.1 unless
    an interface is named, BLAS pinned to one thread in the worker jobs, worker logs in
    `log_dir` (the results' logs/dask-workers, never the working directory)."""
    s = dask_cfg["slurm"]
    if s["interface"]:
        scheduler = {"interface": s["interface"], "dashboard_address": "127.0.0.1:0"}
    else:
        scheduler = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    return {"cores": s["cores"], "processes": s["processes"], "memory": s["memory"],
            "walltime": s["walltime"], "queue": s["queue"], "account": s["account"],
            "job_extra_directives": list(s["job_extra_directives"]),
            "scheduler_options": scheduler, "log_directory": log_dir,
            "job_script_prologue": [f"export {k}={v}" for k, v in single_thread_env().items()]}


WORKER_TIMEOUT = 300.0  # dask.slurm.worker_timeout default (schema)


def _slurm(*args: str, timeout: float = 30) -> str | None:
    """stdout of a SLURM client command, None if it is missing or fails."""
    import subprocess

    try:
        run = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout if run.returncode == 0 else None


def check_slurm_request(s: dict) -> None:
    """ValueError naming the dask.slurm key if the partition has no node that could ever
    run one worker job (cores per node, memory per node from sinfo). Silent when sinfo
    is unavailable: the worker timeout still guards."""
    from dask.utils import parse_bytes

    out = _slurm("sinfo", "--noheader", "--format=%P|%c|%m")
    if not out:
        return
    rows = [line.split("|") for line in out.split() if line.count("|") == 2]
    queue = s["queue"]
    rows = [r for r in rows if (r[0].rstrip("*") == queue if queue else r[0].endswith("*"))]
    if not rows:
        if queue:
            known = sorted({line.split("|")[0].rstrip("*") for line in out.split()})
            raise ValueError(f"dask.slurm.queue = {queue!r}: no such SLURM partition "
                             f"(sinfo lists {known})")
        return
    partition = rows[0][0].rstrip("*")

    def most(values):
        nums = [int(v.rstrip("+")) for v in values if v.rstrip("+").isdigit()]
        return max(nums) if nums else None

    cpus, mem_mb = most(r[1] for r in rows), most(r[2] for r in rows)
    if cpus is not None and s["cores"] > cpus:
        raise ValueError(
            f"dask.slurm.cores = {s['cores']}: partition {partition!r} has at most {cpus} "
            f"CPUs per node, so a Dask worker job could never start; lower "
            f"dask.slurm.cores (and dask.slurm.processes) or choose another dask.slurm.queue")
    need_mb = parse_bytes(s["memory"]) / 2**20
    if mem_mb is not None and mem_mb > 1 and need_mb > mem_mb:
        raise ValueError(
            f"dask.slurm.memory = {s['memory']!r} ({need_mb:.0f} MiB): partition "
            f"{partition!r} has at most {mem_mb} MiB per node, so a Dask worker job could "
            f"never start; lower dask.slurm.memory or choose another dask.slurm.queue")


def _job_ids(cluster) -> list[str]:
    return [str(w.job_id) for w in list(cluster.workers.values())
            if getattr(w, "job_id", None)]


def _pending_reasons(job_ids: list[str]) -> str:
    if not job_ids:
        return "no worker job was submitted"
    out = _slurm("squeue", "--noheader", "--format=%i %T %r", "--jobs", ",".join(job_ids))
    return "; ".join(line.strip() for line in (out or "").splitlines() if line.strip()) \
        or f"jobs {', '.join(job_ids)} not in squeue"


@contextmanager
def _terminate_raises():
    """SIGTERM (scancel, SLURM's time limit, Snakemake stopping its jobs) raises
    SystemExit in the main thread, so every `finally` below runs (cancels worker jobs)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scheduler_address(address) -> tuple[str, int]:
    """(host, port) of a tcp:// scheduler address; ValueError naming dask.address."""
    from urllib.parse import urlsplit

    if not address:
        raise ValueError("dask.scheduler = 'address' needs dask.address, e.g. "
                         "tcp://127.0.0.1:8786 (a running `dask scheduler`)")
    text = address if "://" in address else f"tcp://{address}"
    try:
        url = urlsplit(text)
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if url.scheme not in ("tcp", "tls") or not host or not port:
        raise ValueError(f"dask.address = {address!r}: expected tcp://HOST:PORT")
    return host, port


@contextmanager
def dask_scheduler(dask_cfg: dict, threads: int, log_dir: str | None = None):
    """Yield (scheduler for `simulate`, description): local threads sized to the job,
    a Client of an existing scheduler, or of a SLURMCluster started for this job (its
    worker jobs cancelled on every way out: success, error, Ctrl-C, SIGTERM)."""
    import dask

    kind = dask_cfg.get("scheduler", "local")
    if kind == "local":
        workers = dask_cfg.get("workers") or threads
        with dask.config.set(num_workers=workers):
            yield "threads", f"local threads x{workers}"
        return
    from distributed import Client

    timeout = float((dask_cfg.get("slurm") or {}).get("worker_timeout") or WORKER_TIMEOUT)
    if kind == "address":
        import socket

        address = dask_cfg.get("address")
        host, port = _scheduler_address(address)
        try:  # fail in seconds, not after Client's connect timeout
            socket.create_connection((host, port), timeout=10).close()
        except OSError as exc:
            raise RuntimeError(f"dask.address = {address!r}: no Dask scheduler reachable "
                               f"there ({exc}); start one (docs/pipeline.md) or use "
                               "dask.scheduler: local") from None
        with Client(address, timeout="30s") as client:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise RuntimeError(f"dask.address = {address!r}: no Dask worker connected "
                                   f"within {timeout:.0f} s (dask.slurm.worker_timeout)") from None
            yield client, f"scheduler {address}"
        return
    if kind != "slurm":
        raise ValueError(f"dask.scheduler = {kind!r}: allowed local, address, slurm")
    from dask_jobqueue import SLURMCluster

    check_slurm_request(dask_cfg["slurm"])
    n_jobs = dask_cfg.get("workers") or 1
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    with _terminate_raises():
        cluster = SLURMCluster(**slurm_cluster_kwargs(dask_cfg, log_dir))
        submitted: list[str] = []
        try:
            cluster.scale(jobs=n_jobs)
            with Client(cluster) as client:
                try:
                    client.wait_for_workers(1, timeout=timeout)
                except TimeoutError:
                    submitted = _job_ids(cluster)
                    s = dask_cfg["slurm"]
                    raise RuntimeError(
                        f"no Dask worker job started within dask.slurm.worker_timeout = "
                        f"{timeout:.0f} s (requested per job: dask.slurm.cores = "
                        f"{s['cores']}, dask.slurm.memory = {s['memory']!r}, "
                        f"dask.slurm.queue = {s['queue']!r}); SLURM says: "
                        f"{_pending_reasons(submitted)}. The worker jobs are cancelled."
                    ) from None
                submitted = _job_ids(cluster)
                jobs = ", ".join(submitted)
                yield client, f"SLURMCluster {cluster.scheduler_address} (jobs {jobs})"
        finally:
            submitted = sorted(set(submitted) | set(_job_ids(cluster)))
            try:
                cluster.close(timeout=30)
            finally:
                if submitted:  # close() cancels them too; make sure, whatever happened
                    _slurm("scancel", *submitted)


def map_seeds(label: str, n_seeds: int, run, out: str, threads: int = 1,
              dask_cfg: dict | None = None):
    """`run(scheduler)` -- a call that maps a cell's seeds over Dask and returns its
    Dataset -- on the configured scheduler, with progress; the Dataset gets the wall time,
    the engine seconds (the seeds' own run times, measured where they ran) and where they
    ran in its attrs. Every study's cells run through here."""
    log_dir = str(paths.dask_worker_logs(paths.results_of_cell(out)).resolve())
    t0 = time.perf_counter()
    with dask_scheduler(dask_cfg or {}, threads, log_dir) as (scheduler, where):
        say(f"{label}: {n_seeds} seeds on {where}, BLAS threads "
             f"{os.environ.get('OMP_NUM_THREADS', 'unpinned')}")
        progress = SeedProgress(label, n_seeds)
        if isinstance(scheduler, str):
            with progress.callback:
                ds = run(scheduler)
        else:
            from distributed import get_task_stream

            with get_task_stream(client=scheduler) as stream:
                ds = run(scheduler)
            progress.from_task_stream(stream.data)
            say(f"{label}: seeds done {n_seeds}/{n_seeds}, "
                 f"elapsed {time.perf_counter() - t0:.1f} s")
    wall = time.perf_counter() - t0
    ds.attrs.update(seconds_simulate=wall, seconds_engine=progress.engine_seconds or wall,
                    dask=where)
    return ds
