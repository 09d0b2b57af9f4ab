"""The exact engines `sgd` and `gram` (docs/science.md §1, §4, §5).

(a, b) one/few steps of each numba kernel equal a slow numpy step on the same random
numbers; (c) the two engines have the same law of exit times and plateau risks;
(d) bit-identical reruns; (e) a given start; (f) semidefinite safety of `gram`;
(g) `gram` needs p + 1 <= d; (h) overflow is flagged, not crashed; (i) early stopping;
(j) engine selection and argument validation.
"""

from __future__ import annotations


import numba
import numpy as np
import pytest
from scipy import stats

from mediocrity.engines import choose_engine, gram, sgd
from mediocrity.exit_time import exit_time
from mediocrity.initial import initial_grams, random_gram
from mediocrity.overlaps import gram_from_overlaps, risk_from_overlaps
from mediocrity.problem import NoEscapeWarning, Problem
from mediocrity.simulate import RUNNERS, resolve_engine, simulate

KS_ALPHA = 1e-3


def ks_critical(n, m, alpha=KS_ALPHA):
    """Asymptotic two-sample Kolmogorov-Smirnov critical value at level alpha:
    c(alpha) sqrt((n + m)/(n m)), c(alpha) = sqrt(-log(alpha/2)/2) (1.95 at alpha = 1e-3)."""
    return np.sqrt(-np.log(alpha / 2) / 2) * np.sqrt((n + m) / (n * m))


