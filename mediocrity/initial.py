"""Random streams and initial conditions.

Every stream is a numpy SeedSequence with entropy = root_seed and a spawn key built from
the cell (d, p, gamma, noise, activation) and the seed index, so the same seed of the
same cell gets the same numbers whatever else runs, wherever and in whatever order.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .models import DEFAULT as DEFAULT_MODEL
from .overlaps import gram_from_overlaps
from .problem import Problem


def _words(*parts) -> tuple[int, ...]:
    """A stable 128-bit digest of the parts, as four 32-bit words (hash() is salted)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def seed_sequence(root_seed: int, problem: Problem, seed: int) -> np.random.SeedSequence:
    """Stream of one run: keyed by (root_seed, cell, seed index). The model is part of
    the cell only when it is not the default, so the default's streams are unchanged."""
    cell = ("run", problem.d, problem.p, problem.gamma, problem.noise, problem.activation)
    if problem.model != DEFAULT_MODEL:
        cell = (*cell, problem.model)
    key = _words(*cell)
    return np.random.SeedSequence(int(root_seed), spawn_key=(*key, int(seed)))


def init_seed_sequence(root_seed: int, d: int, p: int, init_seed: int) -> np.random.SeedSequence:
    """Stream of the shared ('fixed') initial condition: keyed by (root_seed, d, p,
    init_seed) only, so every gamma, noise and seed of a (d, p) starts from one draw."""
    return np.random.SeedSequence(int(root_seed),
                                  spawn_key=(*_words("init", int(d), int(p)), int(init_seed)))


def run_generators(root_seed: int, problem: Problem, seed: int):
    """(init generator, dynamics generator) of one run."""
    init_ss, dyn_ss = seed_sequence(root_seed, problem, seed).spawn(2)
    return np.random.default_rng(init_ss), np.random.default_rng(dyn_ss)


def random_gram(d: int, p: int, rng: np.random.Generator) -> np.ndarray:
    """Normalised Gram matrix of a teacher and p students drawn uniformly on the sphere of
    radius sqrt(d): exact law, O(p^2) via the Bartlett decomposition of Wishart(d, I_{p+1})
    (explicit vectors when d < p + 1)."""
    r = p + 1
    if d >= r:
        a = np.tril(rng.standard_normal((r, r)), -1)
        a[np.diag_indices(r)] = np.sqrt(rng.chisquare(d - np.arange(r)))
        w = a @ a.T
    else:
        v = rng.standard_normal((r, d))
        w = v @ v.T
    scale = 1.0 / np.sqrt(np.diag(w))
    g = w * np.outer(scale, scale)
    g[np.diag_indices(r)] = 1.0
    return g


def check_overlaps(m0, q0, p: int) -> np.ndarray:
    """Validate a given start (M0 of shape (p, 1) or (p,), Q0 of shape (p, p)) and return
    its normalised Gram matrix; ValueError naming what is wrong."""
    m0 = np.asarray(m0, dtype=float)
    q0 = np.asarray(q0, dtype=float)
    if m0.shape not in ((p, 1), (p,)):
        raise ValueError(f"init M0 has shape {m0.shape}: expected ({p}, 1) for p = {p}")
    if q0.shape != (p, p):
        raise ValueError(f"init Q0 has shape {q0.shape}: expected ({p}, {p}) for p = {p}")
    if not (np.isfinite(m0).all() and np.isfinite(q0).all()):
        raise ValueError("init (M0, Q0) contains non-finite values")
    if not np.allclose(q0, q0.T, atol=1e-12):
        raise ValueError("init Q0 is not symmetric")
    if not np.allclose(np.diag(q0), 1.0, atol=1e-9):
        raise ValueError("init Q0 must have a unit diagonal (students on the sphere)")
    g = gram_from_overlaps(m0, q0)
    lowest = np.linalg.eigvalsh(g)[0]
    if lowest < -1e-9:
        raise ValueError(f"init (M0, Q0) is not a Gram matrix: [[1, M0^T], [M0, Q0]] has "
                         f"eigenvalue {lowest:.3g} < 0")
    return g


def annealed_start(p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Typical start (M0 (p, 1), Q0 = I) with m_j = 1/sqrt(d), i.e. |M0|^2 = p/d (needs
    p <= d for [[1, M0^T], [M0, I]] to be a Gram matrix)."""
    if p > d:
        raise ValueError(f"the annealed start needs p <= d (|M0|^2 = p/d <= 1); got p = {p}, "
                         f"d = {d}")
    return np.full((p, 1), 1.0 / np.sqrt(d)), np.eye(p)


def initial_grams(problem: Problem, seeds, init, root_seed: int, init_seed: int = 0) -> np.ndarray:
    """Normalised Gram matrices (n_seeds, p+1, p+1) of the start of each seed.

    init: "random" (each seed its own teacher and students), "fixed" (one draw from
    init_seed shared by all seeds), "annealed" (the typical start m_j = 1/sqrt(d), Q = I,
    |M|^2 = p/d, shared by all seeds), or a pair (M0, Q0) of given overlaps.
    """
    seeds = list(seeds)
    if isinstance(init, str):
        if init == "random":
            return np.stack([random_gram(problem.d, problem.p,
                                         run_generators(root_seed, problem, s)[0])
                             for s in seeds])
        if init == "fixed":
            rng = np.random.default_rng(init_seed_sequence(root_seed, problem.d, problem.p,
                                                           init_seed))
            g = random_gram(problem.d, problem.p, rng)
            return np.broadcast_to(g, (len(seeds), *g.shape)).copy()
        if init == "annealed":
            init = annealed_start(problem.p, problem.d)
        else:
            raise ValueError(f"init = {init!r}: allowed 'random', 'fixed', 'annealed' or a "
                             "pair (M0, Q0)")
    try:
        m0, q0 = init
    except (TypeError, ValueError):
        raise ValueError(f"init = {init!r}: allowed 'random', 'fixed', 'annealed' or a "
                         "pair (M0, Q0)") from None
    g = check_overlaps(m0, q0, problem.p)
    return np.broadcast_to(g, (len(seeds), *g.shape)).copy()
