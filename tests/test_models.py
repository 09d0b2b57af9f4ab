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
