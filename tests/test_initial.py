"""Initial conditions and random streams: the law of random_gram, the shared 'fixed'
start, streams keyed by (root_seed, cell, seed index), validation of a given (M0, Q0)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from mediocrity.initial import (check_overlaps, init_seed_sequence, initial_grams,
                                random_gram, run_generators, seed_sequence)
from mediocrity.problem import Problem

KS_ALPHA = 1e-3


def ks_critical(n, m, alpha=KS_ALPHA):
    """Asymptotic two-sample Kolmogorov-Smirnov critical value at level alpha:
    c(alpha) sqrt((n + m)/(n m)), c(alpha) = sqrt(-log(alpha/2)/2) (1.95 at alpha = 1e-3)."""
    return np.sqrt(-np.log(alpha / 2) / 2) * np.sqrt((n + m) / (n * m))


def _samples(d, p, n, seed):
    rng = np.random.default_rng(seed)
    return np.stack([random_gram(d, p, rng) for _ in range(n)])


def _explicit_grams(d, p, n, seed):
    """Normalised Gram matrices of p + 1 explicit uniform vectors on the sphere of R^d."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, p + 1, d))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    return v @ v.transpose(0, 2, 1)


def _assert_mean(samples, expected, label):
    # 5 standard errors of the sample mean (SE estimated from the samples; n >= 1e4 so
    # the CLT applies): false-failure probability ~ 6e-7 per assertion.
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - expected) < 5 * se, (label, samples.mean(), expected, se)


@pytest.mark.parametrize("d,p", [(5, 2), (20, 1), (12, 4), (2, 3), (3, 3)])
def test_random_gram_has_the_moments_of_uniform_vectors_on_the_sphere(d, p):
    # d >= p + 1 uses the Bartlett decomposition, d < p + 1 explicit vectors
    n = 20_000
    g = _samples(d, p, n, seed=100 * d + p)
    assert g.shape == (n, p + 1, p + 1)
    np.testing.assert_allclose(g, g.transpose(0, 2, 1), atol=1e-15)
    np.testing.assert_array_equal(np.diagonal(g, axis1=1, axis2=2), 1.0)
    assert np.linalg.eigvalsh(g).min() > -1e-12
    m, q12 = g[:, 0, 1], g[:, 1, 2] if p >= 2 else None
    # uniform unit vectors a, b, c in R^d: E(a.b)^2 = 1/d, E(a.b)^4 = 3/(d(d+2)),
    # E[(a.b)(b.c)(c.a)] = 1/d^2 (joint law, not only marginals)
    _assert_mean(m**2, 1 / d, "m^2")
    _assert_mean(m**4, 3 / (d * (d + 2)), "m^4")
    _assert_mean(m, 0.0, "m")
    if p >= 2:
        _assert_mean(q12**2, 1 / d, "q12^2")
        _assert_mean(g[:, 0, 1] * g[:, 1, 2] * g[:, 2, 0], 1 / d**2, "m1 q12 m2")
    if d < p + 1:
        # p + 1 vectors in R^d: the Gram matrix has rank d
        assert np.all(np.linalg.eigvalsh(g)[:, : p + 1 - d] < 1e-10)


@pytest.mark.parametrize("d,p", [(4, 2), (30, 3)])
def test_random_gram_bartlett_path_has_the_law_of_explicit_vectors(d, p):
    n = 8000
    bartlett = _samples(d, p, n, seed=1)
    explicit = _explicit_grams(d, p, n, seed=2)
    for j, k in [(0, 1), (0, p), (1, 2), (1, p)]:
        res = stats.ks_2samp(bartlett[:, j, k], explicit[:, j, k])
        # two-sample KS at level 1e-3 for n = m = 8000: D < 0.031
        assert res.statistic < ks_critical(n, n), (j, k, res)
    # the smallest eigenvalue carries the joint law of all the overlaps
    res = stats.ks_2samp(np.linalg.eigvalsh(bartlett)[:, 0], np.linalg.eigvalsh(explicit)[:, 0])
    assert res.statistic < ks_critical(n, n), res


