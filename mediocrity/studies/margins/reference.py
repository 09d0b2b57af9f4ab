"""Reference margins of two-layer ReLU networks, independent of any training (after Telgarsky,
"Feature selection and low test error in shallow low-rotation ReLU networks", ICLR 2023).

Network f(x; W) = (1/sqrt m) sum_j a_j relu(w_j.x), W0 (m, d) the initial weights, a in {+1,-1}^m,
X (n, d) the inputs, y in {+1,-1}^n. relu'(0) := 0 (a unit with w_j.x = 0 is inactive).

NTK features  phi_j(x) = a_j 1[w_j(0).x > 0] x / sqrt m  in R^{m x d};
  K_m(x,x') = <phi(x),phi(x')> = (x.x') (1/m) sum_j 1[w_j.x > 0] 1[w_j.x' > 0]  (a_j^2 = 1: no a);
  K_inf(x,x') = (x.x') (pi - theta)/(2 pi), theta = angle(x, x')  (arc-cosine kernel of order 0).
Norm-only features  psi_j(x) = a_j relu(u_j.x)/sqrt m,  u_j = w_j(0)/|w_j(0)|  in R^m.

Max margin over features z_i = y_i phi(x_i) (kernel Q = yy^T * K) and its dual (minimax):
  gamma = max_{|U| <= 1} min_i <U, z_i> = min_{lambda in simplex} sqrt(lambda^T Q lambda)
(the distance from 0 to the convex hull of the z_i), maximiser U* = sum_i lambda_i z_i / |.|.

Solver (both margins): a working set S of examples (32 to start), on which the problem is solved
exactly as a bound-constrained QP (primal-dual active set with Cholesky factorisations; Lawson-
Hanson NNLS, scipy.optimize.nnls, when that cycles or is singular); the examples that the current
maximiser leaves below its margin join S, until the duality certificate closes: for any simplex
weights lambda,  min_i <U, z_i> <= gamma <= sqrt(lambda^T Q lambda),  U = sum lambda_i z_i / |.|.
The returned gamma is the left side (the margin the returned maximiser attains), within RTOL = 1e-9
(relative) of the right side; a RuntimeWarning says so if that is not reached. Both sides are
computed in floating point from Q (or the features): when gamma << R = max_i |z_i| the kernel form
resolves gamma only to ~1e-16 (R/gamma)^2 relative (gamma^2 = lambda^T Q lambda is a difference of
O(R^2) numbers). Margins <= SEPARABLE_TOL * R (1e-6 R) are reported as not separable: gamma = 0,
separable False, maximiser all zeros (for the kernel, lam is then the proof: lam^T Q lam ~ 0).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.optimize import nnls

RTOL = 1e-9  # certified relative gap between the returned gamma and the dual bound
SEPARABLE_TOL = 1e-6  # margins <= SEPARABLE_TOL * max_i |z_i| count as 0 (not separable)
PARITY_MAX_D = 14  # population_ntk_margin_parity: 2^d points


class KernelMargin(NamedTuple):
    """gamma = min_{lambda in simplex} sqrt(lambda^T Q lambda) (0 if not separable) and the
    minimising simplex weights lam (n,): the support vectors are lam > 0."""

    gamma: float
    lam: np.ndarray

    @property
    def separable(self) -> bool:
        return self.gamma > 0.0


class NTKMargin(NamedTuple):
    """gamma_ntk, the unit maximiser U (m, d) (|U|_F = 1; zeros if not separable) and the
    simplex weights lam (n,) of the dual: U = sum_i lam_i y_i phi(x_i) / |.|."""

    gamma: float
    U: np.ndarray
    lam: np.ndarray

    @property
    def separable(self) -> bool:
        return self.gamma > 0.0


class NormOnlyMargin(NamedTuple):
    """Max norm-only margin gamma and its maximiser r (m,): r >= 0, |r| = 1 (zeros if not
    separable); the weights W = r_j u_j have the directions of W0 and |W|_F = 1."""

    gamma: float
    r: np.ndarray

    @property
    def separable(self) -> bool:
        return self.gamma > 0.0


# ---------------------------------------------------------------- input checks


def _matrix(name: str, value, ncols: int | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=float) if _numeric(value) else None
    if arr is None or arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name}: allowed a non-empty 2-D array of numbers, got {_describe(value)}")
    if ncols is not None and arr.shape[1] != ncols:
        raise ValueError(f"{name}: allowed {ncols} columns (the input dimension d), got shape "
                         f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: allowed finite entries only (NaN or inf found)")
    return np.ascontiguousarray(arr)


def _signs(name: str, value, size: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float) if _numeric(value) else None
    if arr is None or arr.shape != (size,):
        raise ValueError(f"{name}: allowed a 1-D array of {size} entries ({what}), got "
                         f"{_describe(value)}")
    if not np.isin(arr, (-1.0, 1.0)).all():
        raise ValueError(f"{name}: allowed entries +1 or -1 only")
    return arr


def _numeric(value) -> bool:
    try:
        kind = np.asarray(value).dtype.kind
    except Exception:
        return False
    return kind in "iuf"


def _describe(value) -> str:
    try:
        shape = np.shape(value)
    except Exception:  # ragged nesting
        shape = "?"
    return f"{type(value).__name__} of shape {shape}"


def _network(W0, a, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = _matrix("X", X)
    W0 = _matrix("W0", W0, ncols=X.shape[1])
    m = W0.shape[0]
    if m % 2:
        raise ValueError(f"W0: allowed an even number of rows m (doubling init), got m = {m}")
    return W0, _signs("a", a, m, "the outer signs, one per row of W0"), X


def _labels(y, n: int) -> np.ndarray:
    return _signs("y", y, n, "the labels, one per row of X")


# ---------------------------------------------------------------- kernels


def ntk_kernel(W0: ArrayLike, a: ArrayLike, X: ArrayLike) -> np.ndarray:
    """K_m(x_i,x_k) = (x_i.x_k) (1/m) sum_j 1[w_j.x_i > 0] 1[w_j.x_k > 0]  (n, n): the Gram
    matrix of the NTK features phi at W0 (independent of a, since a_j^2 = 1)."""
    W0, a, X = _network(W0, a, X)
    act = (X @ W0.T > 0).astype(float)  # (n, m), relu'(0) = 0
    return (X @ X.T) * (act @ act.T) / W0.shape[0]


def ntk_kernel_infinite(X: ArrayLike) -> np.ndarray:
    """K_inf(x,x') = (x.x') (pi - theta)/(2 pi), theta = angle(x,x') (n, n): the limit of K_m as
    m -> infinity with w_j ~ N(0, I_d) (P[w.x > 0, w.x' > 0] = (pi - theta)/(2 pi)); 0 at x = 0."""
    X = _matrix("X", X)
    G = X @ X.T
    norms = np.sqrt(np.diag(G))
    denom = np.outer(norms, norms)
    cos = np.divide(G, denom, out=np.ones_like(G), where=denom > 0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    return G * (np.pi - theta) / (2.0 * np.pi)


# ---------------------------------------------------------------- max margin from a kernel


def max_margin_from_kernel(K: ArrayLike, y: ArrayLike) -> KernelMargin:
    """gamma = sqrt(min_{lambda in simplex} lambda^T Q lambda), Q = yy^T * K (K symmetric PSD; PSD is
    not checked),
    the max margin max_{|U| <= 1} min_i y_i <U, phi(x_i)> of any features with K = <phi, phi>.

    Certified to relative RTOL (module docstring); gamma = 0 (separable False) when the margin
    is <= SEPARABLE_TOL * sqrt(max_i K_ii)."""
    K = _matrix("K", K)
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"K: allowed a square (n, n) kernel matrix, got shape {K.shape}")
    if not np.allclose(K, K.T, rtol=1e-10, atol=1e-12 * max(np.abs(K).max(), 1e-300)):
        raise ValueError("K: allowed a symmetric kernel matrix (K != K.T)")
    y = _labels(y, n)
    gamma, lam = _min_norm_in_hull(0.5 * (K + K.T) * np.outer(y, y))
    return KernelMargin(gamma, lam)


def _min_norm_in_hull(Q: np.ndarray) -> tuple[float, np.ndarray]:
    """(gamma, lambda): min over the simplex of lambda^T Q lambda by a working set S, each
    subproblem solved exactly (_bound_qp), until the duality certificate closes (module docstring).

    On S: mu >= 0 minimising mu^T Q_SS mu + (1^T mu - 1)^2 gives mu = lambda*/(1 + delta^2), delta^2
    the simplex minimum (for fixed s = 1^T mu the minimum is s^2 delta^2 + (s - 1)^2): a bounded QP
    whatever the data, min mu^T H mu / 2 - 1^T mu with H = Q_SS + 11^T."""
    n = Q.shape[0]
    r2 = float(np.diag(Q).max())
    if not r2 > 0:  # every z_i = 0
        return 0.0, np.full(n, 1.0 / n)
    scale = r2  # the subproblem sees Q / scale, rescaled so that its optimum stays ~1
    work = np.argsort(Q.mean(axis=1), kind="stable")[: min(n, 32)]
    free = np.ones(work.size, bool)
    for _ in range(2 * n + 10):
        mu = _bound_qp(Q[np.ix_(work, work)] / scale + 1.0, np.ones(work.size), free)
        work, mu = work[mu > 0], mu[mu > 0]
        lam_work = mu / mu.sum()
        qlam = Q[:, work] @ lam_work  # (Q lambda)_i, all n
        val = float(lam_work @ qlam[work])  # lambda^T Q lambda >= gamma^2
        low = float(qlam.min())  # sqrt(val) * (margin of U)
        if val <= SEPARABLE_TOL**2 * r2:
            return 0.0, _full(n, work, lam_work)
        if val - low <= RTOL * val:
            break
        rescaled = val < 1e-2 * scale
        if rescaled:
            scale = val
        outside = np.ones(n, bool)
        outside[work] = False
        short = np.flatnonzero(outside & (qlam < val - 0.5 * RTOL * val))
        if short.size == 0 and not rescaled:
            warnings.warn(f"max margin: certified relative gap {(val - low) / val:.2e} > RTOL = "
                          f"{RTOL:g} (the working-set solve is inexact)", RuntimeWarning, stacklevel=3)
            break
        add = short[np.argsort(qlam[short], kind="stable")[: max(32, work.size)]]
        work = np.concatenate([work, add])
        free = np.r_[np.ones(mu.size, bool), np.zeros(add.size, bool)]
    return max(low, 0.0) / math.sqrt(val), _full(n, work, lam_work)


def _bound_qp(H: np.ndarray, c: np.ndarray, free: np.ndarray) -> np.ndarray:
    """argmin_{nu >= 0} nu^T H nu / 2 - c^T nu, H symmetric PSD, c in the range of H.

    Primal-dual active set (Hintermueller, Ito & Kunisch 2002) from the free set `free`: solve
    H_FF nu_F = c_F (Cholesky), nu = 0 elsewhere; free <- {nu_i > 0} u {gradient_i < -1e-11 |c|};
    stop when the free set repeats itself, i.e. at the KKT point (to that tolerance). Finite and
    fast in practice but not guaranteed (it can cycle): then Lawson-Hanson NNLS, exact, slower."""
    seen = set()
    for _ in range(60):
        idx = np.flatnonzero(free)
        nu = np.zeros(c.size)
        if idx.size:
            sub = H[np.ix_(idx, idx)]
            try:
                nu[idx] = _psd_solve(sub, c[idx])
            except LinAlgError:
                break
            if not np.allclose(sub @ nu[idx], c[idx], rtol=1e-9, atol=1e-9 * np.abs(c).max()):
                break  # ill-conditioned
        grad = H @ nu - c
        new = np.where(free, nu > 0, grad < -1e-11 * np.abs(c).max())  # not on rounding noise
        if (new == free).all():
            return nu
        key = new.tobytes()
        if key in seen:
            break
        seen.add(key)
        free = new
    return _nnls_qp(H, c)


def _psd_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A x = b, A symmetric PSD, b in its range: Cholesky, with a jitter 1e-12 max A_ii if A is
    singular (then x ~ the min-norm solution: (A + eps I)^-1 b has no null-space component)."""
    try:
        return cho_solve(cho_factor(A), b)
    except LinAlgError:
        jitter = 1e-12 * float(np.diag(A).max())
        return cho_solve(cho_factor(A + jitter * np.eye(len(A))), b)


def _nnls_qp(H: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The same QP as NNLS min_{nu >= 0} |B nu - b|^2, B^T B = H, B^T b = c (B, b from the
    eigenvectors of H: |B nu - b|^2 = nu^T H nu - 2 c^T nu + const)."""
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    keep = w > 1e-13 * w[-1]
    w, V = w[keep], V[:, keep]
    B = np.sqrt(w)[:, None] * V.T
    b = (V.T @ c) / np.sqrt(w)
    try:
        nu, _ = nnls(B, b, maxiter=50 * B.shape[1] + 100)
    except RuntimeError as err:  # iteration limit: the caller's certificate says how far
        warnings.warn(f"scipy.optimize.nnls: {err}", RuntimeWarning, stacklevel=4)
        nu = np.zeros(c.size)
    if not (nu > 0).any():  # never optimal for c != 0: a failed solve, restart from one vertex
        nu = np.zeros(c.size)
        nu[np.argmax(c)] = 1.0
    return nu


def _full(n: int, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n)
    out[idx] = values
    return out


# ---------------------------------------------------------------- NTK margins


def ntk_margin(W0: ArrayLike, a: ArrayLike, X: ArrayLike, y: ArrayLike) -> NTKMargin:
    """gamma_ntk = max_{|U|_F <= 1} min_i y_i <phi(x_i), U> at finite width m (features at W0),
    via K_m and the simplex dual; U* = sum_i lam_i y_i phi(x_i) / |.|_F (unit, (m, d))."""
    W0, a, X = _network(W0, a, X)
    y = _labels(y, X.shape[0])
    gamma, lam = max_margin_from_kernel(ntk_kernel(W0, a, X), y)
    m = W0.shape[0]
    if gamma == 0.0:
        return NTKMargin(0.0, np.zeros_like(W0), lam)
    act = (X @ W0.T > 0).astype(float)  # (n, m)
    U = a[:, None] * (act.T @ ((lam * y)[:, None] * X)) / math.sqrt(m)
    return NTKMargin(gamma, U / np.linalg.norm(U), lam)


def ntk_margin_infinite(X: ArrayLike, y: ArrayLike) -> KernelMargin:
    """gamma_ntk at infinite width: the max margin of the kernel K_inf (arc-cosine, order 0)."""
    X = _matrix("X", X)
    return max_margin_from_kernel(ntk_kernel_infinite(X), _labels(y, X.shape[0]))


def population_ntk_margin_parity(d: int) -> float:
    """Infinite-width NTK margin of 2-sparse parity on ALL 2^d points x in {+-1/sqrt d}^d,
    y = d x_0 x_1 (2 <= d <= PARITY_MAX_D; Ji & Telgarsky 2020: gamma >= 1/(50 d)).

    Exact by symmetry: flipping one coordinate of every point maps the data set onto itself and
    leaves Q_ik = y_i y_k K(x_i,x_k) unchanged; these flips act transitively, so the uniform
    lambda is optimal (average of an optimum over the group, convexity) and
    gamma^2 = 2^-d sum_k Q_0k = 2^-d sum_h K(h) sum_j (-1)^j C(2,j) C(d-2,h-j),
    K(h) = c (pi - arccos c)/(2 pi), c = 1 - 2h/d, over the Hamming distance h to x_0 = 1/sqrt d,
    of which j differences lie on the two hidden bits (each flips y)."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 2 <= d <= PARITY_MAX_D:
        raise ValueError(f"d = {d!r}: allowed an integer 2 <= d <= {PARITY_MAX_D} (2^d points)")
    d = int(d)
    total = 0.0
    for h in range(d + 1):
        c = 1.0 - 2.0 * h / d
        kernel = c * (np.pi - math.acos(max(-1.0, min(1.0, c)))) / (2.0 * np.pi)
        sign_count = sum((-1) ** j * math.comb(2, j) * math.comb(d - 2, h - j)
                         for j in range(3) if 0 <= h - j <= d - 2)
        total += kernel * sign_count
    return math.sqrt(max(total, 0.0) / 2**d)


# ---------------------------------------------------------------- norm-only margin


def norm_only_features(W0: ArrayLike, a: ArrayLike, X: ArrayLike) -> np.ndarray:
    """psi_j(x_i) = a_j relu(u_j.x_i)/sqrt m, u_j = w_j(0)/|w_j(0)|  (n, m)."""
    W0, a, X = _network(W0, a, X)
    norms = np.linalg.norm(W0, axis=1)
    if not (norms > 0).all():
        raise ValueError("W0: allowed non-zero rows only (u_j = w_j/|w_j| is the unit's direction)")
    return np.maximum(X @ (W0 / norms[:, None]).T, 0.0) * a / math.sqrt(W0.shape[0])


def norm_only_max_margin(W0: ArrayLike, a: ArrayLike, X: ArrayLike, y: ArrayLike) -> NormOnlyMargin:
    """max_{r >= 0, |r| <= 1} min_i y_i <r, psi(x_i)> = min_{lambda in simplex}
    |(sum_i lambda_i y_i psi(x_i))_+|  (the model f = <r, psi> is linear in r).

    Solved as the least-distance program min |r|^2 s.t. y_i <r, psi_i> >= 1, r >= 0 (optimum
    r* = r/gamma) by Lawson-Hanson's LDP-via-NNLS on a working set of examples; certified as
    in the module docstring with the dual bound |(sum lambda_i y_i psi_i)_+| >= gamma.

    With the doubling init psi_{j+m/2} = -psi_j: then gamma equals the free-sign max margin over
    the m/2 distinct features psi_j, j < m/2, and 1/sqrt 2 times the free-sign margin over all m
    (r >= 0 pays |c|^2 for the model sum c_j psi_j, j < m/2, free signs |c|^2/2)."""
    W0, a, X = _network(W0, a, X)
    y = _labels(y, X.shape[0])
    P = y[:, None] * norm_only_features(W0, a, X)  # rows z_i = y_i psi(x_i)
    gamma, r = _max_margin_nonnegative(P)
    return NormOnlyMargin(gamma, r)


def _max_margin_nonnegative(P: np.ndarray) -> tuple[float, np.ndarray]:
    """max_{r >= 0, |r| <= 1} min_i <r, P_i> (P (n, m)) by LDP on working sets of rows S and of
    sign constraints B (r_j >= 0, j in B; the others are added when the solution breaks them).

    LDP min |x|^2 s.t. G x >= h, G = [P_S; I_B], h = [1; 0] (Lawson & Hanson 1974, ch. 23): NNLS
    min_{nu >= 0} |E nu - f|, E = [G^T; h^T], f = e_{m+1}, i.e. the QP with H = E^T E, c = E^T f;
    the residual s = E nu - f is 0 iff infeasible, else x = -s_{:m} / s_m and r = x/|x|."""
    n, m = P.shape
    big = float(np.linalg.norm(P, axis=1).max())
    if not big > 0:
        return 0.0, np.zeros(m)
    scale = big  # the LDP sees P / scale, rescaled so that its optimum |x| stays ~1
    work = np.argsort(P.sum(axis=1), kind="stable")[: min(n, 32)]
    signs = np.flatnonzero(P[work].sum(axis=0) < 0)  # the r_j most likely pushed below 0
    free = np.r_[np.zeros(signs.size, bool), np.ones(work.size, bool)]  # nu = (beta_B, mu_S)
    for _ in range(2 * (n + m) + 10):
        Ps = P[work] / scale
        Pb = Ps[:, signs]
        H = np.block([[np.eye(signs.size), Pb.T], [Pb, Ps @ Ps.T + 1.0]])
        nu = _bound_qp(H, np.r_[np.zeros(signs.size), np.ones(work.size)], free)
        beta, mu = nu[: signs.size], nu[signs.size :]
        res_h = mu.sum() - 1.0
        if not (res_h < 0 and mu.sum() > 0):
            return 0.0, np.zeros(m)  # the rows S (hence all rows) are not separable
        res_x = Ps.T @ mu
        res_x[signs] += beta
        x = -res_x / res_h
        r = np.maximum(x, 0.0)
        if not np.linalg.norm(r) > 0:
            return 0.0, np.zeros(m)
        r /= np.linalg.norm(r)
        margins = P @ r
        low = float(margins.min())
        upper = float(np.linalg.norm(np.maximum(mu @ P[work], 0.0)) / mu.sum())  # dual bound
        if upper <= SEPARABLE_TOL * big:
            return 0.0, np.zeros(m)
        if upper - low <= RTOL * upper:
            break
        rescaled = upper < 1e-2 * scale
        if rescaled:
            scale = upper
        outside = np.ones(n, bool)
        outside[work] = False
        short = np.flatnonzero(outside & (margins < upper * (1.0 - 0.5 * RTOL)))
        unsigned = np.ones(m, bool)
        unsigned[signs] = False
        negative = np.flatnonzero(unsigned & (x < -1e-12 * np.abs(x).max()))
        if short.size == 0 and negative.size == 0 and not rescaled:
            warnings.warn(f"norm-only margin: certified relative gap {(upper - low) / upper:.2e} > "
                          f"RTOL = {RTOL:g} (the working-set solve is inexact)", RuntimeWarning,
                          stacklevel=3)
            break
        add = short[np.argsort(margins[short], kind="stable")[: max(32, work.size)]]
        keep, keep_b = mu > 0, beta > 0
        work = np.concatenate([work[keep], add])
        signs = np.concatenate([signs[keep_b], negative])
        free = np.r_[np.ones(keep_b.sum(), bool), np.zeros(negative.size, bool),
                     np.ones(keep.sum(), bool), np.zeros(add.size, bool)]
    return max(low, 0.0), (r if low > 0 else np.zeros(m))
