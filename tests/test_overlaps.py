"""Overlaps and the excess risk (docs/science.md §1, §5: 'risk formula equals a Monte-Carlo
estimate of E[(f - f*)^2]/2')."""

from __future__ import annotations

import numpy as np
import pytest

from mediocrity.engines.gram import psd_cholesky
from mediocrity.overlaps import gram_from_overlaps, risk_from_gram, risk_from_overlaps


def _random_weights(d, p, rng, spherical):
    """Teacher with |w*|^2 = d exactly and p students (on the sphere or not)."""
    wstar = rng.standard_normal(d)
    wstar *= np.sqrt(d) / np.linalg.norm(wstar)
    w = rng.standard_normal((p, d)) * rng.uniform(0.5, 1.5, size=(p, 1))
    if spherical:
        w *= np.sqrt(d) / np.linalg.norm(w, axis=1, keepdims=True)
    return wstar, w


def _mc_risk(wstar, w, n, rng, chunk=50_000):
    """Monte-Carlo mean and standard error of (f - f*)^2 / 2 over x ~ N(0, I_d), from the
    network's definition f(x) = (1/p) sum_j (w_j.x/sqrt d)^2, f*(x) = (w*.x/sqrt d)^2."""
    d = wstar.size
    total = total2 = 0.0
    for start in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - start), d))
        f = np.mean((x @ w.T / np.sqrt(d)) ** 2, axis=1)
        fstar = (x @ wstar / np.sqrt(d)) ** 2
        loss = 0.5 * (f - fstar) ** 2
        total += loss.sum()
        total2 += (loss**2).sum()
    mean = total / n
    var = total2 / n - mean**2
    return mean, np.sqrt(var / n)


@pytest.mark.parametrize("p", [1, 3])
@pytest.mark.parametrize("spherical", [True, False])
def test_risk_from_overlaps_equals_monte_carlo_risk(p, spherical):
    rng = np.random.default_rng(1000 + 10 * p + spherical)
    d = 6
    n = 400_000
    for _ in range(3):
        wstar, w = _random_weights(d, p, rng, spherical)
        m = w @ wstar / d
        q = w @ w.T / d
        mean, se = _mc_risk(wstar, w, n, rng)
        # The MC mean is Gaussian to a good approximation at n = 4e5 (the loss has all
        # moments); 5 standard errors: false-failure probability ~ 6e-7 per comparison.
        assert abs(risk_from_overlaps(m, q) - mean) < 5 * se, (risk_from_overlaps(m, q), mean, se)


def test_risk_on_the_sphere_equals_the_spherical_formula():
    # docs/science.md §1: on the sphere R = 1 + 1/p - (2/p)|M|^2 + (1/p^2) sum_{j != k} q_jk^2
    rng = np.random.default_rng(7)
    for p in (1, 2, 5):
        for _ in range(5):
            wstar, w = _random_weights(20, p, rng, spherical=True)
            m = w @ wstar / 20
            q = w @ w.T / 20
            off = q - np.diag(np.diag(q))
            expected = 1 + 1 / p - (2 / p) * m @ m + np.sum(off**2) / p**2
            assert risk_from_overlaps(m, q) == pytest.approx(expected, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("p", [1, 2, 3, 10])
def test_risk_at_mediocrity_is_one_plus_one_over_p(p):
    # M = 0, Q = I: the plateau of docs/science.md §1
    assert risk_from_overlaps(np.zeros(p), np.eye(p)) == pytest.approx(1 + 1 / p, rel=1e-14)
    assert risk_from_gram(gram_from_overlaps(np.zeros(p), np.eye(p))) == pytest.approx(
        1 + 1 / p, rel=1e-14)


def test_risk_is_zero_when_every_student_equals_the_teacher_up_to_sign():
    m = np.array([1.0, -1.0, 1.0])
    q = np.outer(m, m)
    assert abs(risk_from_overlaps(m, q)) < 1e-14
    assert abs(risk_from_gram(gram_from_overlaps(m, q))) < 1e-14


def test_risk_from_overlaps_broadcasts_over_leading_dimensions():
    rng = np.random.default_rng(3)
    p = 3
    ms, qs = [], []
    for _ in range(6):
        wstar, w = _random_weights(10, p, rng, spherical=True)
        ms.append(w @ wstar / 10)
        qs.append(w @ w.T / 10)
    m = np.array(ms).reshape(2, 3, p)
    q = np.array(qs).reshape(2, 3, p, p)
    batched = risk_from_overlaps(m, q)
    assert batched.shape == (2, 3)
    single = np.array([risk_from_overlaps(a, b) for a, b in zip(ms, qs)]).reshape(2, 3)
    np.testing.assert_allclose(batched, single, rtol=1e-14)


@pytest.mark.parametrize("p", [1, 2, 4, 7])
def test_risk_from_gram_equals_risk_from_overlaps(p):
    rng = np.random.default_rng(50 + p)
    for _ in range(10):
        wstar, w = _random_weights(p + 3, p, rng, spherical=True)
        d = wstar.size
        m, q = w @ wstar / d, w @ w.T / d
        g = gram_from_overlaps(m, q)
        assert risk_from_gram(g) == pytest.approx(risk_from_overlaps(m, q), rel=1e-12, abs=1e-14)


def test_gram_from_overlaps_layout_accepts_column_and_flat_m():
    m = np.array([0.1, -0.2])
    q = np.array([[1.0, 0.3], [0.3, 1.0]])
    for mm in (m, m.reshape(2, 1)):
        g = gram_from_overlaps(mm, q)
        np.testing.assert_array_equal(g, [[1.0, 0.1, -0.2], [0.1, 1.0, 0.3], [-0.2, 0.3, 1.0]])


def psd_factor(g):
    """The gram engine's semidefinite-safe Cholesky factor L (g = L L^T)."""
    low = np.zeros_like(g)
    psd_cholesky(np.ascontiguousarray(g, dtype=float), low)
    return low


def _assert_is_lower_factor(low, g):
    assert low.shape == g.shape
    np.testing.assert_array_equal(np.triu(low, 1), 0.0)
    np.testing.assert_allclose(low @ low.T, g, atol=1e-7)


def test_psd_cholesky_reproduces_a_student_equal_to_the_teacher():
    _assert_is_lower_factor(psd_factor(np.ones((2, 2))), np.ones((2, 2)))
    # p = 2: one student equal to the teacher, one opposite (rank 1, 3 x 3)
    v = np.array([1.0, 1.0, -1.0])
    _assert_is_lower_factor(psd_factor(np.outer(v, v)), np.outer(v, v))


def test_psd_cholesky_reproduces_singular_gram_matrices():
    rng = np.random.default_rng(11)
    # teacher, a copy of it, and a random student: rank 2
    wstar = rng.standard_normal(8)
    w2 = rng.standard_normal(8)
    vecs = np.array([wstar, wstar, w2])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    g = vecs @ vecs.T
    assert np.linalg.eigvalsh(g)[0] < 1e-12
    _assert_is_lower_factor(psd_factor(g), g)
    # more vectors than dimensions (p + 1 > d): rank d < r
    vecs = rng.standard_normal((5, 2))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    _assert_is_lower_factor(psd_factor(vecs @ vecs.T), vecs @ vecs.T)


def test_psd_cholesky_reproduces_full_rank_gram_matrices():
    rng = np.random.default_rng(12)
    for r in (2, 3, 6):
        vecs = rng.standard_normal((r, r + 4))
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        _assert_is_lower_factor(psd_factor(vecs @ vecs.T), vecs @ vecs.T)
