"""Engine `sde` and its closed-form Gaussian moments (mediocrity/moments.py,
mediocrity/engines/sde.py) against the exact chain and the theory."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import mediocrity as md
from mediocrity import theory
from mediocrity.engines import STOCHASTIC
from mediocrity.engines.ode import ode_rhs
from mediocrity.engines.sde import TIME_STEP, run_sde
from mediocrity.initial import initial_grams, random_gram, run_generators
from mediocrity.moments import increment_moments, sample_increments


@pytest.mark.parametrize("p", [1, 2, 4])
def test_mean_increment_times_p_is_the_ode_rhs(p):
    gamma, noise = 0.3, 0.7
    g = random_gram(p + 2, p, np.random.default_rng(p))
    mean, _ = increment_moments(g[0, 1:], g[1:, 1:], gamma, noise)
    dm, dq = ode_rhs(g[0, 1:], g[1:, 1:], p, gamma, noise)
    np.testing.assert_allclose(p * mean, np.r_[dm, dq[np.triu_indices(p, 1)]],
                               rtol=1e-12, atol=1e-13)


def test_increment_covariance_matches_one_exact_chain_step():
    # O(1) overlaps, gamma and Delta large enough that every term of xi matters
    p, gamma, noise, d, n = 3, 0.5, 1.0, 10**6, 400_000
    g = random_gram(5, p, np.random.default_rng(1))
    _, cov = increment_moments(g[0, 1:], g[1:, 1:], gamma, noise)
    xi = sample_increments(g, d, gamma, noise, np.random.default_rng(7), n) * (d / gamma)
    xi -= xi.mean(axis=0)
    products = xi[:, :, None] * xi[:, None, :]
    se = products.std(axis=0) / np.sqrt(n)
    # 21 distinct entries: 5 standard errors is a 1e-5 false-alarm rate for all of them
    assert np.all(np.abs(products.mean(axis=0) - cov) < 5 * se)


@pytest.mark.parametrize("p, noise", [(1, 0.0), (3, 0.5), (8, 1e-3)])
def test_diffusion_at_mediocrity_is_the_sgd_noise_shift_of_theory(p, noise):
    # d E|M|^2/dt = 2 lambda_p E|M|^2 + (p gamma/d) tr Cov[xi_M]: the start |M0|^2 = p/d is
    # widened by the factor 1 + s_p with s_p = gamma tr Cov[xi_M] / (2 lambda_p)
    gamma = 0.1
    _, cov = increment_moments(np.zeros(p), np.eye(p), gamma, noise)
    lam = theory.growth_rate(p, gamma, noise)
    s_p = gamma * np.trace(cov[:p, :p]) / (2 * lam)
    assert -np.log1p(s_p) / (2 * lam) == pytest.approx(theory.sgd_noise_shift(p, gamma, noise),
                                                       rel=1e-12)


def _exit_times(problem, engine, seeds, **run_kw):
    if run_kw:  # a non-default time step: call the runner with the project's seed streams
        g0 = initial_grams(problem, [0], "fixed", 0)[0]
        runs = [run_sde(problem, g0, run_generators(0, problem, s)[1], False, **run_kw)
                for s in range(seeds)]
        risk = np.stack([r.risk for r in runs])
        risk = xr.DataArray(risk, dims=("seed", "t"), coords={"t": problem.time_grid()})
        return md.exit_time(risk, problem.threshold).values
    ds = md.simulate(problem, engine, seeds=seeds, init="fixed", scheduler="synchronous")
    return md.exit_time(ds.risk, problem.threshold).values


def test_sde_and_gram_exit_times_have_the_same_law():
    problem = md.Problem(d=1000, p=2, gamma=0.1, noise=1e-4, t_max=5.0, stop_after=0.02)
    sde = _exit_times(problem, "sde", 300)
    gram = _exit_times(problem, "gram", 300)
    assert np.isfinite(sde).all() and np.isfinite(gram).all()
    se = np.hypot(sde.std(), gram.std()) / np.sqrt(300)
    # measured: sde 0.4051 +- 0.0079, gram 0.4048 +- 0.0083 (difference 0.03 se)
    assert abs(sde.mean() - gram.mean()) < 4 * se
    assert stats.ks_2samp(sde, gram).pvalue > 1e-3


@pytest.mark.parametrize("step, seeds", [
    (4 * TIME_STEP, 200),
    pytest.param(TIME_STEP, 1000, marks=pytest.mark.slow),
])
def test_halving_the_time_step_keeps_the_mean_exit_time(step, seeds):
    # Euler bias on the rate ~ lambda_p h/2: 2.8% at 4x the default step (lambda_2 = 3.5),
    # i.e. ~0.009 on t_ex ~ 0.31, below the 4-standard-error tolerance (~0.05)
    problem = md.Problem(d=1000, p=2, gamma=0.1, noise=1e-4, t_max=5.0, stop_after=0.02)
    coarse = _exit_times(problem, "sde", seeds, time_step=step)
    fine = _exit_times(problem, "sde", seeds, time_step=step / 2)
    assert np.isfinite(coarse).all() and np.isfinite(fine).all()
    se = np.hypot(coarse.std(), fine.std()) / np.sqrt(seeds)
    assert abs(coarse.mean() - fine.mean()) < 4 * se


def test_sde_is_a_stochastic_engine_with_reproducible_seed_streams():
    assert "sde" in STOCHASTIC
    problem = md.Problem(d=2000, p=3, gamma=0.1, t_max=1.0)
    a = md.simulate(problem, "sde", seeds=3, init="fixed")
    b = md.simulate(problem, "sde", seeds=[2], init="fixed")
    assert a.risk.dims == ("seed", "t") and np.isfinite(a.risk).all()
    np.testing.assert_array_equal(a.risk.sel(seed=2), b.risk.sel(seed=2))
    assert not np.allclose(a.risk.sel(seed=0), a.risk.sel(seed=1))
    np.testing.assert_allclose(a.q.isel(t=-1).values.diagonal(axis1=-2, axis2=-1), 1.0)


def test_sde_stops_at_the_first_save_past_stop_after():
    problem = md.Problem(d=2000, p=2, gamma=0.1, t_max=10.0, stop_after=0.1)
    ds = md.simulate(problem, "sde", seeds=2, init="fixed")
    t = ds.t.values
    for risk in ds.risk.values:
        kept = np.isfinite(risk)
        first_below = t[1:][risk[1:] <= (1 - problem.threshold) * risk[0]][0]
        assert t[kept][-1] == t[np.searchsorted(t, first_below + 0.1)]
        assert not kept[-1]
