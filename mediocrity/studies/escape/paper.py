"""File-level glue of the paper stage: open the stores <results>/<exp>/{sweep, ode,
exit_times}.zarr, call measure / fit / figures, write <results>/paper/. The same as a
command line (`main_paper`), which the Snakemake rules (rules.smk) call:
`mediocrity paper {figure,fits,summary} ...` with explicit store paths."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import xarray as xr

from ...pipeline import paths
from . import figures, fit, measure

EXPERIMENTS = ("F1", "F2", "F3", "F4", "F5", "F6")
STORES = ("sweep", "exit_times", "ode")
FIT_EXPERIMENT = "F3"
SDE_EXPERIMENT = "F3sde"  # F3 carried to large d with the SDE: fitted and drawn with F3
FIT_EXPERIMENTS = (FIT_EXPERIMENT, SDE_EXPERIMENT)
SUMMARY_CELL = ("experiment", *measure.CELL_DIMS)
DEFAULT_OPTIONS = {"n_boot": 1000, "bootstrap_seed": 0, "plateau_t_from": None,
                   "fit_d_min": None, "fit_d_min_sde": None}


# -- paths and targets from the pipeline config ---------------------------------------
def store_path(results, experiment: str, name: str) -> Path:
    """<results>/<experiment>/<name>.zarr, name in STORES."""
    return Path(paths.store(results, experiment, name))


def store_inputs(config: dict, experiment: str) -> list[str]:
    """Paths of the stores of one configured experiment: sweep, exit_times, and ode when
    the experiment integrates the ODE (its `ode` flag)."""
    names = STORES if config["experiments"][experiment].get("ode", False) else STORES[:2]
    return [str(store_path(config["results"], experiment, n)) for n in names]


def fit_inputs(config: dict) -> list[str]:
    """exit_times.zarr of the configured FIT_EXPERIMENTS (F3, and F3sde if configured)."""
    return [str(store_path(config["results"], exp, "exit_times"))
            for exp in FIT_EXPERIMENTS if exp in config.get("experiments", {})]


def figure_inputs(config: dict, experiment: str) -> list[str]:
    """Stores a figure reads: `store_inputs`, and for F3 also F3sde's sweep and exit_times."""
    paths = store_inputs(config, experiment)
    if experiment == FIT_EXPERIMENT and SDE_EXPERIMENT in config.get("experiments", {}):
        paths += store_inputs(config, SDE_EXPERIMENT)[:2]
    return paths


def figure_experiments(config: dict) -> list[str]:
    """The paper figures (F1..F6) that the config defines an experiment for."""
    return [e for e in EXPERIMENTS if e in config.get("experiments", {})]


def options(config: dict) -> dict:
    """The paper options (config['paper'], each optional) over DEFAULT_OPTIONS."""
    return {**DEFAULT_OPTIONS, **config.get("paper", {})}


def targets(config: dict) -> list[str]:
    """Every final output of the paper stage under <results>/paper/."""
    out = paths.paper(config["results"])
    out_paths = [f"{out}/figures/{exp}.{ext}" for exp in figure_experiments(config)
             for ext in ("pdf", "png")]
    if FIT_EXPERIMENT in config.get("experiments", {}):
        out_paths += [f"{out}/fits.csv", f"{out}/fits.nc", f"{out}/numbers.tex",
                  f"{out}/engine_agreement.csv"]
    if config.get("experiments"):
        out_paths.append(f"{out}/summary.nc")
    out_paths += f7_outputs(config)
    return out_paths


def f7_outputs(config: dict) -> list[str]:
    """Outputs of the F7 rule (figure, its fit table, macros, per-cell table) when the
    config has F7 experiments (exponents.py)."""
    from .exponents import f7_experiments

    if not f7_experiments(config):
        return []
    out = paths.paper(config["results"])
    return [f"{out}/figures/F7.pdf", f"{out}/figures/F7.png", f"{out}/fits_F7.csv",
            f"{out}/numbers_F7.tex", f"{out}/cells_F7.csv"]