def assert_same_mean(a, b, label):
    """Means of two independent samples within 4 combined standard errors
    (SE^2 = var_a/n_a + var_b/n_b, both estimated; false-failure probability 6e-5)."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) < 4 * se, (label, a.mean(), b.mean(), se)


def assert_same_law(a, b, label):
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), label
    res = stats.ks_2samp(a, b)
    assert res.statistic < ks_critical(a.size, b.size), (label, res)
    assert_same_mean(a, b, label)


# -- random numbers: numba's Generator support draws what numpy draws ---------------------

@numba.njit
def _numba_draws(rng, n, dof):
    out = np.empty(n + 4)
    for i in range(n):
        out[i] = rng.standard_normal()
    out[n] = rng.chisquare(dof)
    out[n + 1] = rng.random()
    out[n + 2] = rng.standard_normal()
    out[n + 3] = gram.chisquare(rng, dof)
    return out


@numba.njit
def _engine_chisquare_samples(rng, k, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = gram.chisquare(rng, k)
    return out


def test_numba_and_numpy_generators_seeded_alike_draw_the_same_numbers():
    # the assumption behind the step-by-step comparisons below
    for seed, n, dof in [(0, 5, 3.0), (123, 200, 47.0), (9, 1, 1.5)]:
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        drawn = _numba_draws(a, n, dof)
        expected = np.concatenate([b.standard_normal(n), [b.chisquare(dof), b.random(),
                                                          b.standard_normal()],
                                   [gram.chisquare(b, dof)]])  # numba called from Python
        np.testing.assert_array_equal(drawn, expected)
        # and both generators are left in the same state
        assert a.standard_normal() == b.standard_normal()


@pytest.mark.parametrize("k", [1.0, 1.5, 2.0, 3.0, 48.0, 997.0])
def test_engine_chisquare_sampler_has_the_chi2_law(k):
    n = 20_000
    x = _engine_chisquare_samples(np.random.default_rng(int(10 * k)), k, n)
    res = stats.kstest(x, stats.chi2(k).cdf)
    # one-sample KS at level 1e-3: D < 1.95/sqrt(n) = 0.0138
    assert res.statistic < np.sqrt(-np.log(KS_ALPHA / 2) / 2) / np.sqrt(n), res
    # mean k and variance 2k: 5 standard errors (SE of the mean sqrt(2k/n))
    assert abs(x.mean() - k) < 5 * np.sqrt(2 * k / n)


# -- (a) sgd kernel vs a slow numpy SGD step ----------------------------------------------

def _loss(w, wstar, x, y):
    d = x.size
    f = np.mean((w @ x / np.sqrt(d)) ** 2)
    return 0.5 * (f - y) ** 2


def numpy_sgd_step(w, wstar, x, z, gamma, noise):
    """docs/science.md §1: w_j <- w_j - gamma grad_{w_j} (f - y)^2/2, then w_j <- sqrt(d) w_j/|w_j|,
    with y = (w*.x/sqrt d)^2 + sqrt(Delta) z. w: (p, d) rows."""
    p, d = w.shape
    lam = w @ x / np.sqrt(d)
    nu = wstar @ x / np.sqrt(d)
    y = nu**2 + np.sqrt(noise) * z
    f = np.mean(lam**2)
    grad = (2.0 / p) * (f - y) * lam[:, None] * x[None, :] / np.sqrt(d)
    new = w - gamma * grad
    return np.sqrt(d) * new / np.linalg.norm(new, axis=1, keepdims=True)


def _sphere(rng, p, d):
    v = rng.standard_normal((p, d))
    return np.ascontiguousarray(np.sqrt(d) * v / np.linalg.norm(v, axis=1, keepdims=True))


def test_numpy_sgd_gradient_equals_finite_differences_of_the_loss():
    # the reference step's gradient is the gradient of l = (f - y)^2/2
    rng = np.random.default_rng(4)
    p, d = 3, 5
    w, wstar, x = _sphere(rng, p, d), _sphere(rng, 1, d)[0], rng.standard_normal(d)
    y = (wstar @ x / np.sqrt(d)) ** 2 + 0.3
    new = numpy_sgd_step(w, wstar, x, 0.3 / np.sqrt(0.5), 1.0, 0.5)  # gamma = 1: raw step
    h = 1e-6
    fd = np.empty_like(w)
    for j in range(p):
        for i in range(d):
            wp, wm = w.copy(), w.copy()
            wp[j, i] += h
            wm[j, i] -= h
            fd[j, i] = (_loss(wp, wstar, x, y) - _loss(wm, wstar, x, y)) / (2 * h)
    raw = w - fd
    expected = np.sqrt(d) * raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(new, expected, atol=1e-7)


def _run_sgd_kernel(w, wstar, rng, gamma, noise, steps):
    n, r = len(steps), w.shape[0] + 1
    risk, m, grams = np.full(n, np.nan), np.full((n, r - 1), np.nan), np.full((n, r, r), np.nan)
    written, diverged = sgd.sgd_run(w, wstar, rng, gamma, noise, np.asarray(steps, np.int64),
                                    0.01, -1, risk, m, grams)
    assert written == n and not diverged
    return risk, m, grams


@pytest.mark.parametrize("p,d,gamma,noise", [(1, 6, 0.3, 0.0), (3, 7, 0.3, 0.5),
                                             (2, 40, 2.0, 1.0), (4, 3, 0.1, 0.2)])
def test_sgd_kernel_steps_equal_a_numpy_sgd_step_on_the_same_random_numbers(p, d, gamma, noise):
    rng0 = np.random.default_rng(1000 * p + d)
    w, wstar = _sphere(rng0, p, d), _sphere(rng0, 1, d)[0]
    steps = [0, 1, 2, 5, 8]
    rng_kernel, rng_ref = np.random.default_rng(77), np.random.default_rng(77)
    w_kernel = w.copy()
    risk, m, grams = _run_sgd_kernel(w_kernel, wstar.copy(), rng_kernel, gamma, noise, steps)
    w_ref = w.copy()
    done = 0
    for k, target in enumerate(steps):
        while done < target:
            x = rng_ref.standard_normal(d)  # d normals for x, then z if noise > 0
            z = rng_ref.standard_normal() if noise > 0 else 0.0
            w_ref = numpy_sgd_step(w_ref, wstar, x, z, gamma, noise)
            done += 1
        vecs = np.vstack([wstar, w_ref])
        g_ref = vecs @ vecs.T / d
        np.testing.assert_allclose(grams[k], g_ref, atol=1e-12, rtol=0)
        np.testing.assert_allclose(m[k], g_ref[0, 1:], atol=1e-12, rtol=0)
        assert risk[k] == pytest.approx(risk_from_overlaps(g_ref[0, 1:], g_ref[1:, 1:]), abs=1e-12)
    np.testing.assert_allclose(w_kernel, w_ref, atol=1e-11, rtol=0)
    # the kernel consumed exactly the numbers the reference did
    assert rng_kernel.standard_normal() == rng_ref.standard_normal()


def test_sgd_step_moves_the_weights():
    # guards the comparison above against a kernel that does nothing
    rng = np.random.default_rng(5)
    w, wstar = _sphere(rng, 2, 10), _sphere(rng, 1, 10)[0]
    w0 = w.copy()
    _run_sgd_kernel(w, wstar, np.random.default_rng(1), 0.3, 0.0, [0, 3])
    assert np.max(np.abs(w - w0)) > 1e-3


# -- (b) gram kernel vs a slow numpy update of the full Gram matrix ----------------------

def numpy_gram_step(g, low, xi, chi, z, gamma, noise, d):
    """docs/science.md §4: lambda = L xi (L L^T = G), |x|^2 = |xi|^2 + chi,
    e_j = gamma g_j / d (e_0 = 0), G' = G - lambda e^T - e lambda^T + |x|^2 e e^T, then
    G'_jk / sqrt(G'_jj G'_kk) (spherical projection)."""
    r = g.shape[0]
    p = r - 1
    lam = low @ xi
    xx = xi @ xi + chi
    f = np.mean(lam[1:] ** 2)
    y = lam[0] ** 2 + np.sqrt(noise) * z
    e = np.zeros(r)
    e[1:] = gamma * (2.0 / p) * (f - y) * lam[1:] / d
    new = g - np.outer(lam, e) - np.outer(e, lam) + xx * np.outer(e, e)
    s = 1.0 / np.sqrt(np.diag(new))
    return new * np.outer(s, s)


