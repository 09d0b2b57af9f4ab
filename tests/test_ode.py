"""Engines `ode` and `ode_largep` (mediocrity/engines/ode.py) against the exact chain,
the p = 1 closed form, the linear theory and each other."""

import numpy as np
import pytest

import mediocrity as md
from mediocrity import theory
from mediocrity.engines import STOCHASTIC
from mediocrity.engines.ode import (RTOL, annealed_start, largep_rhs, largep_risk,
                                    ode_rhs, run_ode)
from mediocrity.initial import random_gram
from mediocrity.moments import sample_increments
from mediocrity.overlaps import gram_from_overlaps

INTEGRATOR_TOL = 100 * RTOL  # margin for the error accumulated over a whole run


def test_ode_rhs_equals_the_monte_carlo_drift_of_the_exact_chain():
    # O(1) overlaps, a large step size and label noise, so that the (4 gamma/p)(S + Delta Q)
    # terms are large (dropping them moves the drift by > 40 standard errors here)
    p, gamma, noise, d, n = 3, 0.5, 1.0, 10**6, 400_000
    g = random_gram(5, p, np.random.default_rng(1))
    dm, dq = ode_rhs(g[0, 1:], g[1:, 1:], p, gamma, noise)
    upper = np.triu_indices(p, 1)
    expected = np.r_[dm, dq[upper]]
    # one SGD step lasts gamma/(p d): drift = mean increment * p d / gamma
    steps = sample_increments(g, d, gamma, noise, np.random.default_rng(2), n) * (p * d / gamma)
    se = steps.std(axis=0) / np.sqrt(n)
    # the O(gamma/d) corrections of the finite-d chain are ~1e-4 of the drift here
    assert np.all(np.abs(steps.mean(axis=0) - expected) < 5 * se)


@pytest.mark.parametrize("gamma, noise", [(0.1, 0.0), (0.05, 0.3), (0.15, 1e-4)])
def test_p1_ode_rhs_is_the_closed_form(gamma, noise):
    m = np.linspace(-1, 1, 41)
    got = np.array([ode_rhs([x], [[1.0]], 1, gamma, noise)[0][0] for x in m])
    closed = (4 - 24 * gamma) * m * (1 - m**2) - 2 * gamma * noise * m
    np.testing.assert_allclose(got, closed, rtol=0, atol=1e-13)


def test_p1_ode_trajectory_is_the_logistic_solution():
    # dm/dt = a m (1 - m^2) - b m  =>  u = m^2 is logistic with rate 2(a - b), limit (a - b)/a
    gamma, noise, m0 = 0.1, 0.05, 0.01
    problem = md.Problem(d=10**4, p=1, gamma=gamma, noise=noise, t_max=5.0)
    run = run_ode(problem, gram_from_overlaps([m0], [[1.0]]), None, True)
    a, b = 4 - 24 * gamma, 2 * gamma * noise
    u_inf = (a - b) / a
    t = problem.time_grid()
    u = u_inf / (1 + (u_inf / m0**2 - 1) * np.exp(-2 * (a - b) * t))
    np.testing.assert_allclose(run.m[:, 0] ** 2, u, rtol=INTEGRATOR_TOL)


@pytest.mark.parametrize("p, gamma, noise", [(1, 0.1, 0.0), (2, 0.3, 0.1), (5, 0.7, 1.0)])
def test_jacobian_at_mediocrity_gives_the_growth_and_offdiagonal_rates(p, gamma, noise):
    upper = np.triu_indices(p, 1)

    def rhs(x):
        q = np.eye(p)
        q[upper] = q.T[upper] = x[p:]
        dm, dq = ode_rhs(x[:p], q, p, gamma, noise)
        return np.r_[dm, dq[upper]]

    n, h = p + upper[0].size, 1e-6
    jac = np.column_stack([(rhs(h * e) - rhs(-h * e)) / (2 * h) for e in np.eye(n)])
    rates = np.r_[np.full(p, theory.growth_rate(p, gamma, noise)),
                  np.full(n - p, theory.offdiagonal_rate(p, gamma))]
    # central differences of a cubic: error ~ h^2 * third derivative ~ 1e-10
    np.testing.assert_allclose(jac, np.diag(rates), rtol=0, atol=1e-8)


@pytest.mark.parametrize("gamma, noise", [(0.1, 0.01), (0.05, 0.5)])
def test_p1_ode_fixed_point_is_the_sgd_noise_floor(gamma, noise):
    problem = md.Problem(d=10**4, p=1, gamma=gamma, noise=noise, t_max=40.0)
    run = run_ode(problem, gram_from_overlaps([0.1], [[1.0]]), None, False)
    # relaxation rate >= 2(4 - 24 gamma) - 4 gamma Delta >= 3: converged at t = 40. R = 2(1 - m^2)
    # is a difference near m = 1, so it inherits the absolute error of m: |dR| <= 4 |dm|
    np.testing.assert_allclose(run.risk[-1], theory.plateau_risk_p1(gamma, noise),
                               rtol=0, atol=4 * 10 * RTOL)


