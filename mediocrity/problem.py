"""One grid cell of the experiment: a frozen, validated description of the problem.

Time is measured as t = steps * gamma / (p * d) (docs/science.md §1); all engines save on
the shared log-spaced lattice t_k = 10**(k / saves_per_decade), plus t = 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real

import numpy as np

ACTIVATIONS = ("square",)
# Bounds that keep the machine alive: every step count fits in int64 with a
# margin of 2**10 (and is exact in a float64), and the save grid stays small.
D_MAX = 10**12
P_MAX = 10**5
STEPS_MAX = 2**53
T_RATIO_MAX = 1e15  # t_max / t_min: at most 15 decades of saves


class NoEscapeWarning(UserWarning):
    """gamma >= gamma_c: M = 0 is linearly stable, no escape from mediocrity expected."""


def short_repr(value, limit: int = 80) -> str:
    """repr(value), truncated to about `limit` characters without building the whole
    repr of a huge (or self-similar, e.g. a YAML anchor bomb) container first."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxset = 3, 6, 6, 6, 6
    r.maxstring, r.maxother, r.maxlong = limit, limit, limit
    try:
        text = r.repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())  # one line (numpy and xarray reprs span several)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"Problem.{name} = {short_repr(value)} is invalid: allowed {allowed}")


def is_int(x) -> bool:
    """An integer, not a bool (numpy integers included)."""
    return isinstance(x, Integral) and not isinstance(x, bool)


