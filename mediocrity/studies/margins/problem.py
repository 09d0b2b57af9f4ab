"""One cell of the margins study: a frozen, validated description of what one run trains.

A run draws n training and n_test test samples of a data set (mediocrity.studies.margins.data),
a width-m network with the symmetric initialisation (mediocrity.studies.margins.network) and
trains its hidden weights with gradient flow (`gf`) or SGD (`sgd`), optionally with the
directions frozen (`norm_only`). Time is gradient-flow time: the sum of the gf steps, or
step x steps / n for sgd (one pass of n steps of size eta = eta units of time). Saves
are t = 0 and the log-spaced lattice t_k = 10**(k / saves_per_decade) from t_min to t_max.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ...problem import is_int, is_real, short_repr
from .engines import names as engine_names

DATASETS = ("parity", "collapse", "sphere_xor")  # mediocrity.studies.margins.data.DATASETS
ENGINES = engine_names()  # the study's engine records (engines.py)
CONSTRAINTS = ("none", "norm_only")
REFERENCES = ("ntk", "ntk_infinite", "norm_only")
D_MAX, M_MAX, N_MAX = 4096, 65536, 10**6
ARRAY_MAX = 2 * 10**8  # entries of the largest array of a run (n x d, n x m, m x d)
T_RATIO_MAX = 1e15
MAX_STEPS = 10**6  # gf: accepted steps of one run, by default (tiny margins need ~1/gamma^2)


def _require(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"MarginProblem.{name} = {short_repr(value)} is invalid: "
                         f"allowed {allowed}")


@dataclass(frozen=True)
class MarginProblem:
    """f(x; W) = (1/sqrt m) sum_j a_j relu(w_j.x) trained on n samples of `data` in
    dimension d by `engine` (gf: full-batch gradient descent with backtracking, first
    step `step`, at most `step_max`, at most `max_steps` accepted steps; sgd: one sample
    per step of size `step`), with the logistic loss; `k` groups and `separation` for the
    collapse data only."""

    data: str
    d: int
    m: int
    n: int
    engine: str = ENGINES[0]
    k: int | None = None
    separation: float | None = None
    n_test: int = 2000
    constraint: str = "none"
    step: float = 0.1
    step_max: float = 1e6
    max_steps: int = MAX_STEPS
    t_min: float = 0.1
    t_max: float = 1000.0
    saves_per_decade: int = 10
    references: tuple[str, ...] = ()

    def __post_init__(self):
        _require(isinstance(self.data, str) and self.data in DATASETS, "data", self.data,
                 f"one of {DATASETS}")
        _require(is_int(self.d) and 2 <= self.d <= D_MAX, "d", self.d,
                 f"an integer in [2, {D_MAX}]")
        _require(is_int(self.m) and 2 <= self.m <= M_MAX and self.m % 2 == 0, "m", self.m,
                 f"an even integer in [2, {M_MAX}] (units come in pairs of opposite sign)")
        _require(is_int(self.n) and 1 <= self.n <= N_MAX, "n", self.n,
                 f"an integer in [1, {N_MAX}]")
        _require(is_int(self.n_test) and 1 <= self.n_test <= N_MAX, "n_test", self.n_test,
                 f"an integer in [1, {N_MAX}]")
        _require(isinstance(self.engine, str) and self.engine in ENGINES, "engine",
                 self.engine, f"one of {ENGINES}")
        _require(isinstance(self.constraint, str) and self.constraint in CONSTRAINTS,
                 "constraint", self.constraint, f"one of {CONSTRAINTS}")
        if self.data == "collapse":
            _require(is_int(self.k) and 2 <= self.k <= self.d, "k", self.k,
                     f"an integer in [2, d = {self.d}] for data 'collapse'")
            _require(is_real(self.separation) and self.separation > 0, "separation",
                     self.separation, "a finite number > 0 for data 'collapse'")
        else:
            _require(self.k is None, "k", self.k, f"None: data {self.data!r} has no groups")
            _require(self.separation is None, "separation", self.separation,
                     f"None: data {self.data!r} has no groups")
        _require(is_real(self.step) and self.step > 0, "step", self.step,
                 "a finite number > 0")
        _require(is_real(self.step_max) and self.step_max > 0, "step_max", self.step_max,
                 "a finite number > 0 (it caps every gf step, the first one included)")
        _require(is_int(self.max_steps) and 1 <= self.max_steps <= 10**12, "max_steps",
                 self.max_steps, "an integer in [1, 1e12] (accepted gf steps of one run)")
        _require(is_real(self.t_min) and self.t_min > 0, "t_min", self.t_min,
                 "a finite number > 0")
        _require(is_real(self.t_max) and self.t_min < self.t_max <= T_RATIO_MAX * self.t_min,
                 "t_max", self.t_max, f"a finite number in (t_min, {T_RATIO_MAX:.0e} t_min]")
        _require(is_int(self.saves_per_decade) and 1 <= self.saves_per_decade <= 100,
                 "saves_per_decade", self.saves_per_decade, "an integer in [1, 100]")
        refs = self.references
        _require(isinstance(refs, (tuple, list)) and all(r in REFERENCES for r in refs)
                 and len(set(refs)) == len(refs), "references", refs,
                 f"distinct names among {REFERENCES}")
        object.__setattr__(self, "references", tuple(refs))
        biggest = max(self.n, self.n_test) * max(self.d, self.m)
        _require(biggest <= ARRAY_MAX and self.m * self.d <= ARRAY_MAX, "n", self.n,
                 f"sizes whose largest array (n or n_test) x max(d, m), m x d has at most "
                 f"{ARRAY_MAX:.0e} entries")
        if "ntk" in self.references or "norm_only" in self.references:
            _require(self.n * self.n <= ARRAY_MAX, "n", self.n,
                     "n <= 14142 with reference margins (an n x n kernel)")

    def time_grid(self) -> np.ndarray:
        """Save times: 0, then 10**(k/saves_per_decade) from t_min up to the first lattice
        point >= t_max (the lattice of mediocrity.Problem: cells merge on t)."""
        n = self.saves_per_decade
        k0 = math.ceil(n * math.log10(self.t_min) - 1e-9)
        k1 = math.ceil(n * math.log10(self.t_max) - 1e-9)
        return np.concatenate([[0.0], 10.0 ** (np.arange(k0, k1 + 1) / n)])

    def as_attrs(self) -> dict:
        """Every field, for a store's attrs (None as the text 'none')."""
        out = asdict(self)
        out["references"] = list(self.references)
        return {k: ("none" if v is None else v) for k, v in out.items()}
