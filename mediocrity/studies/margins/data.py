"""Data sets of the margins study: inputs on the unit sphere, labels in {+1, -1}.

Every draw comes from the numpy Generator passed in. A run's training and test sets must
share the data set's own parameters (the `collapse` centres): build one `Sampler` per run
with `make_sampler(name, d, data_rng, **params)` -- it draws those parameters once, from the
run's data stream -- and call it for both sets, `sample(n, data_rng)` for the training set
and `sample(n_test, test_rng)` for the test set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np


def _check(d, n, rng) -> None:
    if not (isinstance(d, Integral) and not isinstance(d, bool) and d >= 2):
        raise ValueError(f"d = {d!r} is invalid: allowed an integer >= 2")
    if not (isinstance(n, Integral) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"n = {n!r} is invalid: allowed an integer >= 1")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng = {rng!r} is invalid: allowed a numpy Generator")


def _check_collapse(d, k, separation) -> None:
    if not (isinstance(k, Integral) and not isinstance(k, bool) and 2 <= k <= d):
        raise ValueError(f"k = {k!r} is invalid: allowed an integer with 2 <= k <= d = {d} "
                         "(k orthonormal centres)")
    if not (isinstance(separation, Real) and not isinstance(separation, bool)
            and math.isfinite(separation) and separation > 0):
        raise ValueError(f"separation = {separation!r} is invalid: allowed a finite number > 0")


def parity(d: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Parity of (x_0, x_1) on the hypercube: x uniform on {-1/sqrt d, +1/sqrt d}^d, y = d x_0 x_1.

    The hidden pair is (0, 1): the network's init is rotation invariant, so any pair would
    do (no loss of generality). Draws n d fair signs (rng.integers, row-major)."""
    _check(d, n, rng)
    signs = 2 * rng.integers(0, 2, size=(n, d), dtype=np.int8) - 1
    return signs / math.sqrt(d), (signs[:, 0] * signs[:, 1]).astype(np.float64)


def collapse_centres(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k orthonormal centres (k, d), uniformly random (QR of a Gaussian d x k matrix with the
    signs of R's diagonal fixed, i.e. Haar); draws d k normals."""
    _check(d, 1, rng)
    _check_collapse(d, k, 1.0)
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return np.ascontiguousarray((q * np.sign(np.diag(r))).T)


def collapse(d: int, n: int, k: int, separation: float, rng: np.random.Generator, *,
             centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k clusters with alternating labels: x = (c_g + z/(separation sqrt d)) normalised to 1.

    Group g uniform in 0..k-1, y = +1 for even g, -1 for odd (balanced for even k; for odd
    k, P(y = +1) = ceil(k/2)/k); z ~ N(0, I_d). Centres are sqrt(2) apart, a group's spread
    is ~1/separation. centres (k, d): the run's centres, shared by its training and test
    sets; None draws new ones from rng first (`collapse_centres`) -- then two calls give two
    different data sets, so a train/test pair must pass the same centres (or use a
    `Sampler`). Draw order: [centres], g (n integers), z (n d normals)."""
    _check(d, n, rng)
    _check_collapse(d, k, separation)
    if centres is None:
        centres = collapse_centres(d, k, rng)
    centres = np.asarray(centres, dtype=np.float64)
    if centres.shape != (k, d):
        raise ValueError(f"centres has shape {centres.shape}: expected (k, d) = ({k}, {d})")
    g = rng.integers(0, k, size=n)
    x = centres[g] + rng.standard_normal((n, d)) / (separation * math.sqrt(d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.where(g % 2 == 0, 1.0, -1.0)


def sphere_xor(d: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """XOR on the sphere: x uniform on S^{d-1}, y = sign(x_0 x_1) (a zero counts as +).

    The continuous analogue of `parity`; draws n d normals (x = z/|z|)."""
    _check(d, n, rng)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.where((x[:, 0] >= 0) == (x[:, 1] >= 0), 1.0, -1.0)


DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "parity": parity,
    "collapse": collapse,
    "sphere_xor": sphere_xor,
}
PARAMS = {"parity": (), "collapse": ("k", "separation"), "sphere_xor": ()}


@dataclass(frozen=True, eq=False)
class Sampler:
    """One run's data distribution: name, d, params, and (collapse) the centres drawn once;
    `sampler(n, rng) -> (X (n, d), y (n,))` with the same distribution at every call."""

    name: str
    d: int
    params: dict = field(default_factory=dict)
    centres: np.ndarray | None = None

    def __call__(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "collapse":
            return collapse(self.d, n, self.params["k"], self.params["separation"], rng,
                            centres=self.centres)
        return DATASETS[self.name](self.d, n, rng)


def make_sampler(name: str, d: int, rng: np.random.Generator, **params) -> Sampler:
    """The `Sampler` of data set `name` in dimension d: validates the params (collapse: k,
    separation; the others none) and draws the data set's own parameters (the collapse
    centres) from rng now, once."""
    if name not in DATASETS:
        raise ValueError(f"data set {name!r} is unknown: allowed {sorted(DATASETS)}")
    _check(d, 1, rng)
    if set(params) != set(PARAMS[name]):
        raise ValueError(f"data set {name!r} takes parameters {list(PARAMS[name])}, got "
                         f"{sorted(params)}")
    if name == "collapse":
        _check_collapse(d, params["k"], params["separation"])
        return Sampler(name, d, dict(params), collapse_centres(d, params["k"], rng))
    return Sampler(name, d, dict(params))
