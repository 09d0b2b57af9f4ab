"""Closed-form theory (mediocrity/theory.py): vectorisation, special values, identities."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from mediocrity import theory

EXACT = dict(rtol=1e-12, atol=1e-14)  # closed forms: equal up to rounding
APPROX = dict(rel=1e-12, abs=1e-14)

# every public function with a sample of valid arguments (p, d, gamma, noise positional)
CALLS = {
    "growth_rate": lambda p, d, g, n: theory.growth_rate(p, g, n),
    "offdiagonal_rate": lambda p, d, g, n: theory.offdiagonal_rate(p, g),
    "critical_gamma": lambda p, d, g, n: theory.critical_gamma(p, n),
    "optimal_gamma": lambda p, d, g, n: theory.optimal_gamma(p, n),
    "exit_time_constant_annealed": lambda p, d, g, n: theory.exit_time_constant(p, 0.01),
    "exit_time_constant_quenched": lambda p, d, g, n: theory.exit_time_constant(
        p, 0.01, "quenched"),
    "exit_time_linear": lambda p, d, g, n: theory.exit_time_linear(p / d, p, g, n),
    "exit_time_annealed": lambda p, d, g, n: theory.exit_time_annealed(d, p, g, n),
    "exit_time_quenched": lambda p, d, g, n: theory.exit_time_quenched(d, p, g, n),
    "sgd_noise_shift": lambda p, d, g, n: theory.sgd_noise_shift(p, g, n),
    "exit_time_corrected": lambda p, d, g, n: theory.exit_time_corrected(d, p, g, n),
    "samples_needed": lambda p, d, g, n: theory.samples_needed(d, p, g, n),
    "optimal_samples": lambda p, d, g, n: theory.optimal_samples(d, p, n),
    "overparameterization_gain": lambda p, d, g, n: theory.overparameterization_gain(n),
    "plateau_risk_p1": lambda p, d, g, n: theory.plateau_risk_p1(g, n),
}
P = np.array([1, 2, 5, 50])
D = np.array([1e3, 1e5])
GAMMA = np.array([0.02, 0.1])
NOISE = np.array([0.0, 1e-2])


@pytest.mark.parametrize("name", sorted(CALLS))
def test_theory_functions_broadcast_over_numpy_and_xarray(name):
    f = CALLS[name]
    grid = np.meshgrid(P, D, GAMMA, NOISE, indexing="ij")
    scalar = np.vectorize(lambda *a: float(f(*a)))(*grid)
    np.testing.assert_allclose(f(*grid), scalar, **EXACT)
    coords = [xr.DataArray(v, dims=k, coords={k: v})
              for k, v in zip(("p", "d", "gamma", "noise"), (P, D, GAMMA, NOISE))]
    out = xr.DataArray(f(*coords)).broadcast_like(xr.DataArray(scalar, coords=coords))
    out = out.transpose("p", "d", "gamma", "noise")
    np.testing.assert_allclose(out.values, scalar, **EXACT)


def test_optimal_gamma_is_half_critical_and_gives_lambda_2():
    p, noise = np.meshgrid(np.arange(1, 200), [0.0, 1e-4, 0.5, 3.0])
    gamma_star = theory.optimal_gamma(p, noise)
    np.testing.assert_allclose(gamma_star, theory.critical_gamma(p, noise) / 2, **EXACT)
    np.testing.assert_allclose(theory.growth_rate(p, gamma_star, noise), 2.0, **EXACT)
    np.testing.assert_allclose(
        theory.growth_rate(p, theory.critical_gamma(p, noise), noise), 0.0, rtol=0, atol=1e-12)


def test_optimal_gamma_minimises_the_samples():
    p, d, noise = 3, 1e4, 0.1
    gamma = np.linspace(0.2, 1.8, 2001) * theory.optimal_gamma(p, noise)
    n = theory.samples_needed(d, p, gamma, noise)
    assert gamma[np.argmin(n)] == pytest.approx(theory.optimal_gamma(p, noise), rel=1e-3)


def test_p1_values():
    assert theory.critical_gamma(1) == pytest.approx(1 / 6, **APPROX)
    assert theory.optimal_gamma(1) == pytest.approx(1 / 12, **APPROX)
    for t in (0.01, 0.05, 0.3):
        assert theory.exit_time_constant(1, t, "quenched") == pytest.approx(
            np.log(2 * t) + np.euler_gamma, **APPROX)
    # docs/science.md §3: n* ~ 3 d log d at p = 1, slopes 1/(2 lambda_p) of t_ex vs log d
    assert theory.optimal_samples(1e6, 1) / (1e6 * (np.log(1e6) + np.log(0.01))) == \
        pytest.approx(3.0, **APPROX)
    d, p = np.array([1e3, np.e * 1e3]), np.array([[1], [2]])
    slope = np.diff(theory.exit_time_annealed(d, p, 0.1))
    np.testing.assert_allclose(slope[:, 0], [0.3125, 1 / 7], **EXACT)
    # the SGD-noise shift at p = 1, gamma = 0.1 (measured 0.28-0.30 below the ODE)
    assert theory.sgd_noise_shift(1, 0.1) == pytest.approx(-np.log(2.5) / 3.2, **APPROX)
    assert 0.28 < -theory.sgd_noise_shift(1, 0.1) < 0.30


def test_quenched_constant_is_the_annealed_one_averaged_over_chi2_starts():
    # C_p(quenched) = log(T (p+1)/2) - E[log chi2_p]  (d |M0|^2 ~ chi2_p)
    for p in (1, 2, 7, 40):
        mean_log = stats.chi2(p).expect(np.log)
        assert theory.exit_time_constant(p, 0.01, "quenched") == pytest.approx(
            np.log(0.01 * (p + 1) / 2) - mean_log, rel=1e-8)
    with pytest.raises(ValueError, match="initial"):
        theory.exit_time_constant(1, 0.01, "typical")


def test_exit_time_linear_at_the_typical_overlap_is_the_annealed_exit_time():
    p, d = np.arange(1, 30), 1e5
    np.testing.assert_allclose(theory.exit_time_linear(p / d, p, 0.1, 1e-3),
                               theory.exit_time_annealed(d, p, 0.1, 1e-3), **EXACT)
    np.testing.assert_allclose(
        theory.exit_time_corrected(d, p, 0.1, 1e-3, initial="annealed")
        - theory.exit_time_annealed(d, p, 0.1, 1e-3), theory.sgd_noise_shift(p, 0.1, 1e-3),
        **EXACT)


@pytest.mark.parametrize("initial", ["annealed", "quenched"])
def test_optimal_samples_equal_the_samples_needed_at_optimal_gamma(initial):
    p, noise = np.meshgrid(np.arange(1, 100), [0.0, 1e-4, 2.0])
    d = 1e5
    np.testing.assert_allclose(
        theory.optimal_samples(d, p, noise, initial=initial),
        theory.samples_needed(d, p, theory.optimal_gamma(p, noise), noise, initial=initial),
        **EXACT)


def test_overparameterization_gain_is_the_ratio_of_optimal_samples():
    assert theory.overparameterization_gain(0.0) == pytest.approx(6.0, **APPROX)
    d = 1e6

    def coefficient(p, noise):  # n* / (d (log d + C_p)), the d log d coefficient
        return theory.optimal_samples(d, p, noise) / (
            d * (np.log(d) + theory.exit_time_constant(p)))

    for noise in (0.0, 0.3, 5.0):
        ratio = coefficient(1, noise) / coefficient(10**9, noise)
        # the p -> infinity limit is reached up to (p + 4)/p^2 ~ 1e-9
        assert ratio == pytest.approx(theory.overparameterization_gain(noise), rel=1e-8)


def test_mean_log_noncentral_chi2_matches_monte_carlo():
    """E log X, X ~ ncx2(k, nc), against 4e5 scipy draws (tolerance: 5 standard errors)."""
    from scipy.stats import ncx2

    rng = np.random.default_rng(7)
    for k, nc in [(1, 0.0), (1, 0.67), (3, 2.0), (5, 40.0)]:
        x = np.log(ncx2.rvs(k, nc, size=400_000, random_state=rng) if nc > 0
                   else rng.chisquare(k, 400_000))
        exact = float(theory.mean_log_noncentral_chi2(k, nc))
        assert abs(exact - x.mean()) < 5 * x.std() / np.sqrt(x.size)


def test_fixed_start_exit_time_limits():
    """Without SGD noise weight (huge d|M0|^2/s_p) it is the linear ODE time; averaged over
    Gaussian starts d|M0|^2 ~ chi2_p it is the quenched time plus the SGD-noise shift."""
    p, gamma, d = 2, 0.1, 10**4
    big = 1e-2  # |M0|^2 with d |M0|^2 / s_p ~ 1e3: the noise is negligible
    assert float(theory.exit_time_fixed_start(big, d, p, gamma)) == pytest.approx(
        float(theory.exit_time_linear(big, p, gamma)), abs=2e-3)
    rng = np.random.default_rng(3)
    m0_norm2 = rng.chisquare(p, 20_000) / d
    averaged = theory.exit_time_fixed_start(m0_norm2, d, p, gamma).mean()
    se = theory.exit_time_fixed_start(m0_norm2, d, p, gamma).std() / np.sqrt(m0_norm2.size)
    assert abs(averaged - float(theory.exit_time_corrected(d, p, gamma))) < 5 * se
