"""Problem: validation of every field, the NoEscapeWarning, the shared time grid and the
step counts of the saves (docs/science.md §1: t = steps gamma/(p d))."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest

from mediocrity.problem import NoEscapeWarning, Problem
from mediocrity.theory import critical_gamma

VALID = dict(d=100, p=2, gamma=0.1)
NAN = float("nan")
INF = float("inf")

INVALID = [
    ("d", 1), ("d", 0), ("d", -5), ("d", 10.5), ("d", True), ("d", "100"),
    ("d", None), ("d", NAN), ("d", INF),
    ("p", 0), ("p", -1), ("p", 1.5), ("p", True), ("p", NAN), ("p", "2"),
    ("gamma", 0), ("gamma", 0.0), ("gamma", -0.1), ("gamma", NAN), ("gamma", INF),
    ("gamma", -INF), ("gamma", True), ("gamma", "0.1"), ("gamma", None),
    ("noise", -1e-3), ("noise", NAN), ("noise", INF), ("noise", True), ("noise", "0"),
    ("threshold", 0), ("threshold", 1), ("threshold", 1.0), ("threshold", -0.1),
    ("threshold", 1.5), ("threshold", NAN), ("threshold", INF), ("threshold", True),
    ("t_min", 0), ("t_min", -1.0), ("t_min", NAN), ("t_min", INF), ("t_min", False),
    ("t_max", 1e-3), ("t_max", 1e-4), ("t_max", -1.0), ("t_max", NAN), ("t_max", INF),
    ("t_max", True),
    ("saves_per_decade", 0), ("saves_per_decade", 1001), ("saves_per_decade", 2.5),
    ("saves_per_decade", True), ("saves_per_decade", NAN),
    ("stop_after", -1.0), ("stop_after", NAN), ("stop_after", INF), ("stop_after", True),
    ("stop_after", "1"),
    ("activation", "relu"), ("activation", ""), ("activation", None),
    ("activation", "Square"),
    ("spherical", False), ("spherical", 1), ("spherical", "yes"), ("spherical", None),
]


@pytest.mark.parametrize("field,value", INVALID, ids=[f"{f}={v!r}" for f, v in INVALID])
def test_invalid_field_raises_value_error_naming_field_and_value(field, value):
    with pytest.raises(ValueError) as info:
        Problem(**{**VALID, field: value})
    message = str(info.value)
    assert f"Problem.{field}" in message
    assert repr(value) in message


def test_invalid_problem_fails_before_any_compilation_or_compute():
    # In a fresh interpreter: constructing invalid Problems must not import the engine
    # kernels nor compile any numba function.
    code = f"""
import sys
import mediocrity
from mediocrity.problem import Problem
from mediocrity.overlaps import risk_from_gram
bad = {[(f, v) for f, v in INVALID if not (isinstance(v, float) and not math.isfinite(v))]!r}
bad += [(f, float(v)) for f, v in [("d", "nan"), ("gamma", "inf"), ("noise", "nan")]]
for field, value in bad:
    try:
        Problem(**{{**{VALID!r}, field: value}})
    except ValueError:
        pass
    else:
        raise SystemExit(f"no error for {{field}} = {{value!r}}")
loaded = [m for m in ("mediocrity.engines.sgd", "mediocrity.engines.gram") if m in sys.modules]
assert not loaded, loaded
assert not risk_from_gram.signatures, risk_from_gram.signatures
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_valid_numpy_scalars_are_accepted_and_stored_as_python_scalars():
    prob = Problem(d=np.int64(100), p=np.int32(2), gamma=np.float32(0.125),
                   noise=np.float64(0.5), saves_per_decade=np.int16(10), stop_after=1)
    assert type(prob.d) is int and type(prob.p) is int and type(prob.saves_per_decade) is int
    for name in ("gamma", "noise", "threshold", "t_min", "t_max", "stop_after"):
        assert type(getattr(prob, name)) is float, name
    assert prob.gamma == 0.125 and prob.stop_after == 1.0


