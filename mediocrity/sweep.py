"""Sweep: the config grid as cells, one cell run and written, progress and status.

A cell is (experiment, engine, d, p, gamma, noise, seed chunk [start, stop)): one
Snakemake job. A cell's path under the results directory spells its identity; every
other result-affecting value is in its `cell_spec`. The ODE of an experiment (ode: true)
is one job over its (d, p, gamma, noise) grid: a fraction of a second per grid point.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import gammas, problem_for
from .models import DEFAULT as DEFAULT_MODEL

SIM_PATTERN = "{experiment}/cells/{engine}/d{d}_p{p}_g{gamma}_n{noise}_s{start}-{stop}.zarr"
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "GOTO_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
RUN_KEYS = ("init", "init_seed", "threshold", "t_min", "t_max", "saves_per_decade",
            "stop_after")
ODE_KEYS = (*RUN_KEYS, "d", "p", "gamma", "gamma_over_p", "gamma_over_critical", "noise",
            "gamma_d_exponent", "model")  # the last two only when configured


def fmt(x: float) -> str:
    """The path spelling of a grid value: 12 significant digits (0.1, 1e-05, 0)."""
    return f"{float(x):.12g}"


@dataclass(frozen=True, order=True)
class Cell:
    """One simulation job: seeds [start, stop) of one grid point and engine."""

    experiment: str
    engine: str
    d: int
    p: int
    gamma: float
    noise: float
    start: int
    stop: int

    def path(self, results: str) -> str:
        return f"{results}/" + SIM_PATTERN.format(
            experiment=self.experiment, engine=self.engine, d=self.d, p=self.p,
            gamma=fmt(self.gamma), noise=fmt(self.noise), start=self.start, stop=self.stop)


def seed_chunks(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) chunks of seeds 0..n-1, `size` each (the last one shorter)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def grid(exp: dict):
    """(d, p, gamma, noise) of every grid point of an experiment."""
    for d in exp["d"]:
        for p in exp["p"]:
            for noise in exp["noise"]:
                for gamma in gammas(exp, p, noise, d):
                    yield int(d), int(p), gamma, float(noise)


def experiment_cells(cfg: dict, name: str) -> list[Cell]:
    """Simulation cells of one experiment: engines x grid x seed chunks."""
    exp = cfg["experiments"][name]
    chunks = seed_chunks(exp["seeds"], cfg["seeds_per_job"])
    return [Cell(name, engine, d, p, gamma, noise, a, b) for engine in exp["engines"]
            for d, p, gamma, noise in grid(exp) for a, b in chunks]


def cell_from_wildcards(cfg: dict, wildcards) -> Cell:
    """The cell a rule's wildcards name; ValueError if it is not part of the config."""
    w = dict(wildcards)
    cell = Cell(w["experiment"], w["engine"], int(w["d"]), int(w["p"]), float(w["gamma"]),
                float(w["noise"]), int(w["start"]), int(w["stop"]))
    if w["experiment"] in cfg["experiments"] and cell in experiment_cells(cfg, w["experiment"]):
        return cell
    raise ValueError(f"{cell} is not a cell of the configured experiments")


def cell_spec(cfg: dict, cell: Cell) -> dict:
    """Everything that determines a cell's results (Snakemake reruns when it changes)."""
    exp = cfg["experiments"][cell.experiment]
    return {"experiment": cell.experiment, "engine": cell.engine, "d": cell.d, "p": cell.p,
            "gamma": cell.gamma, "noise": cell.noise, "seeds": [cell.start, cell.stop],
            "root_seed": cfg["root_seed"], **{k: exp[k] for k in RUN_KEYS},
            # the model only when it is not the default: existing cells keep their spec
            **({"model": exp["model"]} if exp.get("model", DEFAULT_MODEL) != DEFAULT_MODEL
               else {})}


def ode_spec(cfg: dict, name: str) -> dict:
    """Everything that determines an experiment's ODE store."""
    exp = cfg["experiments"][name]
    return {"experiment": name, "root_seed": cfg["root_seed"],
            **{k: exp[k] for k in ODE_KEYS if k in exp}}


def spec_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def problem_of(spec: dict):
    return problem_for(spec, spec["d"], spec["p"], spec["gamma"], spec["noise"])