def group_stores(paths) -> dict[str, dict[str, Path]]:
    """{experiment: {store name: path}} from store paths <...>/<experiment>/<name>.zarr."""
    grouped: dict[str, dict[str, Path]] = {}
    for path in map(Path, paths):
        if path.suffix != ".zarr" or path.stem not in STORES:
            raise ValueError(f"{path}: expected <experiment>/<{'|'.join(STORES)}>.zarr")
        grouped.setdefault(path.parent.name, {})[path.stem] = path
    return grouped


# -- figures, fits, summaries -----------------------------------------------------------
def _open(stores: dict, name: str) -> xr.Dataset | None:
    """A store lazily opened, None if not given (e.g. no ode.zarr)."""
    return xr.open_zarr(stores[name]) if name in stores else None


def combine_engines(datasets) -> xr.Dataset:
    """Per-run variables (those with an engine dim) of several experiments' stores side by
    side along engine (outer join on d, p, gamma, noise, seed); attrs of the first.
    ValueError if two stores hold the same engine."""
    datasets = [ds for ds in datasets if ds is not None]
    engines = [str(e) for ds in datasets for e in ds.engine.values]
    if len(set(engines)) < len(engines):
        raise ValueError(f"engines {engines}: the same engine in two stores, cannot combine")
    parts = [ds[[name for name, var in ds.data_vars.items() if "engine" in var.dims]]
             for ds in datasets]
    out = xr.concat(parts, "engine", join="outer", combine_attrs="override")
    if "diverged" in out:
        out["diverged"] = out.diverged.fillna(False).astype(bool)
    if "escaped" in out:
        out["escaped"] = out.escaped.fillna(False).astype(bool)
    return out.assign_attrs(datasets[0].attrs)


def open_exit_times(paths) -> xr.Dataset:
    """exit_times.zarr stores (e.g. F3, F3sde), loaded and combined along engine; a single
    store is returned whole (theory variables included)."""
    stores = []
    for path in paths:
        with xr.open_zarr(path) as store:
            stores.append(store.load())
    thresholds = {float(s.attrs.get("threshold", 0.01)) for s in stores}
    if len(thresholds) > 1:
        raise ValueError(f"exit-time thresholds differ between {list(map(str, paths))}: "
                         f"{sorted(thresholds)}")
    return stores[0] if len(stores) == 1 else combine_engines(stores)


