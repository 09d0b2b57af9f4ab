"""The model registry: names, Hermite coefficients against closed forms, information
exponents, derivatives against finite differences, refusals."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from mediocrity import models

SQRT_2PI = math.sqrt(2 * math.pi)


def test_available_lists_the_default_first():
    assert models.available() == ("phase_retrieval", "abs", "he3", "he4", "relu")


def test_unknown_model_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match="model = 'nope' is not a known model: allowed "
                                         "phase_retrieval, abs, he3, he4, relu"):
        models.get("nope")
    with pytest.raises(ValueError, match="registered twice"):
        models.register(models.get("abs"))


@pytest.mark.parametrize("name, exponent, closed_form", [
    # c_k = E[f(z) He_k(z)]/k!
    ("phase_retrieval", 2, {0: 1.0, 1: 0.0, 2: 1.0, 3: 0.0, 4: 0.0}),
    ("abs", 2, {0: 2 / SQRT_2PI, 1: 0.0, 2: 1 / SQRT_2PI, 3: 0.0, 4: -1 / (12 * SQRT_2PI)}),
    ("he3", 3, {0: 0.0, 1: 0.0, 2: 0.0, 3: 1.0, 4: 0.0}),
    ("he4", 4, {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 1.0}),
    ("relu", 1, {0: 1 / SQRT_2PI, 1: 0.5, 2: 1 / (2 * SQRT_2PI), 3: 0.0,
                 4: -1 / (24 * SQRT_2PI)}),
])
def test_hermite_coefficients_and_information_exponent(name, exponent, closed_form):
    model = models.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the quadrature converges without complaint
        c = model.hermite(4)
    for k, value in closed_form.items():
        assert c[k] == pytest.approx(value, abs=1e-9), (name, k)
    assert model.information_exponent == exponent


@pytest.mark.parametrize("name", models.available())
def test_derivative_matches_finite_differences(name):
    model = models.get(name)
    h = 1e-6
    for x in (-2.3, -0.7, 0.4, 1.9):  # away from kinks at 0
        fd = (model.activation(x + h) - model.activation(x - h)) / (2 * h)
        assert model.derivative(x) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    assert np.isfinite(model.target(0.0))


def test_problem_validates_the_model_listing_the_known_ones():
    import mediocrity as md

    assert md.Problem(d=10, p=1, gamma=0.1).model == "phase_retrieval"
    assert md.Problem(d=10, p=1, gamma=0.1, model="he3").model == "he3"
    with pytest.raises(ValueError, match=r"Problem\.model = .nope. is invalid: allowed one of "
                                         "phase_retrieval, abs, he3, he4, relu"):
        md.Problem(d=10, p=1, gamma=0.1, model="nope")
    with pytest.raises(ValueError, match=r"Problem\.model"):
        md.Problem(d=10, p=1, gamma=0.1, model=None)


def test_seed_key_holds_the_model_only_when_not_the_default():
    import mediocrity as md
    from mediocrity.initial import seed_sequence

    base = md.Problem(d=100, p=2, gamma=0.1)
    keys = {name: seed_sequence(0, md.Problem(d=100, p=2, gamma=0.1, model=name), 3).spawn_key
            for name in models.available()}
    assert keys["phase_retrieval"] == seed_sequence(0, base, 3).spawn_key
    assert len(set(keys.values())) == len(keys)


@pytest.mark.parametrize("name", models.available())
def test_pair_kernel_and_risk_against_monte_carlo(name):
    """κ(ρ) = E[σ(u)σ(v)] and R(M, Q) = E[(f - y)^2]/2 against 4e5 Gaussian samples
    (within 5 standard errors), at p = 2 with generic overlaps."""
    model = models.get(name)
    rng = np.random.default_rng(11)
    n = 400_000
    m = np.array([0.3, -0.55])
    q = np.array([[1.0, 0.2], [0.2, 1.0]])
    g = np.block([[np.ones((1, 1)), m[None]], [m[:, None], q]])
    u = rng.standard_normal((n, 3)) @ np.linalg.cholesky(g).T
    sig = np.vectorize(model.activation, otypes=[float])
    tgt = np.vectorize(model.target, otypes=[float])
    f = (sig(u[:, 1]) + sig(u[:, 2])) / 2
    loss = 0.5 * (f - tgt(u[:, 0])) ** 2
    r = float(model.risk(m, q))
    assert abs(loss.mean() - r) < 5 * loss.std() / np.sqrt(n), (loss.mean(), r)
    prod = sig(u[:, 1]) * sig(u[:, 2])
    assert abs(prod.mean() - model.pair(0.2)) < 5 * prod.std() / np.sqrt(n)
    assert model.pair(1.0) == pytest.approx(models.gaussian_expectation(
        lambda z: model.activation(z) ** 2), rel=1e-9)
    if name == "phase_retrieval":  # the default keeps its own closed form
        from mediocrity.overlaps import risk_from_overlaps

        assert r == risk_from_overlaps(m, q)