def test_fixed_init_is_the_same_start_for_every_seed_and_depends_on_init_seed():
    prob = Problem(d=50, p=3, gamma=0.1)
    a = initial_grams(prob, [0, 1, 5, 9], "fixed", root_seed=0, init_seed=0)
    assert np.all(a == a[0])
    b = initial_grams(prob, [7], "fixed", root_seed=0, init_seed=0)
    np.testing.assert_array_equal(b[0], a[0])
    c = initial_grams(prob, [0, 1], "fixed", root_seed=0, init_seed=1)
    assert not np.allclose(c[0], a[0])
    e = initial_grams(prob, [0], "fixed", root_seed=1, init_seed=0)
    assert not np.allclose(e[0], a[0])
    # keyed by (root_seed, d, p, init_seed) only: every gamma and noise of a (d, p) share it
    other = Problem(d=50, p=3, gamma=0.05, noise=0.3, t_max=3.0)
    np.testing.assert_array_equal(initial_grams(other, [0], "fixed", 0, 0)[0], a[0])
    assert not np.allclose(initial_grams(Problem(d=51, p=3, gamma=0.1), [0], "fixed", 0, 0)[0][0, 1:],
                           a[0][0, 1:])


def test_random_init_differs_between_seeds():
    prob = Problem(d=50, p=2, gamma=0.1)
    g = initial_grams(prob, [0, 1, 2], "random", root_seed=0)
    assert not np.allclose(g[0], g[1]) and not np.allclose(g[1], g[2])


def test_same_seed_of_same_cell_gets_the_same_numbers_whatever_else_is_requested():
    prob = Problem(d=40, p=2, gamma=0.1, noise=0.2)
    a = initial_grams(prob, [3, 1], "random", root_seed=5)
    b = initial_grams(prob, [1, 2, 3], "random", root_seed=5)
    c = initial_grams(prob, [1], "random", root_seed=5)
    np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_array_equal(a[1], c[0])
    np.testing.assert_array_equal(a[0], b[2])
    # the dynamics stream too, in whatever order it is created
    draws = {s: run_generators(5, prob, s)[1].standard_normal(4) for s in (3, 1, 2)}
    again = {s: run_generators(5, prob, s)[1].standard_normal(4) for s in (1, 2, 3)}
    for s in draws:
        np.testing.assert_array_equal(draws[s], again[s])
    assert not np.allclose(draws[1], draws[3])


def test_streams_are_keyed_by_root_seed_cell_and_seed_index():
    base = Problem(d=40, p=2, gamma=0.1, noise=0.2)

    def first(prob, seed=0, root=0):
        return run_generators(root, prob, seed)[1].standard_normal(3)

    ref = first(base)
    for other in (Problem(d=41, p=2, gamma=0.1, noise=0.2), Problem(d=40, p=3, gamma=0.1, noise=0.2),
                  Problem(d=40, p=2, gamma=0.11, noise=0.2), Problem(d=40, p=2, gamma=0.1, noise=0.3)):
        assert not np.allclose(first(other), ref), other
    assert not np.allclose(first(base, seed=1), ref)
    assert not np.allclose(first(base, root=1), ref)
    # the save grid and the stopping rule are not part of the cell's identity: a run with
    # early stopping or a longer t_max draws the same numbers as the full run
    same = Problem(d=40, p=2, gamma=0.1, noise=0.2, t_max=50.0, t_min=1e-2,
                   saves_per_decade=5, threshold=0.2, stop_after=0.1)
    np.testing.assert_array_equal(first(same), ref)
    # init and dynamics streams of one run are distinct
    init, dyn = run_generators(0, base, 0)
    assert not np.allclose(init.standard_normal(3), dyn.standard_normal(3))


def test_streams_do_not_depend_on_the_interpreter_hash_seed():
    # workers are separate processes: the key must not use Python's salted hash()
    code = ("from mediocrity.problem import Problem; from mediocrity.initial import "
            "seed_sequence, init_seed_sequence; p = Problem(d=40, p=2, gamma=0.1); "
            "print(seed_sequence(3, p, 7).generate_state(2).tolist(), "
            "init_seed_sequence(3, 40, 2, 1).generate_state(2).tolist())")
    outs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        outs.add(out.stdout)
    assert len(outs) == 1
    prob = Problem(d=40, p=2, gamma=0.1)
    here = (f"{seed_sequence(3, prob, 7).generate_state(2).tolist()} "
            f"{init_seed_sequence(3, 40, 2, 1).generate_state(2).tolist()}\n")
    assert outs == {here}