def _run_gram_kernel(g, rng, d, gamma, noise, steps, threshold=0.01, stop=-1):
    n, r = len(steps), g.shape[0]
    risk, m, grams = np.full(n, np.nan), np.full((n, r - 1), np.nan), np.full((n, r, r), np.nan)
    written, diverged = gram.gram_run(g, rng, d, gamma, noise, np.asarray(steps, np.int64),
                                      threshold, stop, risk, m, grams)
    return written, diverged, risk, m, grams


@pytest.mark.parametrize("p,d,gamma,noise", [(1, 2, 0.3, 0.0), (1, 30, 0.5, 0.7),
                                             (2, 3, 0.3, 0.5), (2, 50, 1.0, 0.0),
                                             (3, 9, 0.4, 0.3), (5, 6, 0.2, 1.0)])
def test_gram_kernel_steps_equal_a_numpy_gram_update_on_the_same_random_numbers(p, d, gamma, noise):
    r = p + 1
    g0 = random_gram(d, p, np.random.default_rng(10 * p + d))
    steps = [0, 1, 2, 5, 9]
    rng_kernel, rng_ref = np.random.default_rng(31), np.random.default_rng(31)
    written, diverged, risk, m, grams = _run_gram_kernel(g0.copy(), rng_kernel, d, gamma, noise, steps)
    assert written == len(steps) and not diverged
    g_ref = g0.copy()
    done = 0
    for k, target in enumerate(steps):
        while done < target:
            # draw order: r normals xi, then chi2_{d-r} if d > r, then z if noise > 0; the
            # chi2 sampler is the engine's own (its law is tested above)
            xi = rng_ref.standard_normal(r)
            chi = gram.chisquare(rng_ref, float(d - r)) if d > r else 0.0
            z = rng_ref.standard_normal() if noise > 0 else 0.0
            g_ref = numpy_gram_step(g_ref, np.linalg.cholesky(g_ref), xi, chi, z, gamma, noise, d)
            done += 1
        np.testing.assert_allclose(grams[k], g_ref, atol=1e-12, rtol=0)
        np.testing.assert_allclose(m[k], g_ref[0, 1:], atol=1e-12, rtol=0)
        assert risk[k] == pytest.approx(risk_from_overlaps(g_ref[0, 1:], g_ref[1:, 1:]), abs=1e-12)
    assert not np.allclose(grams[-1], g0)  # the chain moved
    assert rng_kernel.standard_normal() == rng_ref.standard_normal()


