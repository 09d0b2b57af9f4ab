"""Reference margins (mediocrity/studies/margins/reference.py) against brute force on tiny cases:
enumeration of the active sets of the simplex dual (exact) and grids over the unit sphere of the
weight space (the primal max-min, to the grid's resolution); duality at the returned maximisers;
K_m -> K_inf; non-separable data; norm-only vs free-sign margins; the parity population margin."""

import itertools
import math

import numpy as np
import pytest

from mediocrity.studies.margins import reference as ref

RTOL = 1e-8  # the solver certifies 1e-9 (ref.RTOL); a little room for rounding in the checks


def doubling_init(m, d, rng):
    """w_j ~ N(0, I_d) for j < m/2, w_{j+m/2} = w_j; a = +1 then -1 (f(.; W0) = 0)."""
    w = rng.standard_normal((m // 2, d))
    return np.vstack([w, w]), np.r_[np.ones(m // 2), -np.ones(m // 2)]


def sphere(n, d, rng):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ntk_features(W0, a, X):
    """phi_j(x_i) = a_j 1[w_j.x_i > 0] x_i / sqrt m, flattened: (n, m d)."""
    act = (X @ W0.T > 0).astype(float)
    return (a * act / math.sqrt(len(a)))[:, :, None] * X[:, None, :]


def enumerated_min(Q):
    """min over the simplex of lambda^T Q lambda by enumeration of the supports S: on each S
    the affine minimiser (KKT: 2 Q_SS lambda + nu 1 = 0, 1^T lambda = 1), kept when >= 0."""
    n, best = len(Q), np.inf
    for k in range(1, n + 1):
        for S in itertools.combinations(range(n), k):
            S = list(S)
            A = np.block([[2 * Q[np.ix_(S, S)], np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
            lam = np.linalg.lstsq(A, np.r_[np.zeros(k), 1.0], rcond=None)[0][:k]
            if (lam >= -1e-12).all() and abs(lam.sum() - 1) < 1e-9:
                best = min(best, lam @ Q[np.ix_(S, S)] @ lam)
    return math.sqrt(max(best, 0.0))


def cube_sphere_grid(k, points, nonnegative=False):
    """Unit vectors g/|g|, g on the faces of [-1, 1]^k ([0, 1]^k if nonnegative) with `points`
    grid values per free coordinate (spacing h). Every unit u (u >= 0) lies within
    (h/2) sqrt(k - 1) of one: u/|u|_inf is on a face, its nearest face point is that close, and
    the radial projection onto the ball is the metric projection (1-Lipschitz)."""
    if k == 1:  # S^0 = {+-1}
        return (np.ones((1, 1)) if nonnegative else np.array([[1.0], [-1.0]])), 0.0
    lo = 0.0 if nonnegative else -1.0
    values = np.linspace(lo, 1.0, points)
    h = values[1] - values[0]
    rest = np.array(list(itertools.product(values, repeat=k - 1))).reshape(-1, k - 1)
    faces = []
    for i in range(k):
        for s in (1.0,) if nonnegative else (1.0, -1.0):
            faces.append(np.insert(rest, i, s, axis=1))
    g = np.vstack(faces)
    return g / np.linalg.norm(g, axis=1, keepdims=True), 0.5 * h * math.sqrt(k - 1)


def grid_max_min(Z, points, nonnegative=False):
    """(max over the grid of min_i <u, z_i>, resolution): the primal max-min by brute force. For
    signed u the optimum lies in the span of the z_i, so the grid is in that span (dimension k)."""
    if nonnegative:
        C = Z
    else:
        _, s, Vt = np.linalg.svd(Z, full_matrices=False)
        C = Z @ Vt[s > 1e-12 * s[0]].T
        if C.shape[1] == 0:  # every z_i = 0
            return 0.0, 0.0
    grid, resolution = cube_sphere_grid(C.shape[1], points, nonnegative)
    worst = np.full(len(grid), np.inf)
    for c in C:  # elementwise, not BLAS: the BLAS threads fight the busy machine's other jobs
        worst = np.minimum(worst, sum(grid[:, k] * c[k] for k in range(C.shape[1])))
    return float(worst.max()), resolution * float(np.linalg.norm(Z, axis=1).max())


def tiny_cases():
    """(W0, a, X, y) with n <= 6, m <= 4, d = 2 or 3, random labels (seeded); the span of the NTK
    features (phi_{j+m/2} = -phi_j) has dimension <= min(n, m d / 2) <= 4, the grids' limit. Every
    other case redraws W0 until each x has an active unit (else phi(x) = 0: never separable)."""
    rng = np.random.default_rng(20230)
    cases = []
    for seed in range(24):
        d, m = [(2, 2), (2, 4), (3, 2), (3, 4)][seed % 4]
        n = 3 + seed % 2 if (d, m) == (3, 4) else 3 + seed % 4
        X = sphere(n, d, rng)
        W0, a = doubling_init(m, d, rng)
        while seed % 2 and not (X @ W0.T > 0).any(axis=1).all():
            W0, a = doubling_init(m, d, rng)
        cases.append((W0, a, X, rng.choice([-1.0, 1.0], n)))
    return cases


CASES = tiny_cases()


# ---------------------------------------------------------------- kernels


def test_ntk_kernel_is_the_gram_matrix_of_the_features_with_relu_prime_zero_at_zero():
    rng = np.random.default_rng(0)
    W0, a = doubling_init(8, 3, rng)
    X = sphere(5, 3, rng)
    X[0] = np.cross(W0[0], W0[1])  # w_0.x = w_1.x = 0 (up to rounding): relu'(0) = 0 there
    X[0] /= np.linalg.norm(X[0])
    Phi = ntk_features(W0, a, X).reshape(5, -1)
    K = ref.ntk_kernel(W0, a, X)
    np.testing.assert_allclose(K, Phi @ Phi.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(K, ref.ntk_kernel(W0, -a, X))  # a_j^2 = 1
    W1 = W0.copy()
    W1[0] = W1[4] = [1.0, 0.0, 0.0]
    X1 = np.array([[0.0, 1.0, 0.0]])  # exactly on the unit's hyperplane: inactive
    act = (X1 @ W1.T > 0).sum()
    assert ref.ntk_kernel(W1, a, X1)[0, 0] == pytest.approx(act / 8)


@pytest.mark.parametrize("m", [64, 1024, 16384])
def test_finite_width_kernel_tends_to_the_arc_cosine_kernel(m):
    """K_m - K_inf = (x.x') (mean of m/2 iid Bernoulli - its mean): std <= |x.x'| / sqrt(2 m);
    allowed 4 std on each of the 21 entries (seeded)."""
    rng = np.random.default_rng(m)
    X = sphere(6, 3, rng)
    W0, a = doubling_init(m, 3, rng)
    err = np.abs(ref.ntk_kernel(W0, a, X) - ref.ntk_kernel_infinite(X))
    bound = 4.0 * np.abs(X @ X.T) / math.sqrt(2 * m)
    assert (err <= bound + 1e-15).all(), (err / bound).max()


def test_infinite_kernel_closed_form_values():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0]])
    K = ref.ntk_kernel_infinite(X)
    assert K[0, 0] == pytest.approx(0.5) and K[1, 1] == pytest.approx(2.0)  # |x|^2 / 2
    assert K[0, 1] == 0.0 and K[0, 2] == pytest.approx(0.0)  # orthogonal; opposite (theta = pi)
    assert (K[3] == 0).all()


# ---------------------------------------------------------------- max margins vs brute force


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ntk_margins_equal_active_set_enumeration(case):
    W0, a, X, y = CASES[case]
    for K, got in [(ref.ntk_kernel(W0, a, X), ref.ntk_margin(W0, a, X, y).gamma),
                   (ref.ntk_kernel_infinite(X), ref.ntk_margin_infinite(X, y).gamma)]:
        exact = enumerated_min(K * np.outer(y, y))
        exact = exact if exact > ref.SEPARABLE_TOL * math.sqrt(np.diag(K).max()) else 0.0
        assert got == pytest.approx(exact, rel=RTOL, abs=1e-12)


def test_tiny_cases_cover_separable_and_not():
    gammas = [ref.ntk_margin(*c).gamma for c in CASES]
    assert 5 <= sum(g > 0 for g in gammas) <= len(CASES) - 5


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ntk_margin_equals_the_primal_max_min_over_a_grid_of_the_sphere(case):
    """max over unit U of min_i y_i <phi_i, U>: every grid point is <= gamma (weak duality, exact)
    and the best is within R * resolution of it (R = max |phi_i|, f is R-Lipschitz)."""
    W0, a, X, y = CASES[case]
    Z = y[:, None] * ntk_features(W0, a, X).reshape(len(y), -1)
    gamma = ref.ntk_margin(W0, a, X, y).gamma
    k = np.linalg.matrix_rank(Z)
    assert k <= 4
    best, tol = grid_max_min(Z, {0: 3, 1: 3, 2: 801, 3: 201, 4: 61}[k])
    assert best <= gamma + 1e-12
    assert best >= gamma - tol
    assert tol <= 0.03 * float(np.linalg.norm(Z, axis=1).max())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_norm_only_margin_equals_the_primal_max_min_over_a_grid_of_the_orthant(case):
    """max over r >= 0, |r| = 1 of min_i y_i <r, psi_i> on a grid of the positive orthant of
    S^{m-1}: <= gamma (exactly), >= gamma - R * resolution."""
    W0, a, X, y = CASES[case]
    Z = y[:, None] * ref.norm_only_features(W0, a, X)
    res = ref.norm_only_max_margin(W0, a, X, y)
    best, tol = grid_max_min(Z, {2: 2001, 4: 61}[len(a)], nonnegative=True)
    assert best <= res.gamma + 1e-12
    if res.gamma > 0:
        assert best >= res.gamma - tol
    else:
        assert best <= 1e-12 and not res.separable and (res.r == 0).all()


# ---------------------------------------------------------------- duality, certificates


def test_ntk_margin_duality_at_the_returned_maximiser():
    """Moderate size (working set grows past its start of 32): the returned U is a unit vector
    attaining gamma, and the returned lam certifies it: gamma <= sqrt(lam^T Q lam) <= gamma(1+eps)."""
    rng = np.random.default_rng(7)
    W0, a = doubling_init(32, 8, rng)
    X = sphere(150, 8, rng)
    y = np.sign(X[:, 0] * X[:, 1])
    res = ref.ntk_margin(W0, a, X, y)
    assert res.separable and res.U.shape == (32, 8)
    assert np.linalg.norm(res.U) == pytest.approx(1.0, rel=1e-12)
    Z = y[:, None] * ntk_features(W0, a, X).reshape(150, -1)
    assert (Z @ res.U.ravel()).min() == pytest.approx(res.gamma, rel=1e-12)
    lam = res.lam
    assert (lam >= 0).all() and lam.sum() == pytest.approx(1.0) and 32 < (lam > 0).sum() < 150
    dual = float(np.linalg.norm(lam @ Z))
    assert res.gamma <= dual <= res.gamma * (1 + RTOL)


def test_kernel_margin_certificate_and_scale():
    """gamma(c^2 K) = c gamma(K) (no absolute tolerance inside) and lam certifies gamma."""
    rng = np.random.default_rng(8)
    X = sphere(150, 6, rng)
    y = np.sign(X[:, 0] * X[:, 1])
    K = ref.ntk_kernel_infinite(X)
    res = ref.max_margin_from_kernel(K, y)
    Q = K * np.outer(y, y)
    lam = res.lam
    upper = math.sqrt(lam @ Q @ lam)
    lower = (Q @ lam).min() / upper  # margin of U = sum lam_i z_i / |.|
    assert res.gamma == pytest.approx(lower, rel=1e-12) and upper <= res.gamma * (1 + RTOL)
    for c in (1e-6, 1e6):
        assert ref.max_margin_from_kernel(c**2 * K, y).gamma == pytest.approx(c * res.gamma, rel=RTOL)


@pytest.mark.parametrize("eps, rel", [(1e-1, 1e-12), (1e-3, 1e-8), (1e-5, 1e-6)])
def test_small_margins_are_resolved(eps, rel):
    """z = (+-1, eps) (linear kernel): the hull's closest point to 0 is (0, eps). The kernel form
    loses precision as (R / gamma)^2 * 1e-16 (gamma^2 is a difference of O(R^2) numbers)."""
    Z = np.array([[1.0, eps], [-1.0, eps], [0.5, 3 * eps]])
    assert ref.max_margin_from_kernel(Z @ Z.T, np.ones(3)).gamma == pytest.approx(eps, rel=rel)
    # the same hull as a norm-only problem (r >= 0 does not bind: the maximiser is (0, 1))
    assert ref._max_margin_nonnegative(Z)[0] == pytest.approx(eps, rel=rel)


# ---------------------------------------------------------------- non-separable data


def test_non_separable_data_give_zero_and_say_so():
    rng = np.random.default_rng(9)
    W0, a = doubling_init(16, 3, rng)
    X = sphere(5, 3, rng)
    X2, y2 = np.vstack([X, X]), np.r_[np.ones(5), -np.ones(5)]  # each x with both labels
    for res in (ref.ntk_margin(W0, a, X2, y2), ref.ntk_margin_infinite(X2, y2),
                ref.norm_only_max_margin(W0, a, X2, y2)):
        assert res.gamma == 0.0 and not res.separable
    assert (ref.ntk_margin(W0, a, X2, y2).U == 0).all()
    assert (ref.norm_only_max_margin(W0, a, X2, y2).r == 0).all()
    # the returned lam proves it: sqrt(lam^T Q lam) ~ 0
    K = ref.ntk_kernel_infinite(X2)
    lam = ref.max_margin_from_kernel(K, y2).lam
    assert lam @ (K * np.outer(y2, y2)) @ lam <= (ref.SEPARABLE_TOL**2) * np.diag(K).max()
    # a point where every unit is inactive has phi = 0: no NTK margin at finite width
    W1 = np.array([[1.0, 0.0], [1.0, 0.0]])
    X1 = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert not ref.ntk_margin(W1, [1.0, -1.0], X1, [1.0, -1.0]).separable
    assert not ref.norm_only_max_margin(W1, [1.0, -1.0], X1, [1.0, -1.0]).separable
    # a margin below SEPARABLE_TOL * R counts as none
    Z = np.array([[1.0, 1e-8], [-1.0, 1e-8]])
    assert ref.max_margin_from_kernel(Z @ Z.T, np.ones(2)).gamma == 0.0


# ---------------------------------------------------------------- norm-only vs free signs


@pytest.mark.parametrize("n, m, d, seed", [(5, 4, 2, 205), (40, 120, 5, 40), (80, 200, 8, 80)])
def test_norm_only_margin_versus_free_sign_margins(n, m, d, seed):
    """gamma_norm-only <= gamma_free (same features psi, r of any sign): a smaller feasible set.
    With the doubling init psi_{j+m/2} = -psi_j, so with c_j = r_j - r_{j+m/2} the model is
    sum_{j<m/2} c_j psi_j. r >= 0 pays |r|^2 = |c|^2 for c (r_j = c_j^+, r_{j+m/2} = c_j^-), free
    signs only |c|^2/2 (r_j = -r_{j+m/2} = c_j/2). Hence gamma_norm-only equals the free-sign
    margin over the m/2 distinct features psi_j, j < m/2, and gamma_free / sqrt 2."""
    rng = np.random.default_rng(seed)
    W0, a = doubling_init(m, d, rng)
    X = sphere(n, d, rng)
    y = np.sign(X[:, 0])
    res = ref.norm_only_max_margin(W0, a, X, y)
    Psi = ref.norm_only_features(W0, a, X)
    free = ref.max_margin_from_kernel(Psi @ Psi.T, y).gamma
    half = ref.max_margin_from_kernel(Psi[:, : m // 2] @ Psi[:, : m // 2].T, y).gamma
    assert res.separable
    assert res.gamma <= free
    assert res.gamma == pytest.approx(half, rel=RTOL)
    assert res.gamma == pytest.approx(free / math.sqrt(2), rel=RTOL)
    r = res.r
    assert (r >= 0).all() and np.linalg.norm(r) == pytest.approx(1.0, rel=1e-12)
    assert (y * (Psi @ r)).min() == pytest.approx(res.gamma, rel=1e-12)


def test_norm_only_margin_below_free_sign_margin_without_doubling():
    """Independent directions (no doubling pairs): gamma_norm-only <= gamma_free still."""
    rng = np.random.default_rng(11)
    W0, a = rng.standard_normal((60, 4)), rng.choice([-1.0, 1.0], 60)
    X = sphere(30, 4, rng)
    y = np.sign(X[:, 0] + 0.3)
    res = ref.norm_only_max_margin(W0, a, X, y)
    Psi = ref.norm_only_features(W0, a, X)
    free = ref.max_margin_from_kernel(Psi @ Psi.T, y).gamma
    assert 0 < res.gamma <= free
    assert (y * (Psi @ res.r)).min() == pytest.approx(res.gamma, rel=1e-12)


# ---------------------------------------------------------------- parity population margin


def hypercube_parity(d):
    X = np.array(list(itertools.product([-1.0, 1.0], repeat=d))) / math.sqrt(d)
    return X, np.sign(X[:, 0] * X[:, 1])


@pytest.mark.parametrize("d", range(2, 8))
def test_parity_population_margin_equals_the_solver_on_all_points(d):
    X, y = hypercube_parity(d)
    assert ref.population_ntk_margin_parity(d) == pytest.approx(
        ref.ntk_margin_infinite(X, y).gamma, rel=RTOL)


def test_parity_population_margin_scales_like_one_over_d():
    """Measured d * gamma (this module): d = 4: 0.7071, 5: 0.6831, 6: 0.6597, 7: 0.6402,
    8: 0.6250, ... 12: 0.5948, 14: 0.5887 — above Ji & Telgarsky's 1/50."""
    gammas = {d: ref.population_ntk_margin_parity(d) for d in range(4, 9)}
    for d, g in gammas.items():
        print(f"d = {d}: gamma_ntk_inf = {g:.6f}, d * gamma = {d * g:.4f}")
    assert all(gammas[d + 1] < gammas[d] for d in range(4, 8))
    assert all(0.6 < d * g < 0.72 for d, g in gammas.items())
    assert all(d * g >= 1 / 50 for d, g in gammas.items())
    assert 14 * ref.population_ntk_margin_parity(14) == pytest.approx(0.58866, abs=1e-4)


# ---------------------------------------------------------------- input validation


def _valid():
    rng = np.random.default_rng(1)
    W0, a = doubling_init(4, 3, rng)
    return W0, a, sphere(5, 3, rng), np.array([1.0, -1.0, 1.0, 1.0, -1.0])


@pytest.mark.parametrize("change, name", [
    (lambda W0, a, X, y: (W0[:3], a[:3], X, y), "W0"),  # odd m
    (lambda W0, a, X, y: (W0[:, :2], a, X, y), "W0"),  # columns != d
    (lambda W0, a, X, y: (W0, a[:3], X, y), "a"),
    (lambda W0, a, X, y: (W0, 2 * a, X, y), "a"),
    (lambda W0, a, X, y: (W0, a, X[0], y), "X"),  # 1-D
    (lambda W0, a, X, y: (W0, a, np.where(X > 0, np.nan, X), y), "X"),
    (lambda W0, a, X, y: (W0, a, X, y[:4]), "y"),
    (lambda W0, a, X, y: (W0, a, X, np.r_[y[:4], 0.0]), "y"),
    (lambda W0, a, X, y: (W0, a, X, ["a", "b", "c", "d", "e"]), "y"),
])
def test_invalid_inputs_are_refused_naming_the_argument(change, name):
    args = change(*_valid())
    for f in (ref.ntk_margin, ref.norm_only_max_margin):
        with pytest.raises(ValueError, match=rf"^{name}"):
            f(*args)
    if name in ("X", "y"):
        with pytest.raises(ValueError, match=rf"^{name}"):
            ref.ntk_margin_infinite(args[2], args[3])


def test_invalid_kernels_and_dimensions_are_refused():
    K = ref.ntk_kernel_infinite(_valid()[2])
    with pytest.raises(ValueError, match=r"^K"):
        ref.max_margin_from_kernel(K[:, :4], np.ones(5))
    with pytest.raises(ValueError, match=r"^K"):
        ref.max_margin_from_kernel(K + np.triu(np.ones((5, 5)), 1), np.ones(5))
    with pytest.raises(ValueError, match=r"^y"):
        ref.max_margin_from_kernel(K, np.ones(4))
    with pytest.raises(ValueError, match=r"^W0"):
        W0, a, X, y = _valid()
        ref.norm_only_max_margin(np.zeros_like(W0), a, X, y)
    for d in (1, 15, 4.0, True, "4"):
        with pytest.raises(ValueError, match=r"^d = "):
            ref.population_ntk_margin_parity(d)
