"""The margins network and data sets (mediocrity.studies.margins.network, .data).

(a) the gradient against central finite differences (of L and of f) and against a slow
per-unit loop; (b) f(.; W0) = 0 exactly with the doubling init, 1-homogeneity of f;
(c) the norm-only class: gradient in r against finite differences and the chain rule;
(d) measurements (margin, test error with ties, motion, rotation accurate near 0);
(e) the data sets: norms, labels, balance, collapse centres shared by train and test;
(f) ValueError naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediocrity.studies.margins import data
from mediocrity.studies.margins.network import (directions, features, forward, gradient,
                                                init_network, loss, motion, norm_gradient,
                                                norm_loss, normalized_margin, rotation, test_error,
                                                unit_angles, weights)


def _problem(d=5, m=8, n=30, seed=0):
    """A generic W (not the init: no mirrored units) with data on the sphere."""
    rng = np.random.default_rng(seed)
    W, a = init_network(d, m, rng)
    W = W + rng.standard_normal(W.shape)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    return W, a, X, y


def _slow_gradient(W, a, X, y):
    """grad L, one unit and one sample at a time, from the formulas (no matrix products)."""
    m, d = W.shape
    n = X.shape[0]
    g = np.zeros((m, d))
    for i in range(n):
        f = sum(a[j] * max(float(W[j] @ X[i]), 0.0) for j in range(m)) / math.sqrt(m)
        dl_df = -y[i] / (1.0 + math.exp(y[i] * f)) / n
        for j in range(m):
            if W[j] @ X[i] > 0:
                g[j] += dl_df * a[j] / math.sqrt(m) * X[i]
    return g


def test_gradient_equals_central_finite_differences_of_the_loss():
    W, a, X, y = _problem()
    g = gradient(W, a, X, y)
    eps = 1e-6
    fd = np.zeros_like(W)
    for j in range(W.shape[0]):
        for k in range(W.shape[1]):
            E = np.zeros_like(W)
            E[j, k] = eps
            fd[j, k] = (loss(W + E, a, X, y) - loss(W - E, a, X, y)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_gradient_of_one_sample_gives_the_gradient_of_f():
    # for n = 1: grad L = dl/df grad f, dl/df = -y/(1 + exp(y f)); grad f by finite differences
    W, a, X, y = _problem(n=6, seed=1)
    rng = np.random.default_rng(2)
    eps = 1e-6
    for i in range(X.shape[0]):
        x = X[i:i + 1]
        f = forward(W, a, x)[0]
        grad_f = gradient(W, a, x, y[i:i + 1]) / (-y[i] / (1 + math.exp(y[i] * f)))
        V = rng.standard_normal(W.shape)
        fd = (forward(W + eps * V, a, x)[0] - forward(W - eps * V, a, x)[0]) / (2 * eps)
        assert abs(np.vdot(grad_f, V) - fd) < 1e-7 * (1 + abs(fd))


def test_gradient_equals_a_slow_per_unit_loop():
    W, a, X, y = _problem(d=4, m=6, n=25, seed=3)
    np.testing.assert_allclose(gradient(W, a, X, y), _slow_gradient(W, a, X, y),
                               rtol=1e-12, atol=1e-15)


def test_gradient_over_several_sample_blocks_with_unequal_sign_sets():
    # n > 1024: the fused kernel works on blocks of samples; 5 units with a = +1, 1 with -1
    W, _, X, y = _problem(d=4, m=6, n=1500, seed=5)
    a = np.array([1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(gradient(W, a, X, y), _slow_gradient(W, a, X, y),
                               rtol=1e-12, atol=1e-15)


def test_relu_derivative_at_zero_is_zero():
    # x orthogonal to w_0: w_0.x = 0 exactly, unit 0 gets no gradient
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    a = np.array([1.0, -1.0])
    X = np.array([[0.0, 1.0]])
    g = gradient(W, a, X, np.array([1.0]))
    assert (g[0] == 0).all() and (g[1] != 0).any()


@pytest.mark.parametrize("d,m,n", [(2, 2, 7), (5, 6, 50), (17, 130, 333), (32, 512, 2000)])
def test_doubling_init_gives_f_zero_exactly(d, m, n):
    rng = np.random.default_rng(d + m)
    W0, a = init_network(d, m, rng)
    np.testing.assert_array_equal(W0[: m // 2], W0[m // 2:])
    np.testing.assert_array_equal(a, np.r_[np.ones(m // 2), -np.ones(m // 2)])
    X = rng.standard_normal((n, d))
    assert (forward(W0, a, X) == 0.0).all()
    assert loss(W0, a, X, np.ones(n)) == pytest.approx(math.log(2.0), rel=1e-15)  # a mean of n logs
    assert test_error(W0, a, X, np.ones(n)) == 1.0  # f = 0 is a tie: an error


def test_f_is_one_homogeneous():
    W, a, X, _ = _problem(seed=4)
    f = forward(W, a, X)
    for c in (0.0, 1e-3, 2.5, 1e4):
        np.testing.assert_allclose(forward(c * W, a, X), c * f, rtol=1e-13, atol=1e-300)


def test_norm_only_gradient_equals_finite_differences_and_the_chain_rule():
    W, a, X, y = _problem(d=6, m=10, n=40, seed=5)
    U, r = directions(W)
    np.testing.assert_allclose(weights(r, U), W, rtol=1e-15)
    psi = features(U, a, X)
    np.testing.assert_allclose(psi @ r, forward(W, a, X), rtol=1e-12, atol=1e-15)
    g = norm_gradient(r, psi, y)
    eps = 1e-6
    fd = np.array([(norm_loss(r + eps * e, psi, y) - norm_loss(r - eps * e, psi, y)) / (2 * eps)
                   for e in np.eye(r.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-10)
    # dL/dr_j = <grad_W L, u_j> (relu(r u.x) = r relu(u.x) for r > 0)
    np.testing.assert_allclose(g, np.einsum("jd,jd->j", gradient(W, a, X, y), U), rtol=1e-12,
                               atol=1e-15)
    assert norm_loss(r, psi, y) == pytest.approx(loss(W, a, X, y), rel=1e-14)


def test_normalized_margin_and_test_error_by_hand():
    W = np.array([[3.0, 0.0], [0.0, 4.0]])
    a = np.array([1.0, -1.0])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = np.array([1.0, -1.0, 1.0])
    # f = (3, -4, 0)/sqrt(2); y f = (3, 4, 0)/sqrt(2); |W|_F = 5
    np.testing.assert_allclose(forward(W, a, X), np.array([3, -4, 0]) / math.sqrt(2))
    assert normalized_margin(W, a, X, y) == 0.0
    assert normalized_margin(W, a, X[:2], y[:2]) == pytest.approx(3 / math.sqrt(2) / 5)
    assert test_error(W, a, X, y) == pytest.approx(1 / 3)
    assert motion(W, np.zeros((2, 2))) == pytest.approx(5.0)


def test_rotation_is_accurate_for_tiny_angles_and_skips_zero_rows():
    W0 = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    for theta in (1e-12, 1e-9, 1e-3, 1.0, 3.0):
        W = np.array([[math.cos(theta), math.sin(theta), 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 0.0]])
        angles = unit_angles(W, W0)
        assert angles[0] == pytest.approx(theta, rel=1e-9)
        assert angles[1] == 0.0 and np.isnan(angles[2])
        assert rotation(W, W0) == pytest.approx((theta, theta / 2), rel=1e-9)
    assert all(math.isnan(v) for v in rotation(np.zeros((2, 3)), W0[:2]))


@pytest.mark.parametrize("call,name", [
    (lambda: init_network(1, 4, np.random.default_rng()), "d"),
    (lambda: init_network(3, 5, np.random.default_rng()), "m"),
    (lambda: init_network(3, 0, np.random.default_rng()), "m"),
    (lambda: init_network(3, 4, 0), "rng"),
    (lambda: forward(np.ones((3, 2)), np.ones(3), np.ones((1, 2))), "m"),
    (lambda: forward(np.ones((2, 2)), np.array([1.0, 0.0]), np.ones((1, 2))), "a"),
    (lambda: forward(np.ones((2, 2)), np.ones(3), np.ones((1, 2))), "a"),
    (lambda: forward(np.ones((2, 2)), np.ones(2), np.ones((1, 3))), "X"),
    (lambda: forward(np.full((2, 2), np.nan), np.ones(2), np.ones((1, 2))), "W"),
    (lambda: loss(np.ones((2, 2)), np.ones(2), np.ones((3, 2)), np.ones(2)), "y"),
    (lambda: gradient(np.ones((2, 2)), np.ones(2), np.ones((1, 2)), np.array([0.5])), "y"),
    (lambda: directions(np.zeros((2, 2))), "W0"),
    (lambda: weights(np.array([1.0, -1.0]), np.eye(2)), "r"),
    (lambda: norm_loss(np.ones(3), np.ones((4, 2)), np.ones(4)), "r"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


# -- data sets ----------------------------------------------------------------------------
def _assert_fraction(y, p, label):
    # binomial: |fraction - p| < 4 sd (false-failure probability 6e-5; seeds fixed anyway)
    frac = np.mean(y == 1.0)
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / y.size), (label, frac, p)


@pytest.mark.parametrize("name,params", [("parity", {}), ("sphere_xor", {}),
                                         ("collapse", {"k": 4, "separation": 2.0})])
def test_data_sets_on_the_unit_sphere_with_balanced_labels(name, params):
    d, n = 7, 4000
    rng = np.random.default_rng(11)
    X, y = data.make_sampler(name, d, rng, **params)(n, rng)
    assert X.shape == (n, d) and y.shape == (n,) and X.dtype == y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-14)
    assert np.isin(y, (-1.0, 1.0)).all()
    _assert_fraction(y, 0.5, name)
    assert data.DATASETS[name].__doc__.splitlines()[0].strip()


def test_parity_labels_equal_d_x0_x1():
    d = 9
    X, y = data.parity(d, 500, np.random.default_rng(12))
    np.testing.assert_array_equal(np.abs(X), 1 / math.sqrt(d))
    np.testing.assert_allclose(y, d * X[:, 0] * X[:, 1], rtol=1e-15)
    np.testing.assert_array_equal(y, np.sign(X[:, 0] * X[:, 1]))


def test_sphere_xor_labels_are_the_sign_of_x0_x1():
    X, y = data.sphere_xor(4, 500, np.random.default_rng(13))
    np.testing.assert_array_equal(y, np.sign(X[:, 0] * X[:, 1]))


def test_collapse_test_set_uses_the_training_centres():
    d, k = 6, 3
    data_rng, test_rng = np.random.default_rng(14), np.random.default_rng(15)
    sample = data.make_sampler("collapse", d, data_rng, k=k, separation=50.0)
    C = sample.centres
    np.testing.assert_allclose(C @ C.T, np.eye(k), atol=1e-14)
    X, y = sample(2000, data_rng)
    Xt, yt = sample(2000, test_rng)
    for x_, y_ in ((X, y), (Xt, yt)):
        cos = x_ @ C.T
        g = cos.argmax(axis=1)
        assert cos.max(axis=1).min() > 0.99  # spread ~ 1/separation around the run's centres
        np.testing.assert_array_equal(y_, np.where(g % 2 == 0, 1.0, -1.0))
    _assert_fraction(yt, 2 / 3, "odd k: P(y = +1) = ceil(k/2)/k")
    # the same centres when passed explicitly; new ones when not
    rng = np.random.default_rng(16)
    X2, _ = data.collapse(d, 5, k, 50.0, rng, centres=C)
    assert (X2 @ C.T).max(axis=1).min() > 0.99
    X3, _ = data.collapse(d, 200, k, 50.0, np.random.default_rng(17))
    assert (X3 @ C.T).max(axis=1).min() < 0.99


@pytest.mark.parametrize("call,name", [
    (lambda r: data.parity(1, 5, r), "d"),
    (lambda r: data.parity(3, 0, r), "n"),
    (lambda r: data.sphere_xor(3, 5, None), "rng"),
    (lambda r: data.collapse(3, 5, 4, 1.0, r), "k"),
    (lambda r: data.collapse(3, 5, 1, 1.0, r), "k"),
    (lambda r: data.collapse(3, 5, 2, 0.0, r), "separation"),
    (lambda r: data.collapse(3, 5, 2, math.inf, r), "separation"),
    (lambda r: data.collapse(3, 5, 2, 1.0, r, centres=np.eye(3)), "centres"),
    (lambda r: data.make_sampler("spiral", 3, r), "data set"),
    (lambda r: data.make_sampler("collapse", 3, r, k=2), "data set"),
])
def test_bad_data_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(np.random.default_rng(0))