def _singular_grams():
    rng = np.random.default_rng(8)
    out = [np.ones((2, 2)), np.ones((3, 3))]
    # teacher, a copy of it, an opposite copy, and a random student (rank 2 of 4)
    v = rng.standard_normal(6)
    u = rng.standard_normal(6)
    vecs = np.array([v, v, -v, u])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    out.append(vecs @ vecs.T)
    # two students aligned with each other but not with the teacher
    vecs = np.array([v, u, u])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    out.append(vecs @ vecs.T)
    out.append(random_gram(10, 4, rng))  # full rank
    return out


@pytest.mark.parametrize("k", range(5))
def test_psd_cholesky_factors_singular_and_regular_gram_matrices(k):
    g = _singular_grams()[k]
    low = np.full_like(g, np.nan)
    gram.psd_cholesky(g, low)
    # the lower triangle (diagonal included) is written, the strict upper one is not read
    low = np.tril(low)
    assert np.all(np.isfinite(low)) and np.all(np.diag(low) >= 0)
    np.testing.assert_allclose(low @ low.T, g, atol=1e-12)


@pytest.mark.parametrize("k", range(5))
def test_gram_step_equals_the_numpy_update_from_singular_starts(k):
    g = _singular_grams()[k]
    r = g.shape[0]
    d, gamma, noise = 12, 0.4, 0.3
    rng = np.random.default_rng(k)
    for _ in range(3):
        xi, chi, z = rng.standard_normal(r), rng.chisquare(d - r), rng.standard_normal()
        before = g.copy()
        low, lam, e = np.zeros((r, r)), np.empty(r), np.empty(r)
        gram.gram_step(g, low, xi, chi, z, gamma, noise, d, lam, e)
        # the factor the kernel used is a valid one; the update follows from it
        np.testing.assert_allclose(low @ low.T, before, atol=1e-12)
        np.testing.assert_allclose(lam, low @ xi, atol=1e-12)
        np.testing.assert_allclose(g, numpy_gram_step(before, low, xi, chi, z, gamma, noise, d),
                                   atol=1e-12)
        assert np.all(np.isfinite(g)) and np.all(np.diag(g) == 1.0)


# -- (c) gram and sgd have the same law ---------------------------------------------------

def _same_start(problem):
    g = initial_grams(problem, [0], "fixed", root_seed=0)[0]
    return g[1:, :1], g[1:, 1:]


@pytest.mark.parametrize("p", [1, 2])
def test_gram_and_sgd_have_the_same_exit_time_law(p):
    n = 400
    problem = Problem(d=100, p=p, gamma=0.1, threshold=0.1, t_max=20.0, stop_after=0.0)
    start = _same_start(problem)  # one fixed start for both engines
    # distinct root seeds: the two samples are independent, as the KS test assumes
    t_sgd = exit_time(simulate(problem, "sgd", seeds=n, init=start, root_seed=1).risk,
                      problem.threshold).values
    t_gram = exit_time(simulate(problem, "gram", seeds=n, init=start, root_seed=2).risk,
                       problem.threshold).values
    assert_same_law(t_sgd, t_gram, f"exit time p={p}")


@pytest.mark.parametrize("p,d", [(1, 50), (2, 60)])
def test_gram_and_sgd_have_the_same_plateau_risk_law(p, d):
    n = 400
    problem = Problem(d=d, p=p, gamma=0.1, noise=0.5, t_max=8.0, saves_per_decade=20)
    start = _same_start(problem)

    def plateau(engine, root):
        ds = simulate(problem, engine, seeds=n, init=start, root_seed=root)
        assert not ds.diverged.any()
        # per-seed time average of R over t in [4, 8], after the escape
        return ds.risk.sel(t=slice(4.0, None)).mean("t").values

    assert_same_law(plateau("sgd", 3), plateau("gram", 4), f"plateau p={p}")


