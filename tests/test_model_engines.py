"""Every registered model on the engines: the ODE drift and the increment covariance
(quadrature, mediocrity.engines.quadrature) against Monte Carlo of one exact step of the
Gram chain; the quadrature against the exact Wick moments of the default; gram vs sgd
in law; the ODE against the exact chain at large d."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import mediocrity as md
from mediocrity import models
from mediocrity.engines.ode import model_moments

MODELS = models.available()


def ufuncs(model):
    """numpy ufuncs of σ*, σ, σ' (vectorised copies of the model's scalar functions)."""
    sig = ["float64(float64)"]
    return tuple(numba.vectorize(sig)(f.py_func) for f in
                 (model.target, model.activation, model.derivative))


def exact_increments(model, gram, d, gamma, noise, rng, n, linear=False):
    """n exact one-step increments of (M, q_jk j < k) from the normalised Gram matrix:
    the chain's step (docs/science.md §4) with g_j = (f - y) σ'(λ_j)/p, vectorised."""
    target, sigma, dsigma = ufuncs(model)
    r = gram.shape[0]
    p = r - 1
    xi = rng.standard_normal((n, r))
    low = np.linalg.cholesky(gram)
    u = xi @ low.T
    xx = np.einsum("ni,ni->n", xi, xi) + rng.chisquare(d - r, n)
    f = sigma(u[:, 1:]).mean(1)
    y = target(u[:, 0]) + np.sqrt(noise) * rng.standard_normal(n)
    e = np.zeros((n, r))
    e[:, 1:] = (gamma / d) * ((f - y) / p)[:, None] * dsigma(u[:, 1:])
    new = (gram - np.einsum("na,nb->nab", u, e) - np.einsum("na,nb->nab", e, u)
           + xx[:, None, None] * np.einsum("na,nb->nab", e, e))
    scale = 1.0 / np.sqrt(np.einsum("naa->na", new))
    new *= scale[:, :, None] * scale[:, None, :]
    up_j, up_k = np.triu_indices(p, 1)
    if linear:  # also the first-order increment xi = X - m Y_jj/2, .. of the same draws
        g = (gamma / d) * ((f - y) / p)[:, None] * dsigma(u[:, 1:])
        big_y = (-(g[:, :, None] * u[:, None, 1:] + u[:, 1:, None] * g[:, None, :])
                 + d * g[:, :, None] * g[:, None, :])
        dia = np.einsum("njj->nj", big_y)
        xi_m = -g * u[:, :1] - 0.5 * gram[0, 1:] * dia
        xi_q = (big_y[:, up_j, up_k] - 0.5 * gram[up_j + 1, up_k + 1]
                * (dia[:, up_j] + dia[:, up_k]))
        lin = np.concatenate([xi_m, xi_q], axis=1)
    out = np.concatenate([new[:, 0, 1:] - gram[0, 1:],
                           new[:, up_j + 1, up_k + 1] - gram[up_j + 1, up_k + 1]], axis=1)
    return (out, lin) if linear else out


STATES = {1: (np.array([0.35]), np.array([[1.0]])),
          2: (np.array([0.3, -0.15]), np.array([[1.0, 0.2], [0.2, 1.0]]))}


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("name", MODELS)
def test_drift_and_covariance_against_monte_carlo_of_one_exact_step(name, p):
    """E[ξ] (the ODE drift / p) and Cov[ξ] (the SDE diffusion) of the quadrature equal the
    mean and covariance of 2e5 exact chain steps (d = 1e6, so the O(γ/d) corrections are
    ~1e-6) within 5 standard errors; every entry."""
    model = models.get(name)
    m, q = STATES[p]
    gram = md.overlaps.gram_from_overlaps(m, q)
    d, gamma, noise, n = 10**6, 0.05, 0.3, 200_000
    rng = np.random.default_rng(20 + p)
    inc, lin = exact_increments(model, gram, d, gamma, noise, rng, n, linear=True)
    inc /= gamma / d
    lin /= gamma / d
    mean, cov = model_moments(model, p)(m, q, gamma, noise, True)
    if name == "he4":
        # ξ is a polynomial of degree 14 in the fields (ξ², 28): 2e5 samples do not
        # estimate their means (measured: 1/3 of the mean, 1/10 of the variance, the
        # sample variance as wrong). Instead: every exact step equals its first-order
        # increment ξ(u, z) of the derivation (to O(γ/d) and |x|²/d - 1 = O(d^-1/2);
        # at d = 1e12, 2e4 draws),
        # and the Gauss-Hermite rule of E[ξ], E[ξξ^T] is exact at these degrees (the
        # same with twice the nodes).
        from mediocrity.engines.quadrature import gauss_hermite

        big = 10**12  # the linearisation of the largest of these draws needs d >> 1e6
        inc, lin = exact_increments(model, gram, big, gamma, noise, rng, 20_000, linear=True)
        assert np.allclose(inc, lin, rtol=1e-3, atol=1e-9 * np.abs(lin).max())
        mod = models.specialise("mediocrity.engines.quadrature", name)
        wide = mod.quadrature_moments(m, q, gamma, noise, *gauss_hermite(32), True)
        assert np.allclose(mean, wide[0], rtol=1e-9, atol=0)
        assert np.allclose(cov, wide[1], rtol=1e-9, atol=0)
        return
    se = inc.std(0) / np.sqrt(n)
    assert np.all(np.abs(inc.mean(0) - mean) < 5 * se), (inc.mean(0), mean, se)
    centred = inc - inc.mean(0)
    for a in range(mean.size):
        for b in range(a, mean.size):
            prod = centred[:, a] * centred[:, b]
            assert abs(prod.mean() - cov[a, b]) < 5 * prod.std() / np.sqrt(n), (a, b)


def test_quadrature_of_the_default_is_the_exact_wick_moments():
    from mediocrity.engines.ode import model_rhs, ode_rhs
    from mediocrity.moments import increment_moments

    m = np.array([0.3, -0.2, 0.1])
    q = np.array([[1, 0.1, 0.05], [0.1, 1.0, -0.2], [0.05, -0.2, 1]])
    mean, cov = model_moments("phase_retrieval", 3)(m, q, 0.3, 0.5, True)
    exact_mean, exact_cov = increment_moments(m, q, 0.3, 0.5)
    assert np.allclose(mean, exact_mean, atol=1e-12)
    assert np.allclose(cov, exact_cov, atol=1e-10)
    dm, dq = model_rhs(models.get("phase_retrieval"), m, q, 3, 0.3, 0.5)
    em, eq = ode_rhs(m, q, 3, 0.3, 0.5)
    assert np.allclose(dm, em, atol=1e-12) and np.allclose(dq, eq, atol=1e-12)


@pytest.mark.parametrize("name", ["abs", "relu"])
def test_piecewise_rule_converges_for_kinked_models(name):
    """The kinked models' rule at the default nodes agrees with twice the nodes to 1e-9,
    also next to the saddle (m ~ 1e-3), where the drift is O(m)."""
    from numpy.polynomial.legendre import leggauss

    from mediocrity.engines.ode import GL_NODES

    mod = models.specialise("mediocrity.engines.quadrature", name)
    for m, q in (STATES[2], (np.array([1e-3, 1e-3]), np.eye(2))):
        a = mod.piecewise_moments(m, q, 0.1, 0.0, *leggauss(GL_NODES[2]), True)
        b = mod.piecewise_moments(m, q, 0.1, 0.0, *leggauss(2 * GL_NODES[2]), True)
        assert np.allclose(a[0], b[0], rtol=0, atol=1e-9)
        assert np.allclose(a[1], b[1], rtol=0, atol=1e-9)


# gram vs sgd in law, every model: p = 1, small d, 200 seeds each (distinct seed indices
# for the two engines: independent samples), two-sample Kolmogorov-Smirnov and Welch
# tests at level 1e-3. Statistic: the exit time (first t with R <= R(0)/2) for k >= 2,
# the risk at a fixed time for k = 1 (relu: no plateau).
LAW_CELLS = {  # model: (d, gamma, t_max, statistic)
    "phase_retrieval": (24, 0.1, 10.0, "exit"),
    "abs": (24, 0.1, 30.0, "exit"),
    "he3": (24, 5e-4, 10.0, "exit"),
    "he4": (16, 1e-5, 10.0, "exit"),
    "relu": (24, 0.1, 0.5, "risk"),
}
LAW_SEEDS = 200


@pytest.mark.parametrize("name", MODELS)
def test_gram_and_sgd_have_the_same_law(name):
    from scipy import stats

    d, gamma, t_max, statistic = LAW_CELLS[name]
    problem = md.Problem(d=d, p=1, gamma=gamma, t_max=t_max, threshold=0.5,
                         stop_after=None if statistic == "risk" else 0.01, model=name)
    samples = []
    for engine, seeds in (("gram", range(LAW_SEEDS)),
                          ("sgd", range(LAW_SEEDS, 2 * LAW_SEEDS))):
        ds = md.simulate(problem, engine=engine, seeds=list(seeds), init="annealed",
                         root_seed=9)
        if statistic == "exit":
            values = md.exit_time(ds.risk, 0.5).values
            assert np.isfinite(values).mean() > 0.95, (engine, np.isfinite(values).mean())
        else:
            values = ds.risk.isel(t=-1).values
        samples.append(values[np.isfinite(values)])
    a, b = samples
    assert stats.ks_2samp(a, b).pvalue > 1e-3, (a.mean(), b.mean())
    assert stats.ttest_ind(a, b, equal_var=False).pvalue > 1e-3, (a.mean(), b.mean())


@pytest.mark.parametrize("name", MODELS)
def test_sde_runs_every_model_from_its_risk(name):
    problem = md.Problem(d=1000, p=1, gamma=1e-4, t_max=0.02, t_min=1e-2, model=name)
    ds = md.simulate(problem, engine="sde", seeds=2, init="annealed", scheduler="sync")
    m0 = 1000 ** -0.5
    assert np.allclose(ds.risk.isel(t=0), models.get(name).risk([m0], [[1.0]]))
    assert np.isfinite(ds.risk).all() and not ds.diverged.any()


@pytest.mark.slow
@pytest.mark.parametrize("name, d, gamma", [("abs", 1000, 0.1), ("relu", 1000, 0.1),
                                            ("he3", 400, 0.00013)])
def test_sde_against_gram_for_other_models(name, d, gamma):
    """Exit times (T = 0.5, annealed start) of 100 sde and 100 gram runs: Welch and KS
    at 1e-3. The sde drops O(γ/d) drift corrections (docs/ode_sde.md)."""
    from scipy import stats

    problem = md.Problem(d=d, p=1, gamma=gamma, t_max=20.0, threshold=0.5,
                         stop_after=0.01, model=name)
    out = []
    for engine, seeds in (("gram", range(100)), ("sde", range(100, 200))):
        ds = md.simulate(problem, engine=engine, seeds=list(seeds), init="annealed")
        t = md.exit_time(ds.risk, 0.5).values
        out.append(t[np.isfinite(t)])
    assert stats.ttest_ind(*out, equal_var=False).pvalue > 1e-3, [v.mean() for v in out]
    assert stats.ks_2samp(*out).pvalue > 1e-3
