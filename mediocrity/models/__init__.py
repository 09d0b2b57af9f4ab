"""Model registry: what the network learns and with which activation.

A model is a target y = σ*(λ*) of the teacher's local field λ* = w*·x/√d and a student
activation σ (the committee is f(x) = (1/p) Σ_j σ(w_j·x/√d)), with σ' for the SGD step.
For isotropic Gaussian inputs an exact SGD step needs only the local fields
(λ*, λ_1..λ_p) ~ N(0, G) and |x|², whatever σ and σ* are; only the d → ∞ expectations and
the closed-form theory are model-specific.

The information exponent k of a target is the index of its first non-zero Hermite
coefficient beyond the constant: c_k = E[σ*(z) He_k(z)]/k!, z ~ N(0, 1) (probabilists'
Hermite polynomials). k = 1: learned with n ∝ d samples; k = 2 (phase retrieval, |z|):
a plateau of length ∝ log d; k ≥ 3: ∝ d^(k-2) in online-SGD time scales.

    >>> import mediocrity
    >>> mediocrity.models.available()
    ('phase_retrieval', 'abs', 'he3', 'he4', 'relu')

The risk of a committee with unit-norm students (normalised Gram matrix G, teacher
first) needs only the pair kernel κ(ρ) = E[σ(u)σ(v)] of two unit-variance Gaussians with
correlation ρ (and κ×(ρ) = E[σ*(u)σ(v)] when σ ≠ σ*):
    R = E[(f - y)²]/2 = ½ [E σ*(z)² − (2/p) Σ_j κ×(m_j) + (1/p²) Σ_jk κ(q_jk)]
(label noise excluded). Every registered model has κ in closed form (catalogue.py); for
the default it reduces to overlaps.risk_from_gram, which is kept as it is.
How to add a model: docs/models.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HERMITE_ORDER = 8     # coefficients c_0..c_8 are computed and reported
ZERO = 1e-9           # |c_k| below this counts as zero
TAIL = 16.0           # quadrature on [-16, 16]: the Gaussian weight beyond is < 1e-55
NODES = 200           # Gauss-Legendre nodes per half


DEFAULT = "phase_retrieval"


@dataclass(frozen=True)
class Model:
    """A target σ* and an activation σ (with σ'), scalar numba-compilable functions, and
    the pair kernel κ(ρ) = E[σ(u)σ(v)] (and κ×(ρ) = E[σ*(u)σ(v)], `cross`, needed only
    when σ* is not σ) of unit-variance Gaussians with correlation ρ, for the risk."""

    name: str
    target: Callable[[float], float]
    activation: Callable[[float], float]
    derivative: Callable[[float], float]
    formula: str
    pair: Callable[[float], float] | None = None
    cross: Callable[[float], float] | None = None
    degree: int | None = None  # polynomial degree of σ and σ* (None: not polynomial)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    @property
    def realizable(self) -> bool:
        """σ* is σ: the committee can represent the target exactly (R = 0 at M = 1)."""
        return self.target is self.activation

    @property
    def cross_kernel(self) -> Callable[[float], float]:
        if self.cross is not None:
            return self.cross
        if self.realizable:
            return self.pair
        raise ValueError(f"model {self.name!r}: σ* is not σ, so it needs its cross kernel "
                         "E[σ*(u)σ(v)] (Model.cross)")

    @property
    def target_norm(self) -> float:
        """E[σ*(z)²], z ~ N(0, 1) (quadrature, or κ(1) when σ* = σ)."""
        if self.realizable:
            return float(self.pair(1.0))
        return float(gaussian_expectation(lambda z: self.target(z) ** 2))

    def risk(self, m, q) -> np.ndarray:
        """R(M, Q) = E[(f − y)²]/2 (label noise excluded) for unit-norm students;
        m (..., p), q (..., p, p), vectorised (the default: overlaps.risk_from_overlaps)."""
        if self.is_default:
            from ..overlaps import risk_from_overlaps

            return risk_from_overlaps(m, q)
        m = np.asarray(m, dtype=float)
        q = np.asarray(q, dtype=float)
        p = m.shape[-1]
        pair, cross = np.vectorize(self.pair, otypes=[float]), np.vectorize(
            self.cross_kernel, otypes=[float])
        ok = np.isfinite(q)
        kq = np.where(ok, pair(np.where(ok, q, 0.0)), np.nan)
        okm = np.isfinite(m)
        km = np.where(okm, cross(np.where(okm, m, 0.0)), np.nan)
        return 0.5 * (self.target_norm - (2.0 / p) * km.sum(-1) + kq.sum((-2, -1)) / p**2)

    def hermite(self, order: int = HERMITE_ORDER) -> np.ndarray:
        """c_0..c_order of the target: c_k = E[σ*(z) He_k(z)]/k!."""
        return hermite_coefficients(self.target, order)

    @property
    def information_exponent(self) -> int:
        return information_exponent(self.target)


def hermite_coefficients(f: Callable[[float], float], order: int = HERMITE_ORDER) -> np.ndarray:
    """c_k = E[f(z) He_k(z)]/k! for k = 0..order, z ~ N(0, 1): Gauss-Legendre quadrature
    (NODES points) on each half of [-TAIL, TAIL], so that a kink at 0 (|z|, relu) costs
    no accuracy."""
    from numpy.polynomial.hermite_e import hermeval
    from numpy.polynomial.legendre import leggauss

    x, w = leggauss(NODES)
    z = np.concatenate([(x - 1) * TAIL / 2, (x + 1) * TAIL / 2])  # [-TAIL, 0] and [0, TAIL]
    weight = np.concatenate([w, w]) * TAIL / 2 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    fz = np.array([float(f(v)) for v in z]) * weight
    out = np.empty(order + 1)
    for k in range(order + 1):
        out[k] = fz @ hermeval(z, np.eye(order + 1)[k]) / math.factorial(k)
    return out


def gaussian_expectation(f: Callable[[float], float]) -> float:
    """E[f(z)], z ~ N(0, 1), by the quadrature of `hermite_coefficients` (kink-safe at 0)."""
    from numpy.polynomial.legendre import leggauss

    x, w = leggauss(NODES)
    z = np.concatenate([(x - 1) * TAIL / 2, (x + 1) * TAIL / 2])
    weight = np.concatenate([w, w]) * TAIL / 2 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float(np.array([float(f(v)) for v in z]) @ weight)


def information_exponent(f: Callable[[float], float], order: int = HERMITE_ORDER) -> int:
    """Smallest k >= 1 with c_k != 0 (ValueError if none up to `order`)."""
    c = hermite_coefficients(f, order)
    for k in range(1, order + 1):
        if abs(c[k]) > ZERO:
            return k
    raise ValueError(f"no non-zero Hermite coefficient up to order {order}")


_REGISTRY: dict[str, Model] = {}


def register(model: Model) -> Model:
    if model.name in _REGISTRY:
        raise ValueError(f"model {model.name!r} is registered twice")
    _REGISTRY[model.name] = model
    return model


def available() -> tuple[str, ...]:
    """Names of the registered models, the default first."""
    return tuple(_REGISTRY)


def get(name: str) -> Model:
    """The model called `name`; ValueError listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"model = {name!r} is not a known model: allowed "
                         f"{', '.join(available())}") from None


from . import catalogue  # noqa: E402,F401  (registers the models, default first)
from .specialise import specialise  # noqa: E402,F401
