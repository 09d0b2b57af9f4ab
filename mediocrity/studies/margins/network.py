"""The two-layer ReLU network of the margins study, its loss, gradient and measurements.

f(x; W) = (1/sqrt m) sum_j a_j relu(w_j.x), W (m, d) trained (rows w_j), a in {+1,-1}^m
fixed. relu'(0) := 0: the (sub)gradient uses 1[w_j.x > 0]. f is 1-homogeneous in W.
Logistic loss L(W) = (1/n) sum_i log(1 + exp(-y_i f_i)); normalized margin
gamma(W) = min_i y_i f_i / |W|_F.

Forward and backward are two BLAS matrix products, H = X W^T (n, m) and
grad W = G^T X with G_ij = s_i a_j 1[H_ij > 0] / sqrt(m), s_i = -y_i / (1 + exp(y_i f_i)) / n.
The sum over units is not left to BLAS: f_i = (S+_i - S-_i)/sqrt(m), S+ (S-) summing
relu(H_ij) in index order over the units with a_j = +1 (-1). With the doubling
initialisation the two sums are the same numbers in the same order, so f(.; W(0)) = 0
exactly (a BLAS product R a would leave ~1e-13 of rounding).

Norm-only class: w_j = r_j u_j with frozen unit directions u_j and r_j >= 0; f is linear in r,
f(x; r) = <r, psi(x)>, psi_j(x) = a_j relu(u_j.x)/sqrt(m), and |W|_F = |r|_2.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.special import expit

from ...problem import is_int


# -- validation ---------------------------------------------------------------------------
def check_width(d, m) -> None:
    """ValueError naming d or m unless d >= 2 and m is even and >= 2 (the doubling init)."""
    if not (is_int(d) and d >= 2):
        raise ValueError(f"d = {d!r} is invalid: allowed an integer >= 2")
    if not (is_int(m) and m >= 2 and m % 2 == 0):
        raise ValueError(f"m = {m!r} is invalid: allowed an even integer >= 2 (doubling init)")


def _matrix(name: str, v, cols: int | None = None) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1 or (cols is not None and v.shape[1] != cols):
        want = f"(rows, {cols})" if cols is not None else "2-D"
        raise ValueError(f"{name} has shape {v.shape}: expected {want} with rows >= 1")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains non-finite values")
    return v


def _signs(name: str, v, size: int) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.float64)
    if v.shape != (size,):
        raise ValueError(f"{name} has shape {v.shape}: expected ({size},)")
    if not np.isin(v, (-1.0, 1.0)).all():
        raise ValueError(f"{name} must contain only +1 and -1")
    return v


def check_network(W, a) -> tuple[np.ndarray, np.ndarray]:
    """(W, a) as float64 C arrays; ValueError naming the argument unless W is (m, d) finite
    with d >= 2, m even >= 2, and a (m,) in {+1,-1}."""
    W = _matrix("W", W)
    check_width(W.shape[1], W.shape[0])
    return W, _signs("a", a, W.shape[0])


def check_data(X, y, d: int, x_name: str = "X", y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """(X (n, d), y (n,) in {+1,-1}) as float64 C arrays; ValueError naming the argument."""
    X = _matrix(x_name, X, d)
    return X, _signs(y_name, y, X.shape[0])


# -- kernels ------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def units_sum(H, c, plus, minus, scale, f):
    """f_i <- scale (sum_{j in plus} c_j relu(H_ij) - sum_{j in minus} c_j relu(H_ij)), each
    sum in index order (so mirrored units cancel exactly); the two sums run interleaved and
    branch-free. A NaN in H gives a NaN f_i."""
    k0 = min(plus.shape[0], minus.shape[0])
    for i in range(H.shape[0]):
        row = H[i]
        sp = sn = 0.0
        for k in range(k0):
            hp, hn = row[plus[k]], row[minus[k]]
            sp += c[plus[k]] * (hp if not hp <= 0.0 else 0.0)
            sn += c[minus[k]] * (hn if not hn <= 0.0 else 0.0)
        for k in range(k0, plus.shape[0]):
            hp = row[plus[k]]
            sp += c[plus[k]] * (hp if not hp <= 0.0 else 0.0)
        for k in range(k0, minus.shape[0]):
            hn = row[minus[k]]
            sn += c[minus[k]] * (hn if not hn <= 0.0 else 0.0)
        f[i] = scale * (sp - sn)


@numba.njit(cache=True, nogil=True)
def logistic_gate(HT, y, a_s, plus, minus, scale, f):
    """On HT = H^T = W X^T (m, n), a block of samples at a time (two sweeps while it is in
    cache): f_i as `units_sum` (c = 1; each sum in unit order, vectorised across samples),
    z_i = y_i f_i, s_i = -y_i/(1 + exp(z_i))/n, then HT is overwritten by G^T,
    G_ij = s_i a_s_j 1[H_ij > 0] (relu'(0) = 0). Returns the loss
    L = (1/n) sum_i max(-z_i, 0) + log1p(exp(-|z_i|)) (stable; summed in order i)."""
    m, n = HT.shape
    block = min(n, 1024)  # the sums and slopes of a block stay in L1
    sp, sn, s = np.empty(block), np.empty(block), np.empty(block)
    total = 0.0
    for b in range(0, n, block):
        nb = min(block, n - b)
        sp[:] = 0.0
        sn[:] = 0.0
        for k in range(plus.shape[0]):
            row = HT[plus[k], b : b + nb]
            for i in range(nb):
                h = row[i]
                sp[i] += h if not h <= 0.0 else 0.0
        for k in range(minus.shape[0]):
            row = HT[minus[k], b : b + nb]
            for i in range(nb):
                h = row[i]
                sn[i] += h if not h <= 0.0 else 0.0
        for i in range(nb):
            f[b + i] = scale * (sp[i] - sn[i])
            z = y[b + i] * f[b + i]
            e = math.exp(-abs(z))
            total += (-z if z < 0.0 else 0.0) + math.log1p(e)
            s[i] = -y[b + i] * ((e if z >= 0.0 else 1.0) / (1.0 + e)) / n
        for j in range(m):
            row, aj = HT[j, b : b + nb], a_s[j]
            for i in range(nb):
                row[i] = s[i] * aj if row[i] > 0.0 else 0.0
    return total / n


def sign_sets(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the units with a_j = +1 and with a_j = -1 (increasing)."""
    return np.flatnonzero(a > 0).astype(np.int64), np.flatnonzero(a < 0).astype(np.int64)


def logistic(y: np.ndarray, f: np.ndarray) -> float:
    """(1/n) sum_i log(1 + exp(-y_i f_i)), stable (logaddexp)."""
    return float(np.mean(np.logaddexp(0.0, -y * f)))


def slope(y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """s_i = dL/df_i = -y_i / (1 + exp(y_i f_i)) / n (stable: expit)."""
    return -y * expit(-y * f) / y.shape[0]


# -- public API ---------------------------------------------------------------------------
def init_network(d: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Doubling initialisation: (W0 (m, d), a (m,)), w_j ~ N(0, I_d) for j < m/2,
    w_{j+m/2} = w_j, a_j = +1 for j < m/2 and -1 after; f(.; W0) = 0 exactly.
    Draws m/2 * d standard normals from rng (row-major)."""
    check_width(d, m)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng = {rng!r} is invalid: allowed a numpy Generator")
    top = rng.standard_normal((m // 2, d))
    return np.vstack([top, top]), np.concatenate([np.ones(m // 2), -np.ones(m // 2)])


def forward(W, a, X) -> np.ndarray:
    """f (n,): f_i = (1/sqrt m) sum_j a_j relu(w_j.x_i), via H = X W^T (BLAS)."""
    W, a = check_network(W, a)
    X = _matrix("X", X, W.shape[1])
    H = X @ W.T
    f = np.empty(X.shape[0])
    units_sum(H, np.ones(W.shape[0]), *sign_sets(a), 1.0 / math.sqrt(W.shape[0]), f)
    return f


def loss(W, a, X, y) -> float:
    """Logistic loss L(W) = (1/n) sum_i log(1 + exp(-y_i f(x_i; W)))."""
    W, a = check_network(W, a)
    X, y = check_data(X, y, W.shape[1])
    return logistic(y, forward(W, a, X))


def gradient(W, a, X, y) -> np.ndarray:
    """grad_W L (m, d) = G^T X, G_ij = s_i a_j 1[H_ij > 0]/sqrt(m), H = X W^T,
    s_i = -y_i/(1 + exp(y_i f_i))/n: two BLAS products. relu'(0) := 0."""
    W, a = check_network(W, a)
    X, y = check_data(X, y, W.shape[1])
    scale = 1.0 / math.sqrt(W.shape[0])
    GT = W @ X.T
    logistic_gate(GT, y, a * scale, *sign_sets(a), scale, np.empty(X.shape[0]))
    return GT @ X


def normalized_margin(W, a, X, y) -> float:
    """gamma(W) = min_i y_i f(x_i; W) / |W|_F (may be negative; NaN if W = 0)."""
    W, a = check_network(W, a)
    X, y = check_data(X, y, W.shape[1])
    norm = float(np.linalg.norm(W))
    return float(np.min(y * forward(W, a, X)) / norm) + 0.0 if norm > 0 else math.nan


def test_error(W, a, X, y) -> float:
    """Fraction of samples with y f(x; W) <= 0 (ties count as errors)."""
    W, a = check_network(W, a)
    X, y = check_data(X, y, W.shape[1])
    return float(np.mean(y * forward(W, a, X) <= 0.0))


test_error.__test__ = False  # a measurement, not a pytest test


def motion(W, W0) -> float:
    """|W - W0|_F (divide by sqrt(m) for the per-unit root-mean-square motion)."""
    W, W0 = np.asarray(W, dtype=np.float64), np.asarray(W0, dtype=np.float64)
    if W.shape != W0.shape or W.ndim != 2:
        raise ValueError(f"W has shape {W.shape}, W0 {W0.shape}: expected the same (m, d)")
    return float(np.linalg.norm(W - W0))


def unit_angles(W, W0) -> np.ndarray:
    """Angle (radians) between w_j and w_j(0) per unit, NaN where either row is zero.
    Computed as 2 atan2(|u - v|, |u + v|) (u, v the unit rows): the same angle as
    arccos(u.v) but accurate to round-off near 0, where arccos resolves only ~1e-8."""
    W, W0 = np.asarray(W, dtype=np.float64), np.asarray(W0, dtype=np.float64)
    if W.shape != W0.shape or W.ndim != 2:
        raise ValueError(f"W has shape {W.shape}, W0 {W0.shape}: expected the same (m, d)")
    nw = np.linalg.norm(W, axis=1, keepdims=True)
    n0 = np.linalg.norm(W0, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        u, v = W / nw, W0 / n0
        angle = 2.0 * np.arctan2(np.linalg.norm(u - v, axis=1), np.linalg.norm(u + v, axis=1))
    angle[(nw[:, 0] == 0) | (n0[:, 0] == 0)] = np.nan
    return angle


def rotation(W, W0) -> tuple[float, float]:
    """(max_j, mean_j) of the angle between w_j(t) and w_j(0), in radians; units with a
    zero row (a norm-only unit at r_j = 0) have no direction and are left out (NaN if all)."""
    angle = unit_angles(W, W0)
    angle = angle[np.isfinite(angle)]
    if angle.size == 0:
        return math.nan, math.nan
    return float(angle.max()), float(angle.mean())


# -- norm-only class ----------------------------------------------------------------------
def directions(W0) -> tuple[np.ndarray, np.ndarray]:
    """(U, r0): unit rows u_j = w_j(0)/|w_j(0)| and norms r_j(0) = |w_j(0)| (ValueError if a
    row is zero)."""
    W0 = _matrix("W0", W0)
    r0 = np.linalg.norm(W0, axis=1)
    if not (r0 > 0).all():
        raise ValueError("W0 has a zero row: the norm-only class needs a direction per unit")
    return W0 / r0[:, None], r0


def features(U, a, X) -> np.ndarray:
    """psi (n, m): psi_ij = a_j relu(u_j.x_i)/sqrt(m), so f(x_i; r) = (psi r)_i."""
    U, a = check_network(U, a)
    X = _matrix("X", X, U.shape[1])
    return np.maximum(X @ U.T, 0.0) * (a / math.sqrt(U.shape[0]))


def weights(r, U) -> np.ndarray:
    """W = r u (rows r_j u_j) of the norm-only parameters r (m,) >= 0."""
    U = np.asarray(U, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    if U.ndim != 2 or r.shape != (U.shape[0],):
        raise ValueError(f"r has shape {r.shape}, U {U.shape}: expected (m,) and (m, d)")
    if not (r >= 0).all():
        raise ValueError("r must be >= 0 (norm-only class)")
    return r[:, None] * U


def _norm_args(r, psi, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    psi = _matrix("psi", psi)
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (psi.shape[1],):
        raise ValueError(f"r has shape {r.shape}: expected ({psi.shape[1]},) for psi {psi.shape}")
    return r, psi, _signs("y", y, psi.shape[0])


def norm_loss(r, psi, y) -> float:
    """L(r) = (1/n) sum_i log(1 + exp(-y_i <r, psi(x_i)>))."""
    r, psi, y = _norm_args(r, psi, y)
    return logistic(y, psi @ r)


def norm_gradient(r, psi, y) -> np.ndarray:
    """grad_r L (m,) = psi^T s, s_i = -y_i/(1 + exp(y_i f_i))/n (the projection onto r >= 0
    is the engine's business)."""
    r, psi, y = _norm_args(r, psi, y)
    return psi.T @ slope(y, psi @ r)
