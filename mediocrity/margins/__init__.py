"""Margins study: two-layer ReLU networks f(x; W) = (1/sqrt m) sum_j a_j relu(w_j.x) trained
by gradient flow or SGD on the logistic loss, and their normalized margins (after Telgarsky,
ICLR 2023). `network`: the model, loss, gradient and measurements; `data`: the data sets;
`train`: the engines `run_gf`, `run_sgd`."""

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