# -- (d) bit-identical reruns -------------------------------------------------------------

@pytest.mark.parametrize("engine", ["sgd", "gram"])
@pytest.mark.parametrize("init", ["random", "fixed"])
def test_reruns_are_bit_identical_across_schedulers_and_seed_lists(engine, init):
    problem = Problem(d=60, p=2, gamma=0.1, noise=0.1, t_max=2.0, saves_per_decade=10)
    a = simulate(problem, engine, seeds=[1, 2, 3], init=init, root_seed=9)
    b = simulate(problem, engine, seeds=[1, 2, 3], init=init, root_seed=9)
    c = simulate(problem, engine, seeds=[1, 2, 3], init=init, root_seed=9, scheduler="sync")
    d = simulate(problem, engine, seeds=[3, 1], init=init, root_seed=9)
    for var in ("risk", "m", "q", "diverged"):
        np.testing.assert_array_equal(a[var].values, b[var].values)
        np.testing.assert_array_equal(a[var].values, c[var].values)
        np.testing.assert_array_equal(a[var].sel(seed=[1, 3]).values,
                                      d[var].sel(seed=[1, 3]).values)
    assert list(d.seed.values) == [3, 1]
    assert not np.array_equal(a.risk.sel(seed=1).values, a.risk.sel(seed=2).values)
    other = simulate(problem, engine, seeds=[1], init=init, root_seed=10)
    assert not np.array_equal(other.risk.sel(seed=1).values, a.risk.sel(seed=1).values)


# -- (e) a given start ---------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["sgd", "gram"])
@pytest.mark.parametrize("m0,q0", [
    ([[0.3], [-0.2]], [[1.0, 0.4], [0.4, 1.0]]),
    ([[0.05]], [[1.0]]),
    ([[0.1], [0.0], [-0.3]], [[1.0, 0.2, 0.0], [0.2, 1.0, -0.1], [0.0, -0.1, 1.0]]),
])
def test_given_start_is_reproduced_at_t0_and_stored(engine, m0, q0):
    m0, q0 = np.array(m0), np.array(q0)
    p = q0.shape[0]
    problem = Problem(d=20, p=p, gamma=0.1, t_max=0.1)
    ds = simulate(problem, engine, seeds=2, init=(m0, q0))
    at0 = ds.sel(t=0.0)
    for s in ds.seed.values:
        np.testing.assert_allclose(at0.m.sel(seed=s).values, m0.ravel(), atol=1e-12)
        np.testing.assert_allclose(at0.q.sel(seed=s).values, q0, atol=1e-12)
        assert float(at0.risk.sel(seed=s)) == pytest.approx(risk_from_overlaps(m0.ravel(), q0),
                                                           abs=1e-12)
    np.testing.assert_array_equal(ds.m0.values, m0.ravel())
    np.testing.assert_array_equal(ds.q0.values, q0)
    assert ds.m0.dims == ("neuron",) and ds.q0.dims == ("neuron", "neuron2")
    assert ds.attrs["init"] == "given"


# -- (f) semidefinite safety: Delta = 0 runs that learn fully ----------------------------

@pytest.mark.parametrize("p", [1, 2])
def test_gram_run_that_learns_fully_stays_finite_and_reaches_zero_risk(p):
    problem = Problem(d=100, p=p, gamma=0.1, noise=0.0, t_max=30.0, saves_per_decade=10)
    ds = simulate(problem, "gram", seeds=3, init="random", root_seed=1)
    assert not ds.diverged.any()
    assert np.all(np.isfinite(ds.risk.values)) and np.all(np.isfinite(ds.q.values))
    assert np.all(ds.risk.isel(t=-1).values < 1e-3)
    # the Gram matrix became nearly singular (every student ~ +-teacher) and stayed PSD
    g = np.stack([[gram_from_overlaps(ds.m.values[s, k], ds.q.values[s, k])
                   for k in range(ds.sizes["t"])] for s in range(3)])
    eig = np.linalg.eigvalsh(g)
    assert eig.min() > -1e-9
    assert np.all(eig[:, -1, 0] < 2e-3)
    assert np.all(np.abs(ds.m.isel(t=-1).values) > 0.99)
    assert np.all(np.abs(ds.m.values) <= 1 + 1e-12)