def test_ode_exit_time_follows_the_linear_theory_at_large_d():
    # annealed start, |M0|^2 = p/d: t_ex = (log d + C_p)/(2 lambda_p) up to the nonlinear
    # terms, O(|M|^2) <= T(p+1)/2 relative on the rate over the last ~1/(2 lambda_p) before
    # the threshold: |error| <~ T (p+1)/(4 lambda_p) = 0.0021 (measured 0.0017, 0.0014)
    p, gamma = 2, 0.1
    problem_tol = 0.01 * (p + 1) / (4 * theory.growth_rate(p, gamma))
    for d in (10**6, 10**8):
        problem = md.Problem(d=d, p=p, gamma=gamma, t_max=10.0, saves_per_decade=200)
        ds = md.simulate(problem, "ode", init=annealed_start(p, d))
        got = float(md.exit_time(ds.risk, problem.threshold))
        assert got == pytest.approx(theory.exit_time_annealed(d, p, gamma), abs=problem_tol)


def test_largep_rhs_is_the_full_rhs_on_its_ansatz():
    p, gamma, noise = 7, 0.4, 0.2
    m = np.random.default_rng(3).uniform(-0.6, 0.6, p)
    q = np.outer(m, m) + np.diag(1 - m**2)
    np.testing.assert_allclose(largep_rhs(m, p, gamma, noise),
                               ode_rhs(m, q, p, gamma, noise)[0], rtol=1e-12, atol=1e-14)
    assert largep_risk(m) == pytest.approx(md.risk_from_overlaps(m, q), rel=1e-13)


@pytest.mark.parametrize("p", [20, 50])
def test_largep_form_tracks_the_full_ode_at_moderate_p(p):
    # docs/ode_sde.md: for gamma = O(1) the ansatz error on R is ~0.3/p (measured
    # 0.29/p for p = 5..100) and the exit times agree to ~2e-4 relative
    d = 10**4
    problem = md.Problem(d=d, p=p, gamma=0.1, noise=1e-3, t_max=10.0)
    full = md.simulate(problem, "ode", init=annealed_start(p, d), save_q=False)
    large = md.simulate(problem, "ode_largep", init=annealed_start(p, d))
    assert float(abs(full.risk - large.risk).max()) < 0.5 / p
    assert float(md.exit_time(large.risk)) == pytest.approx(float(md.exit_time(full.risk)),
                                                            rel=1e-3)


def test_simulate_runs_the_ode_from_fixed_given_and_random_starts():
    assert "ode" not in STOCHASTIC and "ode_largep" not in STOCHASTIC
    problem = md.Problem(d=500, p=3, gamma=0.1, t_max=2.0)
    fixed = md.simulate(problem, "ode", init="fixed")
    given = md.simulate(problem, "ode", init=annealed_start(3, 500))
    random = md.simulate(problem, "ode", init="random", seeds=[4])
    for ds in (fixed, given, random):
        assert "seed" not in ds.dims and ds.attrs["engine"] == "ode"
        assert np.isfinite(ds.risk).all() and ds.q.shape == (ds.t.size, 3, 3)
    np.testing.assert_allclose(given.m0, 1 / np.sqrt(500))
    again = md.simulate(problem, "ode", init="fixed")
    np.testing.assert_array_equal(fixed.risk, again.risk)
    with pytest.raises(ValueError, match="deterministic"):
        md.simulate(problem, "ode", init="random", seeds=2)
    large = md.simulate(problem, "ode_largep", init=annealed_start(3, 500), save_q=True)
    np.testing.assert_allclose(large.q.isel(t=-1), np.outer(large.m[-1], large.m[-1])
                               + np.diag(1 - large.m[-1] ** 2), rtol=1e-12)


@pytest.mark.parametrize("engine", ["ode", "ode_largep"])
def test_stop_after_cuts_the_ode_after_the_first_save_past_the_crossing(engine):
    problem = md.Problem(d=10**4, p=4, gamma=0.1, t_max=10.0)
    stopped = md.Problem(d=10**4, p=4, gamma=0.1, t_max=10.0, stop_after=0.2)
    full = md.simulate(problem, engine, init=annealed_start(4, 10**4))
    cut = md.simulate(stopped, engine, init=annealed_start(4, 10**4))
    t_ex = float(md.exit_time(full.risk))
    t = full.t.values
    first_below = t[np.searchsorted(t, t_ex)]
    last = t[np.searchsorted(t, first_below + 0.2)]
    kept = np.isfinite(cut.risk.values)
    assert kept.all() == False and t[kept][-1] == last  # noqa: E712
    np.testing.assert_allclose(cut.risk[kept], full.risk[kept], rtol=INTEGRATOR_TOL)
    assert float(md.exit_time(cut.risk)) == pytest.approx(t_ex, rel=INTEGRATOR_TOL)