# -- cost model (threads, SLURM runtimes, status estimates) ---------------------------
def modelled_seconds(spec: dict) -> float:
    """Rough single-core seconds of a cell: engine cost per step x steps to t_end, with
    t_end = 1.5 x theory exit time + stop_after when runs stop early (else t_max); for a
    model other than the default, 2.5 x its deterministic estimate
    (exponents.exit_time_estimate: the SGD noise slows k >= 3 by up to ~2x)."""
    from . import theory
    from .engines import step_cost_ns
    from .simulate import resolve_engine

    problem = problem_of(spec)
    t_end = problem.t_max
    if problem.stop_after is not None:
        if problem.model == DEFAULT_MODEL:
            factor, t_ex = 1.5, float(theory.exit_time_quenched(
                problem.d, problem.p, problem.gamma, problem.noise, problem.threshold))
        else:
            from .exponents import exit_time_estimate

            factor, t_ex = 2.5, exit_time_estimate(problem.model, problem.d,
                                                   problem.threshold)
        if math.isfinite(t_ex) and t_ex > 0:
            t_end = min(t_end, factor * t_ex + problem.stop_after)
    n_seeds = spec["seeds"][1] - spec["seeds"][0]
    try:
        ns = step_cost_ns(resolve_engine(problem, spec["engine"]), problem.d, problem.p)
        return n_seeds * ns * 1e-9 * t_end / problem.dt
    except ValueError:  # sde: Euler steps of TIME_STEP time units, ~(p + 1)^3 us each
        from .engines.sde import TIME_STEP

        return n_seeds * 1e-6 * (problem.p + 1) ** 3 * t_end / TIME_STEP


SMALL_CELL_SECONDS = 60.0


def cell_threads(spec: dict, max_threads: int) -> int:
    """Threads (= local Dask workers) of a cell: one for cells modelled under a minute
    (two such jobs side by side waste less on imports than one job using both cores),
    else max_threads."""
    return 1 if modelled_seconds(spec) < SMALL_CELL_SECONDS else max_threads


def runtime_minutes(spec: dict, threads: int) -> int:
    """SLURM runtime request of a cell: 3x the model, at least 10 minutes."""
    return max(10, math.ceil(3 * modelled_seconds(spec) / max(threads, 1) / 60))


# -- running one cell ------------------------------------------------------------------
def single_thread_env() -> dict:
    """Environment that pins BLAS/OpenMP/numba pools to one thread: the only parallelism
    is Dask over seeds (and Snakemake over jobs)."""
    return {name: "1" for name in BLAS_THREAD_VARS}