# -- a given start (M0, Q0) --------------------------------------------------------------

GOOD_M0 = np.array([[0.3], [-0.2]])
GOOD_Q0 = np.array([[1.0, 0.4], [0.4, 1.0]])


def test_check_overlaps_returns_the_gram_matrix_of_a_valid_start():
    for m0 in (GOOD_M0, GOOD_M0.ravel(), GOOD_M0.tolist()):
        g = check_overlaps(m0, GOOD_Q0, 2)
        np.testing.assert_array_equal(g, [[1.0, 0.3, -0.2], [0.3, 1.0, 0.4], [-0.2, 0.4, 1.0]])
    # a singular but valid start (student = teacher) is accepted
    check_overlaps([[1.0]], [[1.0]], 1)


@pytest.mark.parametrize("m0,q0,p,match", [
    (np.zeros(3), GOOD_Q0, 2, r"M0 has shape \(3,\).*expected \(2, 1\)"),
    (np.zeros((1, 2)), GOOD_Q0, 2, r"M0 has shape \(1, 2\)"),
    (GOOD_M0, np.eye(3), 2, r"Q0 has shape \(3, 3\).*expected \(2, 2\)"),
    (GOOD_M0, np.ones((2, 3)), 2, r"Q0 has shape"),
    (GOOD_M0, GOOD_Q0, 3, r"M0 has shape \(2, 1\).*p = 3"),
    (GOOD_M0, np.array([[1.0, 0.4], [0.3, 1.0]]), 2, "not symmetric"),
    (GOOD_M0, np.array([[1.0, 0.4], [0.4, 0.9]]), 2, "unit diagonal"),
    (GOOD_M0, 2 * GOOD_Q0, 2, "unit diagonal"),
    (np.array([0.9, 0.9]), np.array([[1.0, -0.9], [-0.9, 1.0]]), 2, "not a Gram matrix.*eigenvalue"),
    (np.array([1.5]), np.eye(1), 1, "not a Gram matrix"),
    (np.array([np.nan, 0.1]), GOOD_Q0, 2, "non-finite"),
    (GOOD_M0, np.array([[1.0, np.inf], [np.inf, 1.0]]), 2, "non-finite"),
])
def test_check_overlaps_rejects_bad_starts_with_a_clear_message(m0, q0, p, match):
    with pytest.raises(ValueError, match=match):
        check_overlaps(m0, q0, p)


@pytest.mark.parametrize("init", ["Random", "", "typical", 3, (GOOD_M0,), None])
def test_initial_grams_rejects_unknown_init(init):
    with pytest.raises(ValueError, match="init"):
        initial_grams(Problem(d=10, p=2, gamma=0.1), [0], init, root_seed=0)


def test_initial_grams_with_given_overlaps_repeats_them_for_every_seed():
    g = initial_grams(Problem(d=10, p=2, gamma=0.1), [4, 2, 0], (GOOD_M0, GOOD_Q0), root_seed=0)
    assert g.shape == (3, 3, 3)
    for k in range(3):
        np.testing.assert_array_equal(g[k], check_overlaps(GOOD_M0, GOOD_Q0, 2))


def test_annealed_start_is_the_typical_overlap_shared_by_all_seeds():
    from mediocrity.initial import annealed_start, initial_grams
    from mediocrity.problem import Problem

    problem = Problem(d=400, p=3, gamma=0.1)
    grams = initial_grams(problem, [0, 5], "annealed", root_seed=1)
    m0, q0 = annealed_start(3, 400)
    assert np.sum(m0**2) == pytest.approx(3 / 400, rel=1e-12)  # |M0|^2 = p/d
    for g in grams:
        np.testing.assert_array_equal(g[0, 1:], m0[:, 0])
        np.testing.assert_array_equal(g[1:, 1:], q0)
    with pytest.raises(ValueError, match="p <= d"):
        annealed_start(5, 4)
