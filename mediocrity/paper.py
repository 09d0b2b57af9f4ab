"""File-level glue of the paper stage: open the stores <results>/<exp>/{sweep, ode,
exit_times}.zarr, call measure / fit / figures, write <results>/paper/. The same as a
command line (`main_paper`), which the Snakemake rules (workflow/rules/paper.smk) call:
`python -m mediocrity.paper {figure,fits,summary} ...` with explicit store paths."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import xarray as xr

from . import fit, figures, measure

EXPERIMENTS = ("F1", "F2", "F3", "F4", "F5", "F6")
STORES = ("sweep", "exit_times", "ode")
FIT_EXPERIMENT = "F3"
SUMMARY_CELL = ("experiment", *measure.CELL_DIMS)
DEFAULT_OPTIONS = {"n_boot": 1000, "bootstrap_seed": 0, "plateau_t_from": None,
                   "fit_d_min": None}


# -- paths and targets from the pipeline config ---------------------------------------
def store_path(results, experiment: str, name: str) -> Path:
    """<results>/<experiment>/<name>.zarr, name in STORES."""
    return Path(results) / experiment / f"{name}.zarr"


def store_inputs(config: dict, experiment: str) -> list[str]:
    """Paths of the stores of one configured experiment: sweep, exit_times, and ode when
    the experiment integrates the ODE (its `ode` flag)."""
    names = STORES if config["experiments"][experiment].get("ode", False) else STORES[:2]
    return [str(store_path(config.get("results", "results"), experiment, n)) for n in names]


def figure_experiments(config: dict) -> list[str]:
    """The paper figures (F1..F6) that the config defines an experiment for."""
    return [e for e in EXPERIMENTS if e in config.get("experiments", {})]


def options(config: dict) -> dict:
    """The paper options (config['paper'], each optional) over DEFAULT_OPTIONS."""
    return {**DEFAULT_OPTIONS, **config.get("paper", {})}


def targets(config: dict) -> list[str]:
    """Every final output of the paper stage under <results>/paper/."""
    out = f"{config.get('results', 'results')}/paper"
    paths = [f"{out}/figures/{exp}.{ext}" for exp in figure_experiments(config)
             for ext in ("pdf", "png")]
    if FIT_EXPERIMENT in config.get("experiments", {}):
        paths += [f"{out}/fits.csv", f"{out}/fits.nc", f"{out}/numbers.tex"]
    if config.get("experiments"):
        paths.append(f"{out}/summary.nc")
    return paths


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


def make_figure(experiment: str, store_paths, fits_path=None, t_from: float | None = None):
    """The Figure of one experiment from its store paths (F3 also reads the fits)."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment = {experiment!r}: allowed one of {EXPERIMENTS}")
    stores = group_stores(store_paths)[experiment]
    sweep, ode = _open(stores, "sweep"), _open(stores, "ode")
    ode = None if ode is None else ode.load()
    if experiment == "F1":
        return figures.figure_f1(sweep.load(), ode)
    if experiment == "F6":
        return figures.figure_f6(sweep.load(), ode, t_from)
    exit_times = _open(stores, "exit_times").load()
    present = measure.runs_present(sweep).load()
    if experiment == "F3":
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


def write_fits(exit_times_path, csv, netcdf, tex, n_boot: int = 1000,
               bootstrap_seed: int = 0, d_min: float | None = None) -> xr.Dataset:
    """Fit <t_ex> vs log d (over d >= d_min) on one exit_times.zarr; write the CSV table,
    the netCDF Dataset and the LaTeX macros."""
    with xr.open_zarr(exit_times_path) as store:
        exit_times = store.load()
    fits = fit.fit_exit_times(exit_times, n_boot=n_boot, bootstrap_seed=bootstrap_seed,
                              d_min=d_min)
    fits.attrs["source"] = str(exit_times_path)
    for path in (csv, netcdf, tex):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fit.write_fits_csv(fits, csv)
    fit.write_fits_netcdf(fits, netcdf)
    fit.write_latex_macros(fits, tex)
    print(f"fits of {exit_times_path}: {int((fits.n_d > 0).sum())} cells fitted, theory "
          f"slope inside the 95% interval for {int(fits.slope_agrees.sum())}; "
          f"wrote {csv}, {netcdf}, {tex}")
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
    summary.to_netcdf(out)
    print(f"summary: {summary.sizes['cell']} cells of {', '.join(grouped)}; wrote {out}")
    return summary


# -- command line ------------------------------------------------------------------------
def main_paper(argv: list[str] | None = None) -> int:
    """`mediocrity paper figure F3 --stem S --stores P.. [--fits F]`, `... fits
    --exit-times P --csv --netcdf --tex`, `... summary --out O --stores P..`."""
    parser = argparse.ArgumentParser(prog="mediocrity paper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("figure", help="render one paper figure to STEM.pdf and STEM.png")
    one.add_argument("experiment", choices=EXPERIMENTS)
    one.add_argument("--stem", required=True)
    one.add_argument("--stores", nargs="+", required=True,
                     help="<experiment>/{sweep,exit_times,ode}.zarr")
    one.add_argument("--fits", help="fits.nc (needed by F3)")
    one.add_argument("--t-from", type=float, help="plateau window start (F6)")
    fits = sub.add_parser("fits", help="exit time vs log d fits: CSV, netCDF, LaTeX")
    fits.add_argument("--exit-times", required=True, help="exit_times.zarr")
    fits.add_argument("--csv", required=True)
    fits.add_argument("--netcdf", required=True)
    fits.add_argument("--tex", required=True)
    fits.add_argument("--n-boot", type=int, default=DEFAULT_OPTIONS["n_boot"])
    fits.add_argument("--bootstrap-seed", type=int, default=DEFAULT_OPTIONS["bootstrap_seed"])
    fits.add_argument("--d-min", type=float, default=None, help="fit only d >= D_MIN")
    summ = sub.add_parser("summary", help="per-cell measurement summaries to netCDF")
    summ.add_argument("--out", required=True)
    summ.add_argument("--stores", nargs="+", required=True)
    summ.add_argument("--t-from", type=float)
    args = parser.parse_args(argv)
    if args.command == "figure":
        write_figure(args.experiment, args.stem, args.stores, args.fits, args.t_from)
    elif args.command == "fits":
        write_fits(args.exit_times, args.csv, args.netcdf, args.tex, args.n_boot,
                   args.bootstrap_seed, args.d_min)
    else:
        write_summary(args.out, args.stores, args.t_from)
    return 0


if __name__ == "__main__":
    sys.exit(main_paper())
