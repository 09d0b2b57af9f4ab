"""The margins study (M1-M5): two-layer ReLU networks f(x; W) = (1/sqrt m) sum_j a_j
relu(w_j.x) trained by gradient flow or SGD on the logistic loss, and their normalized
margins (after Telgarsky, ICLR 2023).

Config section `margins`; cells (experiment, engine, d, m, n, k, separation, seed chunk)
-> <results>/<M>/{sweep,summary}.zarr -> figures M1-M5, fits_M?.csv, numbers_M?.tex
(rules.smk). `network`: the model, loss, gradient and measurements; `data`: the data
sets; `train`: the engines `run_gf`, `run_sgd` (records and cost models: `engines`)."""

from pathlib import Path

from ...pipeline.study import Study
from . import config, sweep

from .data import DATASETS, Sampler, collapse, collapse_centres, make_sampler, parity, sphere_xor
from .network import (directions, features, forward, gradient, init_network, loss, motion,
                      norm_gradient, norm_loss, normalized_margin, rotation, test_error, unit_angles,
                      weights)
from .train import SERIES, STOP_REASONS, prepare_run, run_gf, run_sgd, save_times, streams

__all__ = ["init_network", "forward", "loss", "gradient", "normalized_margin", "test_error",
           "motion", "rotation", "unit_angles", "directions", "features", "weights", "norm_loss",
           "norm_gradient", "parity", "collapse", "collapse_centres", "sphere_xor", "DATASETS",
           "Sampler", "make_sampler", "run_gf", "run_sgd", "save_times", "streams", "prepare_run",
           "SERIES", "STOP_REASONS"]


def _targets(cfg: dict) -> list[str]:
    from ...pipeline import paths
    from . import paper

    stores = [paths.store(cfg["results"], name, store) for name in cfg["margins"]
              for store in ("sweep", "summary")]
    return stores + paper.targets(cfg)


def _fit_tables(cfg: dict) -> list[str]:
    from . import paper

    return [p for p in paper.targets(cfg) if p.endswith((".csv", ".tex"))]


def _warmup() -> None:
    from .simulate import warmup

    warmup()


def _main(argv: list[str]) -> int:
    from .cli import main_margins

    return main_margins(argv)


STUDY = Study(
    name="margins", section="margins", directory=Path(__file__).parent,
    summary="the margins study's pipeline steps (M1-M5)",
    check=config.check, cells=sweep.experiment_cells, cell_spec=sweep.cell_spec,
    modelled_seconds=sweep.modelled_seconds, stores=lambda cfg, name: ["sweep", "summary"],
    targets=_targets, fit_tables=_fit_tables, warmup=_warmup, commands={"margins": _main})