def _say(message: str) -> None:
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
            _say(f"{self.label}: seeds done {self.done}/{self.total}, "
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


def _results_dir(out: str) -> Path:
    """The results directory of a cell store path <results>/<SIM_PATTERN> (else the
    store's own directory)."""
    parents = Path(out).resolve().parents
    depth = SIM_PATTERN.count("/")
    return parents[depth] if len(parents) > depth else Path(out).resolve().parent


def map_seeds(label: str, n_seeds: int, run, out: str, threads: int = 1,
              dask_cfg: dict | None = None):
    """`run(scheduler)` -- a call that maps a cell's seeds over Dask and returns its
    Dataset -- on the configured scheduler, with progress; the Dataset gets the wall time,
    the engine seconds (the seeds' own run times, measured where they ran) and where they
    ran in its attrs. Both studies' cells run through here."""
    log_dir = str((_results_dir(out) / "logs" / "dask-workers").resolve())
    t0 = time.perf_counter()
    with dask_scheduler(dask_cfg or {}, threads, log_dir) as (scheduler, where):
        _say(f"{label}: {n_seeds} seeds on {where}, BLAS threads "
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
            _say(f"{label}: seeds done {n_seeds}/{n_seeds}, "
                 f"elapsed {time.perf_counter() - t0:.1f} s")
    wall = time.perf_counter() - t0
    ds.attrs.update(seconds_simulate=wall, seconds_engine=progress.engine_seconds or wall,
                    dask=where)
    return ds


def run_cell(spec: dict, out: str, threads: int = 1, dask_cfg: dict | None = None) -> None:
    """Simulate the seeds of one cell over Dask and write them atomically to `out`."""
    import numpy as np

    from .simulate import simulate
    from .store import write_atomic

    problem = problem_of(spec)
    seeds = list(range(*spec["seeds"]))
    label = (f"{spec['experiment']} {spec['engine']} d={spec['d']} p={spec['p']} "
             f"gamma={fmt(spec['gamma'])} noise={fmt(spec['noise'])} "
             f"seeds {spec['seeds'][0]}-{spec['seeds'][1]}")
    t0 = time.perf_counter()
    ds = map_seeds(label, len(seeds), lambda scheduler: simulate(
        problem, engine=spec["engine"], seeds=seeds, init=spec["init"],
        root_seed=spec["root_seed"], init_seed=spec["init_seed"], scheduler=scheduler),
        out, threads, dask_cfg)
    ds.attrs.update(experiment=spec["experiment"], cell_engine=spec["engine"])
    write_atomic(ds, out)
    _say(f"{label}: done in {time.perf_counter() - t0:.2f} s (simulate "
         f"{ds.attrs['seconds_simulate']:.2f} s, engine {ds.attrs['seconds_engine']:.2f} s "
         f"summed over seeds, {int(np.asarray(ds.diverged).sum())} diverged) -> {out}")


def run_ode(spec: dict, out: str, attrs: dict) -> None:
    """Integrate the ODE at every grid point of an experiment from the simulations' start
    (init fixed: the shared draw; random or annealed: m_j = 1/sqrt(d), Q = I) and write
    the ode store."""
    from .engines.registry import ode_flag_engine
    from .simulate import simulate
    from .store import ode_dataset, write_atomic

    t0, runs = time.perf_counter(), []
    points = list(grid(spec))
    init = "fixed" if spec["init"] == "fixed" else "annealed"
    for k, (d, p, gamma, noise) in enumerate(points, 1):
        problem = problem_for(spec, d, p, gamma, noise)
        runs.append(simulate(problem, engine=ode_flag_engine(), seeds=1, init=init,
                             root_seed=spec["root_seed"], init_seed=spec["init_seed"]))
        _say(f"{spec['experiment']} ode: {k}/{len(points)} grid points done (d={d} p={p} "
             f"gamma={fmt(gamma)} noise={fmt(noise)}), elapsed {time.perf_counter() - t0:.1f} s")
    write_atomic(ode_dataset(runs, attrs), out)
    _say(f"{spec['experiment']} ode: done in {time.perf_counter() - t0:.2f} s -> {out}")


# -- sweep-level status ----------------------------------------------------------------
def _stamp(fmt_: str, seconds: float) -> str:
    return time.strftime(fmt_, time.localtime(seconds))


def sweep_status(cfg: dict, cores: int = 1) -> str:
    """Cells done/total per experiment, when they were written, compute spent, and an
    estimate of what is left (cost model calibrated on the cells already done)."""
    import zarr

    from .margins import sweep as margins

    results = cfg["results"]
    lines, spent, done_model, todo_model, n_done, n_total, stamps = [], 0.0, 0.0, 0.0, 0, 0, []
    studies = [(name, experiment_cells(cfg, name), cell_spec, modelled_seconds,
                ["sweep", "exit_times"] + (["ode"] if exp["ode"] else []))
               for name, exp in cfg["experiments"].items()]
    studies += [(name, margins.experiment_cells(cfg, name), margins.cell_spec,
                 margins.modelled_seconds, ["sweep", "summary"])
                for name in cfg.get("margins", {})]
    for name, cells, spec_of, model_of, wanted in studies:
        done = 0
        for cell in cells:
            model = model_of(spec_of(cfg, cell))
            path = Path(cell.path(results))
            if (path / ".zmetadata").is_file():
                done += 1
                stamps.append(path.stat().st_mtime)
                spent += float(zarr.open_group(str(path), mode="r").attrs["seconds_engine"])
                done_model += model
            else:
                todo_model += model
        running = len(list(Path(results, name, "cells").glob("*/*.tmp-*")))
        merged = [f for f in wanted if Path(results, name, f"{f}.zarr", ".zmetadata").is_file()]
        lines.append(f"{name}: cells {done}/{len(cells)} done, {running} being written; "
                     f"stores {len(merged)}/{len(wanted)} ({', '.join(merged) or 'none'})")
        n_done, n_total = n_done + done, n_total + len(cells)
    scale = spent / done_model if done_model > 0 and spent > 0 else 1.0
    left = todo_model * scale
    when = (f"; written {_stamp('%Y-%m-%d %H:%M', min(stamps))} .. "
            f"{_stamp('%H:%M', max(stamps))} ({(max(stamps) - min(stamps)) / 60:.1f} min)"
            if stamps else "")
    lines.append(f"total: {n_done}/{n_total} cells done{when}; compute spent {spent:.1f} "
                 f"core-s; estimated left {left:.0f} core-s = "
                 f"{left / max(cores, 1) / 60:.1f} min on {cores} core(s) "
                 f"({'model calibrated on the done cells' if scale != 1.0 else 'cost model'})")
    return "\n".join(lines)