def is_real(x) -> bool:
    """A finite real number, not a bool."""
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Problem:
    """Online SGD of a p-neuron committee f(x) = (1/p) sum_j (w_j.x/sqrt d)^2 learning
    y = (w*.x/sqrt d)^2 + sqrt(noise) z with step size gamma, on the sphere |w_j|^2 = d.

    d: input dimension (>= 2); p: number of hidden neurons (>= 1); gamma: SGD step size
    (> 0); noise: label-noise variance Delta (>= 0); threshold: T of the exit time, the
    first t with R(t) <= (1 - T) R(0) (0 < T < 1); t_min, t_max: first and last
    non-zero save time (time units t = steps gamma/(p d)); saves_per_decade: density of
    the shared log-spaced save grid; stop_after: stop this long (time units) after the
    exit threshold was first seen crossed at a save, None to always run to t_max;
    activation: student and teacher activation (only "square"); spherical: project
    each w_j back to the sphere after each step (only True); model: what is learned,
    target and activation, a name of mediocrity.models.available() (default
    "phase_retrieval": y = z^2, sigma(x) = x^2, the problem described above).
    """

    d: int
    p: int
    gamma: float
    noise: float = 0.0
    threshold: float = 0.01
    t_max: float = 10.0
    t_min: float = 1e-3
    saves_per_decade: int = 40
    stop_after: float | None = None
    activation: str = "square"
    spherical: bool = True
    model: str = "phase_retrieval"

    def __post_init__(self) -> None:
        _require(is_int(self.d) and 2 <= self.d <= D_MAX, "d", self.d,
                 f"an integer in [2, {D_MAX:.0e}]")
        _require(is_int(self.p) and 1 <= self.p <= P_MAX, "p", self.p,
                 f"an integer in [1, {P_MAX:.0e}]")
        _require(is_real(self.gamma) and self.gamma > 0, "gamma", self.gamma,
                 "a finite number > 0")
        _require(is_real(self.noise) and self.noise >= 0, "noise", self.noise,
                 "a finite number >= 0")
        _require(is_real(self.threshold) and 0 < self.threshold < 1, "threshold",
                 self.threshold, "a number in (0, 1)")
        _require(is_real(self.t_min) and self.t_min > 0, "t_min", self.t_min,
                 "a finite number > 0")
        _require(is_real(self.t_max) and self.t_max > self.t_min, "t_max", self.t_max,
                 f"a finite number > t_min = {self.t_min!r}")
        _require(self.t_max <= T_RATIO_MAX * self.t_min, "t_max", self.t_max,
                 f"at most {T_RATIO_MAX:.0e} x t_min = {self.t_min!r} (size of the save "
                 "grid)")
        _require(is_int(self.saves_per_decade) and 1 <= self.saves_per_decade <= 1000,
                 "saves_per_decade", self.saves_per_decade, "an integer in [1, 1000]")
        _require(self.stop_after is None
                 or (is_real(self.stop_after) and self.stop_after >= 0),
                 "stop_after", self.stop_after, "None or a finite number >= 0")
        _require(self.activation in ACTIVATIONS, "activation", self.activation,
                 f"one of {ACTIVATIONS}")
        _require(self.spherical is True, "spherical", self.spherical,
                 "True (the unconstrained dynamics is not implemented)")
        from . import models

        _require(isinstance(self.model, str) and self.model in models.available(), "model",
                 self.model, f"one of {', '.join(models.available())}")
        # Plain Python scalars, so that attrs, hashing and numba see one type.
        for name in ("d", "p", "saves_per_decade"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("gamma", "noise", "threshold", "t_max", "t_min"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.stop_after is not None:
            object.__setattr__(self, "stop_after", float(self.stop_after))

        from .theory import critical_gamma

        gamma_c = float(critical_gamma(self.p, self.noise))
        if self.model == models.DEFAULT and self.gamma >= gamma_c:
            warnings.warn(
                f"gamma = {self.gamma} >= gamma_c = {gamma_c:.4g} for p = {self.p}, "
                f"noise = {self.noise}: M = 0 is stable, no escape from mediocrity "
                "is expected (running anyway)", NoEscapeWarning, stacklevel=3)

    # -- time grid ---------------------------------------------------------------------
    @property
    def dt(self) -> float:
        """Time of one SGD step, gamma / (p d)."""
        return self.gamma / (self.p * self.d)

    def time_grid(self) -> np.ndarray:
        """Save times: 0, then 10**(k/saves_per_decade) from t_min up to the first lattice
        point >= t_max (the lattice is shared by every cell, so cells merge on t)."""
        n = self.saves_per_decade
        k0 = math.ceil(n * math.log10(self.t_min) - 1e-9)
        k1 = math.ceil(n * math.log10(self.t_max) - 1e-9)
        return np.concatenate([[0.0], 10.0 ** (np.arange(k0, k1 + 1) / n)])

    def max_steps(self) -> float:
        """SGD steps to the last save (a float: may exceed int64 for absurd inputs)."""
        return float(self.time_grid()[-1]) * self.p * self.d / self.gamma

    def check_steps(self) -> None:
        """ValueError naming t_max unless the step counts of the sgd/gram engines fit in
        int64 with a wide margin (<= STEPS_MAX = 2**53, exact as floats too)."""
        steps = self.max_steps()
        _require(steps <= STEPS_MAX, "t_max", self.t_max,
                 f"at most {STEPS_MAX:.3g} SGD steps to the last save for the sgd/gram "
                 f"engines, t p d / gamma (here {steps:.3g}): lower t_max or d, raise gamma")

    def save_steps(self, t: np.ndarray | None = None) -> np.ndarray:
        """Number of SGD steps done at each save time: floor(t p d / gamma). The state at
        time t is the state after that many steps (the process is piecewise constant)."""
        t = self.time_grid() if t is None else np.asarray(t, dtype=float)
        steps = np.floor(t / self.dt * (1 + 1e-12))
        if not (np.isfinite(steps).all() and (steps >= 0).all()
                and (steps <= STEPS_MAX).all()):
            self.check_steps()  # names t_max
            raise ValueError(f"save times {t!r}: allowed finite times >= 0 within t_max")
        return steps.astype(np.int64)

    def stop_after_steps(self) -> int:
        """stop_after in steps; -1 for no early stopping."""
        if self.stop_after is None:
            return -1
        # capped: a stop later than every save never happens, and must not overflow int64
        return math.ceil(min(self.stop_after / self.dt, float(STEPS_MAX)))

    def as_attrs(self) -> dict:
        """Every field as netCDF/Zarr-safe attributes (None -> 'none')."""
        return {f.name: ("none" if v is None else v)
                for f, v in zip(fields(self), asdict(self).values())}
