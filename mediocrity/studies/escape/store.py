"""Stores of the escape study: merging cells into the experiment stores of the data
contract, the exit-time table, and their metadata (written by
mediocrity.pipeline.stores.write_atomic).

Contract (per experiment, under <results>/<experiment>/):
  sweep.zarr       risk, m2 (engine, d, p, gamma, noise, seed, t); diverged (.. seed)
  ode.zarr         risk, m2 (d, p, gamma, noise, t)       [experiments with ode: true]
  exit_times.zarr  exit_time (engine, d, p, gamma, noise, seed); exit_time_ode,
                   theory_annealed, theory_quenched, theory_corrected, growth_rate
                   (d, p, gamma, noise)
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ... import theory
from ..._version import __version__
from ...exit_time import ESCAPE_DEPTH, escaped, exit_time
from ...pipeline.config import experiment_hash
from ...pipeline.stores import ZARR_FORMAT, open_store, write_atomic

CELL_DIMS = ("engine", "d", "p", "gamma", "noise")
__all__ = ["ZARR_FORMAT", "open_store", "write_atomic", "experiment_attrs", "merge_cells",
           "ode_dataset", "exit_time_table"]


def experiment_attrs(cfg: dict, name: str) -> dict:
    """Attributes of every store of an experiment (Zarr-safe: None -> 'none')."""
    exp = cfg["experiments"][name]
    attrs = {"experiment": name, "description": exp["description"],
             "config_hash": experiment_hash(cfg, "experiments", name), "root_seed": cfg["root_seed"],
             "mediocrity_version": __version__}
    for key in ("threshold", "init", "init_seed", "t_min", "t_max", "saves_per_decade",
                "stop_after", "seeds"):
        attrs[key] = "none" if exp[key] is None else exp[key]
    for key in ("model", "gamma_d_exponent"):  # only when configured
        if key in exp:
            attrs[key] = exp[key]
    return attrs


COORD_ATTRS = {
    "engine": {"long_name": "engine requested (auto = cheapest exact of gram/sgd)"},
    "d": {"long_name": "input dimension d"},
    "p": {"long_name": "hidden neurons p"},
    "gamma": {"long_name": "SGD step size gamma", "units": "1"},
    "noise": {"long_name": "label-noise variance Delta", "units": "1"},
    "seed": {"long_name": "seed index in the cell"},
    "t": {"long_name": "time t = steps gamma/(p d)", "units": "1"},
}
RISK_ATTRS = {"long_name": "excess population risk R(t) (label noise excluded); NaN where "
              "the cell does not exist or after an early stop", "units": "1"}
M2_ATTRS = {"long_name": "|M|^2 = sum_j m_j^2, squared teacher overlap", "units": "1"}


def _m2(cell: xr.Dataset) -> xr.DataArray:
    """|M|^2 over neurons, NaN wherever m is NaN."""
    return (cell.m ** 2).sum("neuron", skipna=False)


def _sorted_union(values) -> np.ndarray:
    return np.array(sorted(set(values)))


def _index(coord: np.ndarray) -> dict:
    return {v: i for i, v in enumerate(coord.tolist())}


def merge_cells(paths, out, attrs: dict, engines=None) -> None:
    """Merge simulation cell stores into the sweep store at `out`: NaN-filled arrays
    over the union of each coordinate, one Zarr chunk per (engine, d, p, gamma, noise).

    engines: order of the engine coordinate (default: sorted)."""
    cells = [xr.open_zarr(p).load() for p in paths]
    key = [(c.attrs["cell_engine"], int(c.attrs["d"]), int(c.attrs["p"]),
            float(c.attrs["gamma"]), float(c.attrs["noise"])) for c in cells]
    names = list(engines) if engines else sorted({k[0] for k in key})
    coords = {"engine": np.array(names), "d": _sorted_union(k[1] for k in key),
              "p": _sorted_union(k[2] for k in key),
              "gamma": _sorted_union(k[3] for k in key).astype(float),
              "noise": _sorted_union(k[4] for k in key).astype(float),
              "seed": _sorted_union(s for c in cells for s in c.seed.values.tolist()),
              "t": _sorted_union(t for c in cells for t in c.t.values.tolist())}
    index = {dim: _index(values) for dim, values in coords.items()}
    shape = tuple(len(v) for v in coords.values())
    risk = np.full(shape, np.nan)
    m2 = np.full(shape, np.nan)
    diverged = np.zeros(shape[:-1], dtype=bool)
    for c, k in zip(cells, key):
        at = tuple(index[dim][v] for dim, v in zip(CELL_DIMS, k))
        s = [index["seed"][v] for v in c.seed.values.tolist()]
        t = [index["t"][v] for v in c.t.values.tolist()]
        risk[at][np.ix_(s, t)] = c.risk.transpose("seed", "t").values
        m2[at][np.ix_(s, t)] = _m2(c).transpose("seed", "t").values
        diverged[at][s] = c.diverged.values
    dims = tuple(coords)
    ds = xr.Dataset(
        {"risk": (dims, risk, RISK_ATTRS), "m2": (dims, m2, M2_ATTRS),
         "diverged": (dims[:-1], diverged,
                      {"long_name": "run stopped on non-finite weights (False where the "
                       "cell does not exist)"})},
        coords={dim: (dim, v, COORD_ATTRS[dim]) for dim, v in coords.items()}, attrs=attrs)
    cell_chunk = (1,) * len(CELL_DIMS)
    encoding = {"risk": {"chunks": cell_chunk + shape[-2:]},
                "m2": {"chunks": cell_chunk + shape[-2:]},
                "diverged": {"chunks": cell_chunk + shape[-2:-1]}}
    write_atomic(ds, out, encoding)


def ode_dataset(runs, attrs: dict) -> xr.Dataset:
    """The ode store from ODE runs (outputs of simulate(engine='ode')): risk, m2 over
    (d, p, gamma, noise, t), NaN where a grid point does not exist."""
    parts = [xr.Dataset({"risk": r.risk, "m2": _m2(r)}).expand_dims(
        {dim: [r.attrs[dim]] for dim in CELL_DIMS[1:]}) for r in runs]
    ds = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop")
    ds = ds.transpose(*CELL_DIMS[1:], "t").sortby(list(CELL_DIMS[1:]))
    ds["risk"].attrs = dict(RISK_ATTRS, long_name="ODE risk R(t) from the simulations' start")
    ds["m2"].attrs = M2_ATTRS
    for dim in ds.dims:
        ds[dim].attrs = COORD_ATTRS[dim]
    start = ("the shared draw (init fixed)" if attrs["init"] == "fixed"
             else "the typical start m_j = 1/sqrt(d), Q = I")
    return ds.assign_attrs(attrs, ode_start=start)


def exit_time_table(sweep_path, out, ode_path=None) -> None:
    """Exit times of every run, of the ODE, and the theory, written to `out`.

    exit_time (engine, d, p, gamma, noise, seed): interpolated crossing of
    (1 - T) R(0), NaN if not crossed; escaped (same dims): `exit_time.escaped` with
    depth ESCAPE_DEPTH and hold = the experiment's stop_after (runs stopped early never
    get deep), False where a crossing was a plateau fluctuation or there is no run;
    theory_* (d, p, gamma, noise) from mediocrity.theory, NaN where the cell does not
    exist or lambda_p <= 0."""
    sweep = open_store(sweep_path).load()
    threshold = float(sweep.attrs["threshold"])
    t_ex = exit_time(sweep.risk, threshold).transpose(*CELL_DIMS, "seed")
    exists = sweep.risk.isel(t=0, drop=True).notnull().any(["engine", "seed"])
    d, p, gamma, noise = (sweep[dim].astype(float) for dim in CELL_DIMS[1:])
    rate = theory.growth_rate(p, gamma, noise)
    if sweep.attrs.get("model", "phase_retrieval") != "phase_retrieval":
        rate = xr.full_like(rate, np.nan)  # the closed-form theory is phase retrieval's
    escapes = exists & (rate > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log of negative -> masked anyway
        predictions = {
            "theory_annealed": theory.exit_time_annealed(d, p, gamma, noise, threshold),
            "theory_quenched": theory.exit_time_quenched(d, p, gamma, noise, threshold),
            "theory_corrected": theory.exit_time_corrected(d, p, gamma, noise, threshold),
        }
    ds = xr.Dataset({"exit_time": t_ex.assign_attrs(
        long_name=f"exit time: first t with R <= (1 - {threshold}) R(0), interpolated; NaN "
                  "if not crossed", units="1")})
    stop_after = sweep.attrs.get("stop_after", "none")
    hold = None if stop_after in (None, "none") else float(stop_after)
    # a real escape goes deeper than the threshold: ESCAPE_DEPTH, or halfway from the
    # threshold to 0 when the threshold is that deep already (F7: T = 0.5)
    depth = ESCAPE_DEPTH if threshold < ESCAPE_DEPTH else 0.5 * (1.0 + threshold)
    flag = escaped(sweep.risk, threshold, depth, hold).transpose(*CELL_DIMS, "seed")
    ds["escaped"] = flag.assign_attrs(flag.attrs, long_name=flag.attrs["long_name"]
                                      + " (mediocrity.exit_time.escaped)")
    if ode_path is not None:
        ode = open_store(ode_path).load()
        ode_t = exit_time(ode.risk, threshold).reindex_like(exists)
    else:
        ode_t = xr.full_like(exists, np.nan, dtype=float)
    ds["exit_time_ode"] = ode_t.where(exists).transpose(*CELL_DIMS[1:]).assign_attrs(
        long_name="exit time of the ODE from the simulations' start (NaN: no ODE)", units="1")
    labels = {"theory_annealed": "(log d + C_p)/(2 lambda_p), |M(0)|^2 = p/d",
              "theory_quenched": "<t_ex> over random starts d|M(0)|^2 ~ chi^2_p",
              "theory_corrected": "quenched + first-order SGD-noise shift"}
    for name, value in predictions.items():
        ds[name] = value.where(escapes).transpose(*CELL_DIMS[1:]).assign_attrs(
            long_name=f"theory exit time: {labels[name]}", units="1")
    ds["growth_rate"] = rate.where(exists).transpose(*CELL_DIMS[1:]).assign_attrs(
        long_name="lambda_p = 4 - 4 (gamma/p)(p^2 + p + 4)/p^2 - 2 gamma Delta/p", units="1")
    for dim in ds.dims:
        ds[dim].attrs = COORD_ATTRS[dim]
    ds.attrs = dict(sweep.attrs)
    write_atomic(ds, out)