def test_problem_is_immutable():
    prob = Problem(**VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prob.d = 200


@pytest.mark.parametrize("p,noise", [(1, 0.0), (2, 0.0), (3, 0.5)])
def test_gamma_at_or_above_critical_gamma_warns_but_constructs(p, noise):
    gamma_c = float(critical_gamma(p, noise))
    for gamma in (gamma_c, 1.5 * gamma_c, 50.0):
        with pytest.warns(NoEscapeWarning, match="gamma_c"):
            prob = Problem(d=100, p=p, gamma=gamma, noise=noise)
        assert prob.gamma == gamma
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Problem(d=100, p=p, gamma=0.99 * gamma_c, noise=noise)


def test_critical_gamma_is_one_sixth_at_p1_without_noise():
    # docs/science.md §3: gamma_c = 1/6 at p = 1, Delta = 0; just below it does not warn
    with pytest.warns(NoEscapeWarning):
        Problem(d=10, p=1, gamma=1 / 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Problem(d=10, p=1, gamma=1 / 6 - 1e-9)


@pytest.mark.parametrize("n", [1, 7, 40])
def test_time_grid_is_one_lattice_shared_by_all_cells(n):
    cells = [Problem(d=100, p=1, gamma=0.1, saves_per_decade=n, t_min=a, t_max=b)
             for a, b in [(1e-3, 10.0), (0.02, 3.0), (1e-5, 123.4), (0.5, 0.7)]]
    lattice = {}
    for prob in cells:
        t = prob.time_grid()
        k = np.round(n * np.log10(t[1:])).astype(int)
        # every non-zero save is the lattice point 10**(k/n), bit for bit the same in
        # every cell that contains it
        np.testing.assert_allclose(n * np.log10(t[1:]), k, atol=1e-9)
        assert np.all(np.diff(k) == 1)
        for kk, tt in zip(k, t[1:]):
            assert lattice.setdefault(kk, tt) == tt
    shared = set.intersection(*[set(c.time_grid()[1:]) for c in cells[:3]])
    assert shared  # the three wide cells do overlap


@pytest.mark.parametrize("t_min,t_max,n", [(1e-3, 10.0, 40), (0.02, 3.0, 7), (1e-4, 0.0123, 1),
                                           (2.5e-3, 2.5, 13)])
def test_time_grid_starts_at_zero_and_covers_t_min_to_t_max(t_min, t_max, n):
    t = Problem(d=50, p=1, gamma=0.1, t_min=t_min, t_max=t_max, saves_per_decade=n).time_grid()
    step = 10 ** (1 / n)
    assert t[0] == 0.0
    assert np.all(np.diff(t) > 0)
    # first non-zero save: the first lattice point >= t_min (up to rounding)
    assert t[1] >= t_min * (1 - 1e-12) and t[1] / step < t_min
    # last save: the first lattice point >= t_max, so the run covers t_max
    assert t[-1] >= t_max * (1 - 1e-12) and t[-2] < t_max


@pytest.mark.parametrize("d,p,gamma", [(100, 1, 0.125), (1000, 3, 0.0625), (37, 2, 0.1),
                                       (10**6, 5, 0.3), (2, 1, 0.01)])
def test_save_steps_are_floor_of_t_p_d_over_gamma(d, p, gamma):
    prob = Problem(d=d, p=p, gamma=gamma, t_min=1e-4, t_max=30.0, saves_per_decade=17)
    t = prob.time_grid()
    steps = prob.save_steps()
    assert steps.dtype == np.int64 and steps[0] == 0
    assert np.all(np.diff(steps) >= 0)
    for tk, nk in zip(t, steps):
        exact = Fraction(tk) * p * d / Fraction(gamma)  # exact rational of the floats
        floor = math.floor(exact)
        # the code may round up only when t p d/gamma is within 1e-12 (relative) of the
        # next integer, i.e. a lattice time that is an integer number of steps in exact
        # arithmetic but fell just below it in floating point
        assert nk == floor or (nk == floor + 1 and (nk - exact) <= 1e-12 * exact), (tk, nk, exact)
    # an explicit t argument uses the same rule; integer step counts map back exactly
    assert prob.save_steps(np.array([0.0, gamma / (p * d), 7 * gamma / (p * d)])).tolist() == [0, 1, 7]


def test_time_step_and_stop_after_steps():
    prob = Problem(d=200, p=2, gamma=0.1, stop_after=0.5)
    assert prob.dt == pytest.approx(0.1 / 400, rel=1e-15)
    n = prob.stop_after_steps()
    # the fewest whole steps that last at least stop_after
    assert (n - 1) * prob.dt < 0.5 <= n * prob.dt * (1 + 1e-12)
    assert Problem(d=200, p=2, gamma=0.1).stop_after_steps() == -1


def test_as_attrs_holds_every_field_and_no_none():
    attrs = Problem(**VALID).as_attrs()
    assert set(attrs) == {f.name for f in dataclasses.fields(Problem)}
    assert attrs["stop_after"] == "none"
    assert all(v is not None for v in attrs.values())