def make_figure(experiment: str, store_paths, fits_path=None, t_from: float | None = None):
    """The Figure of one experiment from its store paths (F3 also reads the fits, and the
    F3sde stores when given)."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment = {experiment!r}: allowed one of {EXPERIMENTS}")
    grouped = group_stores(store_paths)
    stores = grouped[experiment]
    sweep, ode = _open(stores, "sweep"), _open(stores, "ode")
    ode = None if ode is None else ode.load()
    if experiment == "F1":
        return figures.figure_f1(sweep.load(), ode)
    if experiment == "F6":
        return figures.figure_f6(sweep.load(), ode, t_from)
    exit_times = _open(stores, "exit_times").load()
    present = measure.runs_present(sweep).load()
    if experiment == "F3":
        if SDE_EXPERIMENT in grouped:
            extra = grouped[SDE_EXPERIMENT]
            exit_times = combine_engines([exit_times, _open(extra, "exit_times").load()])
            present = combine_engines(
                [present.to_dataset(), measure.runs_present(_open(extra, "sweep"))
                 .load().to_dataset()]).present
        with xr.open_dataset(fits_path) as fits:
            return figures.figure_f3(exit_times, fits.load(), present)
    return {"F2": figures.figure_f2, "F4": figures.figure_f4,
            "F5": figures.figure_f5}[experiment](exit_times, present)


def write_figure(experiment: str, stem, store_paths, fits_path=None,
                 t_from: float | None = None) -> list[Path]:
    """`make_figure` saved as stem.pdf and stem.png."""
    fig = make_figure(experiment, store_paths, fits_path, t_from)
    paths = figures.save_figure(fig, stem)
    print(f"{experiment}: wrote {', '.join(map(str, paths))}")
    return paths


def write_fits(exit_times_paths, csv, netcdf, tex, n_boot: int = 1000,
               bootstrap_seed: int = 0, d_min: float | None = None,
               d_min_sde: float | None = None, agreement=None, extra_csv=None,
               extra_tex=None) -> xr.Dataset:
    """Fit <t_ex> vs log d on one or more exit_times.zarr (F3, F3sde: combined along
    engine) per d range (`fit.fit_ranges`: exact engines d >= d_min, sde d >= d_min_sde,
    and both over their common d); write the CSV table, the netCDF Dataset, the LaTeX
    macros and, with `agreement`, the exact-vs-sde two-sample table (its macros go to
    the same .tex)."""
    paths = [exit_times_paths] if isinstance(exit_times_paths, (str, Path)) \
        else list(exit_times_paths)
    exit_times = open_exit_times(paths)
    ranges = fit.fit_ranges(exit_times, d_min, d_min_sde)
    fits = fit.fit_by_range(exit_times, ranges, n_boot=n_boot,
                            bootstrap_seed=bootstrap_seed)
    fits.attrs["source"] = " ".join(map(str, paths))
    table = fit.engine_agreement(exit_times)
    for path in (csv, netcdf, tex, *([agreement] if agreement else [])):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fit.write_fits_csv(fits, csv)
    fit.write_fits_netcdf(fits, netcdf)
    with open(tex, "w") as stream:
        stream.write(fit.latex_macros(fits) + fit.agreement_macros(table))
    if agreement:
        fit.write_agreement_csv(table, agreement)
    if extra_csv:  # other fit tables (F7): their rows appended, columns united
        import pandas as pd

        rows = [pd.read_csv(csv)] + [pd.read_csv(path) for path in extra_csv]
        pd.concat(rows, ignore_index=True).to_csv(csv, index=False, float_format="%.17g")
    for path in extra_tex or ():
        with open(tex, "a") as stream:
            stream.write(Path(path).read_text())
    print(f"fits of {', '.join(map(str, paths))}: {int((fits.n_d > 0).sum())} cells fitted "
          f"over d ranges {ranges}, theory slope inside the 95% interval for "
          f"{int(fits.slope_agrees.sum())}; {len(table)} exact-vs-sde comparisons; wrote "
          f"{csv}, {netcdf}, {tex}" + (f", {agreement}" if agreement else ""))
    return fits


def experiment_summary(experiment: str, stores: dict, t_from: float | None = None,
                       quantiles=measure.DEFAULT_QUANTILES) -> xr.Dataset:
    """`measure.cell_summary` of one experiment, flattened to one row per existing cell
    along dim `cell` (coords experiment, engine, d, p, gamma, noise, threshold, init)."""
    exit_times = _open(stores, "exit_times").load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells without runs -> NaN
        summary = measure.cell_summary(exit_times, _open(stores, "sweep"),
                                       _open(stores, "ode"), t_from, quantiles).compute()
    flat = summary.stack(cell=measure.CELL_DIMS).reset_index("cell")
    flat = flat.isel(cell=(flat.n_seeds > 0).values)
    size = flat.sizes["cell"]
    return flat.assign_coords(
        experiment=("cell", [experiment] * size),
        threshold=("cell", [float(exit_times.attrs.get("threshold", float("nan")))] * size),
        init=("cell", [str(exit_times.attrs.get("init", "unknown"))] * size))


INT32 = (-(2**31), 2**31 - 1)


def netcdf3_safe(ds: xr.Dataset) -> xr.Dataset:
    """ds with every integer variable or coordinate outside the int32 range (d = 1e12 of
    F3sde) as float64 (exact below 2**53): netCDF3, the format of the scipy backend, has
    no 64-bit integers."""
    wide = [name for name, var in ds.variables.items() if var.dtype.kind in "iu"
            and var.size and (int(var.min()) < INT32[0] or int(var.max()) > INT32[1])]
    return ds.assign_coords({n: ds[n].astype(float) for n in wide if n in ds.coords}).assign(
        {n: ds[n].astype(float) for n in wide if n not in ds.coords})


def write_summary(out, store_paths, t_from: float | None = None,
                  quantiles=measure.DEFAULT_QUANTILES) -> xr.Dataset:
    """Every experiment's per-cell summary in one netCDF file, one row per cell; select
    with `ds.set_index(cell=list(SUMMARY_CELL)).sel(experiment="F3", ...)`."""
    grouped = group_stores(store_paths)
    parts = [experiment_summary(exp, stores, t_from, quantiles)
             for exp, stores in grouped.items()]
    summary = xr.concat(parts, dim="cell", join="outer", combine_attrs="drop",
                        coords="different", compat="equals")
    summary.attrs = {
        "description": "per-cell measurements of the paper experiments (mediocrity.measure)",
        "cell_index": " ".join(SUMMARY_CELL),
        "experiments": " ".join(grouped),
        "t_from": "none (t >= t_max/2)" if t_from is None else float(t_from),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    netcdf3_safe(summary).to_netcdf(out)
    print(f"summary: {summary.sizes['cell']} cells of {', '.join(grouped)}; wrote {out}")
    return summary


# -- command line ------------------------------------------------------------------------
def main_paper(argv: list[str] | None = None) -> int:
    """`mediocrity paper figure F3 --stem S --stores P.. [--fits F]`, `... fits
    --exit-times P.. --csv --netcdf --tex [--d-min --d-min-sde --agreement A]`,
    `... summary --out O --stores P..`."""
    from ...pipeline.cli import add_bootstrap
    from .cli import check_paper_args

    parser = argparse.ArgumentParser(prog="mediocrity paper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("figure", help="render one paper figure to STEM.pdf and STEM.png")
    one.add_argument("experiment", choices=EXPERIMENTS,
                     help="F1..F6. F7 is not made here: `python -m "
                          "mediocrity.studies.escape.exponents --stem S --stores P.. --csv C "
                          "--tex T` makes it (rule paper_f7)")
    one.add_argument("--stem", required=True, help="output path without .pdf/.png")
    one.add_argument("--stores", nargs="+", required=True,
                     help="<experiment>/{sweep,exit_times,ode}.zarr")
    one.add_argument("--fits", help="fits.nc (needed by F3)")
    one.add_argument("--t-from", type=float, help="plateau window start (F6)")
    fits = sub.add_parser("fits", help="exit time vs log d fits: CSV, netCDF, LaTeX")
    fits.add_argument("--exit-times", required=True, nargs="+",
                      help="exit_times.zarr (several: combined along engine, e.g. F3 F3sde)")
    fits.add_argument("--csv", required=True, help="fit table (CSV, one row per fitted cell)")
    fits.add_argument("--netcdf", required=True, help="the same fits as netCDF (F3 reads it)")
    fits.add_argument("--tex", required=True, help="LaTeX macros of the fits")
    add_bootstrap(fits, DEFAULT_OPTIONS["n_boot"], DEFAULT_OPTIONS["bootstrap_seed"])
    fits.add_argument("--d-min", type=float, default=None,
                      help="fit the exact engines only over d >= D_MIN")
    fits.add_argument("--d-min-sde", type=float, default=None,
                      help="fit the sde engine only over d >= D_MIN_SDE")
    fits.add_argument("--agreement", help="CSV of the exact-vs-sde two-sample tests")
    fits.add_argument("--extra-csv", nargs="*", default=(),
                      help="fit tables whose rows are appended to --csv (F7)")
    fits.add_argument("--extra-tex", nargs="*", default=(),
                      help="macro files appended to --tex (F7)")
    summ = sub.add_parser("summary", help="per-cell measurement summaries to netCDF")
    summ.add_argument("--out", required=True, help="summary (netCDF)")
    summ.add_argument("--stores", nargs="+", required=True,
                      help="<experiment>/{sweep,exit_times,ode}.zarr of every experiment")
    summ.add_argument("--t-from", type=float, help="plateau window start (F6)")
    for command in sub.choices.values():
        command.add_argument("--allow-outside-results", action="store_true",
                             help="allow outputs outside ./results and outside the results "
                                  "tree of the input stores")
    args = parser.parse_args(argv)
    check_paper_args(args)  # inputs exist, numbers in range, outputs stay in results
    if args.command == "figure":
        write_figure(args.experiment, args.stem, args.stores, args.fits, args.t_from)
    elif args.command == "fits":
        write_fits(args.exit_times, args.csv, args.netcdf, args.tex, args.n_boot,
                   args.bootstrap_seed, args.d_min, args.d_min_sde, args.agreement,
                   args.extra_csv, args.extra_tex)
    else:
        write_summary(args.out, args.stores, args.t_from)
    return 0


if __name__ == "__main__":
    from ...pipeline.cli import guarded

    sys.exit(guarded("mediocrity paper", main_paper, sys.argv[1:]))