@pytest.mark.parametrize("engine", ["gram", "sgd"])
def test_a_student_equal_to_the_teacher_stays_learned_at_zero_noise(engine):
    # singular start: at Delta = 0 the learned state is absorbing (f = y, zero gradient)
    for m0, q0 in [([[1.0]], [[1.0]]), ([[1.0], [-1.0]], [[1.0, -1.0], [-1.0, 1.0]])]:
        problem = Problem(d=30, p=len(m0), gamma=0.1, t_max=3.0, saves_per_decade=5)
        ds = simulate(problem, engine, seeds=2, init=(np.array(m0), np.array(q0)))
        assert not ds.diverged.any()
        np.testing.assert_allclose(ds.risk.values, 0.0, atol=1e-12)
        np.testing.assert_allclose(np.abs(ds.m.values), 1.0, atol=1e-12)


def test_gram_runs_from_a_singular_start_with_noise():
    # one student equal to the teacher, the other random: G singular at t = 0
    problem = Problem(d=30, p=2, gamma=0.1, noise=0.5, t_max=3.0, saves_per_decade=5)
    m0, q0 = np.array([[1.0], [0.1]]), np.array([[1.0, 0.1], [0.1, 1.0]])
    ds = simulate(problem, "gram", seeds=3, init=(m0, q0))
    assert not ds.diverged.any() and np.all(np.isfinite(ds.risk.values))
    assert np.all(np.abs(ds.m.values) <= 1 + 1e-12)


# -- (g) gram needs p + 1 <= d -------------------------------------------------------------

@pytest.mark.parametrize("d,p", [(3, 3), (2, 2), (4, 7)])
def test_gram_with_p_plus_one_above_d_raises_and_sgd_runs(d, p):
    problem = Problem(d=d, p=p, gamma=0.1, t_max=1.0, saves_per_decade=5)
    with pytest.raises(ValueError, match=r"'gram' needs p \+ 1 <= d.*use 'sgd'"):
        simulate(problem, "gram", seeds=1)
    for init in ("random", "fixed"):
        ds = simulate(problem, "sgd", seeds=2, init=init)
        assert not ds.diverged.any() and np.all(np.isfinite(ds.risk.values))
    assert choose_engine(problem) == "sgd"
    assert simulate(problem, "auto", seeds=1).attrs["engine"] == "sgd"


# -- (h) huge steps: bounded on the sphere; floating-point overflow is flagged ---------------

@pytest.mark.parametrize("engine", ["sgd", "gram"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("gamma", [50.0, 1e200])
def test_huge_steps_do_not_crash_and_diverged_flags_non_finite_runs(engine, p, gamma):
    d = 50
    with pytest.warns(NoEscapeWarning):
        problem = Problem(d=d, p=p, gamma=gamma, t_min=gamma / (p * d),
                          t_max=300 * gamma / (p * d), saves_per_decade=10)
    ds = simulate(problem, engine, seeds=3)
    risk = ds.risk.values
    finite = np.isfinite(risk)
    # the flag says exactly which runs produced non-finite overlaps, and everything after
    # the first non-finite save is NaN
    np.testing.assert_array_equal(ds.diverged.values, ~finite.all(axis=1))
    for s in range(3):
        first_bad = np.argmin(finite[s]) if not finite[s].all() else risk.shape[1]
        assert finite[s, :first_bad].all() and not finite[s, first_bad:].any()
        assert first_bad >= 1  # the start is finite
    if gamma == 50.0:
        # the spherical projection keeps every w_j on the sphere: nothing can diverge
        assert not ds.diverged.any()
        assert np.all(np.abs(ds.m.values) <= 1 + 1e-12)
    if engine == "sgd" and gamma == 1e200:
        # gamma^2 |x|^2 overflows: the run must end flagged, not raise ZeroDivisionError
        assert ds.diverged.all()


# -- (i) early stopping -------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["sgd", "gram"])
@pytest.mark.parametrize("stop_after", [0.0, 0.3])
def test_early_stop_leaves_nan_after_the_stop_and_the_same_exit_time(engine, stop_after):
    kw = dict(d=80, p=2, gamma=0.1, threshold=0.1, t_max=5.0, saves_per_decade=20)
    full_problem = Problem(**kw)
    stop_problem = Problem(**kw, stop_after=stop_after)
    n = 12
    full = simulate(full_problem, engine, seeds=n, init="fixed")
    stop = simulate(stop_problem, engine, seeds=n, init="fixed")
    np.testing.assert_array_equal(exit_time(full.risk, 0.1).values,
                                  exit_time(stop.risk, 0.1).values)
    assert np.isfinite(exit_time(full.risk, 0.1).values).all()
    steps = full_problem.save_steps()
    level = (1 - 0.1) * full.risk.values[:, 0]
    for s in range(n):
        r_full, r_stop = full.risk.values[s], stop.risk.values[s]
        k_cross = np.argmax(r_full[1:] <= level[s]) + 1
        # stop at the first save at least stop_after after the save that saw the crossing
        stop_step = steps[k_cross] + stop_problem.stop_after_steps()
        last = k_cross + np.argmax(steps[k_cross:] >= stop_step)
        np.testing.assert_array_equal(r_stop[: last + 1], r_full[: last + 1])
        assert np.isnan(r_stop[last + 1:]).all() and np.isnan(stop.m.values[s, last + 1:]).all()
        assert last + 1 < r_full.size  # it did stop early
    assert not stop.diverged.any()


# -- (j) engine selection and validation before any compute ------------------------------

def test_auto_picks_gram_for_large_d_and_small_p_and_sgd_when_gram_is_singular():
    for d, p in [(10**5, 1), (10**4, 2), (10**6, 5), (1000, 1)]:
        assert choose_engine(Problem(d=d, p=p, gamma=0.01)) == "gram"
        assert resolve_engine(Problem(d=d, p=p, gamma=0.01), "auto") == "gram"
    for d, p in [(2, 2), (3, 5), (10, 10)]:
        assert choose_engine(Problem(d=d, p=p, gamma=0.01)) == "sgd"
    ds = simulate(Problem(d=1000, p=1, gamma=0.1, t_max=0.01), "auto", seeds=1)
    assert ds.attrs["engine"] == "gram" and ds.attrs["engine_requested"] == "auto"


@pytest.fixture
def no_compute(monkeypatch):
    """Replace every runner by one that fails: validation must happen before any run."""
    def boom(*args, **kwargs):
        raise AssertionError("a run started before the arguments were validated")
    for name in list(RUNNERS):
        monkeypatch.setitem(RUNNERS, name, boom)


@pytest.mark.parametrize("engine", ["foo", "SGD", "", None, "grams"])
def test_unknown_engine_names_raise_value_error(no_compute, engine):
    with pytest.raises(ValueError, match="engine"):
        simulate(Problem(d=50, p=1, gamma=0.1), engine, seeds=1)


@pytest.mark.parametrize("seeds", [0, -3, [], [1, 1], [-1, 2], "abc", [0.5, None]])
def test_invalid_seeds_raise_value_error_before_any_run(no_compute, seeds):
    with pytest.raises(ValueError, match="seeds"):
        simulate(Problem(d=50, p=1, gamma=0.1), "sgd", seeds=seeds)


def test_invalid_start_and_problem_raise_before_any_run(no_compute):
    with pytest.raises(ValueError, match="not a Gram matrix"):
        simulate(Problem(d=50, p=1, gamma=0.1), "gram", init=([[2.0]], [[1.0]]))
    with pytest.raises(ValueError, match="init"):
        simulate(Problem(d=50, p=1, gamma=0.1), "gram", init="typical")
    with pytest.raises(TypeError, match="Problem"):
        simulate({"d": 50, "p": 1, "gamma": 0.1}, "gram")
