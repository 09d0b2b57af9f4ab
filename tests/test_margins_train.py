"""The margins engines (mediocrity.studies.margins.train): `run_gf` and `run_sgd`.

(a) GF loss non-increasing at every accepted step and every save (full and norm-only,
with rejected steps); (b) one SGD step of each kernel equals a hand-written numpy update;
(c) norm-only: directions unchanged to round-off, r >= 0; (d) bit-identical reruns from
one SeedSequence; (e) save grid and recorded t; (f) the stopping rules; (g) SGD with a small
step follows GF; (h) argument validation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediocrity.studies.margins import train
from mediocrity.studies.margins.network import directions, features, loss, sign_sets
from mediocrity.studies.margins.train import (SERIES, prepare_run, run_gf, run_sgd, save_times,
                                              sgd_steps, sgd_steps_norm)

SMALL = {"d": 5, "m": 8, "n": 40, "n_test": 100}


def _run(seed=0, dataset="sphere_xor", **params):
    r = prepare_run(np.random.SeedSequence(seed), dataset, **SMALL, **params)
    return r, (r["W0"], r["a"], r["X"], r["y"], r["Xt"], r["yt"])


@pytest.mark.parametrize("norm_only", [False, True])
def test_gf_loss_never_increases_at_any_accepted_step(norm_only):
    _, args = _run(1)
    # steps far too big: Armijo must reject, halve, and still decrease the loss (these huge
    # steps also end in a kink valley or at the minimum, where no step decreases L: "stalled")
    out = run_gf(*args, step=1e4, step_max=1e4, t_max=3e5, t_min=0.1, saves_per_decade=5,
                 norm_only=norm_only, trace=True, max_steps=2000)
    assert out["rejected"] > 10 and out["steps"] > 50
    assert out["trace_loss"].size == out["steps"] + 1
    assert (np.diff(out["trace_loss"]) <= 0).all()
    saved = out["loss"][np.isfinite(out["t"])]
    assert saved.size >= 5 and (np.diff(saved) <= 0).all()
    assert saved[-1] < saved[0]
    assert out["trace_t"][-1] == out["t_end"]
    # the traced loss is the loss of the weights
    assert out["trace_loss"][-1] == pytest.approx(loss(out["W"], *args[1:4]), rel=1e-12)


def test_gf_records_the_first_state_at_or_after_each_save_time():
    _, args = _run(2)
    out = run_gf(*args, step=0.3, step_max=2.0, t_max=50.0, t_min=0.01, saves_per_decade=4)
    times = save_times(0.01, 50.0, 4)
    assert times[0] == 0 and out["t"][0] == 0 and times[-1] >= 50
    np.testing.assert_allclose(np.diff(np.log10(times[1:])), 0.25)
    assert (out["t"] >= times).all() and (np.diff(out["t"]) >= 0).all()
    # one step of 0.3 passes the saves 0.01 ... 0.3: they hold the same state
    early = times <= 0.3
    assert (out["t"][early & (times > 0)] == 0.3).all()
    assert out["steps"] > 0 and set(out) >= set(SERIES) | {"steps", "rejected", "stop", "t_end", "W"}
    for key in SERIES:
        assert out[key].shape == times.shape and np.isfinite(out[key]).all()
    assert out["motion"][0] == 0 and out["rotation_max"][0] == 0 and out["margin"][0] == 0
    assert out["train_error"][0] == out["test_error"][0] == 1.0  # f(W0) = 0: ties


def _numpy_sgd_step(W, a, x, y, coef):
    m = W.shape[0]
    h = W @ x
    f = np.sum(a * np.maximum(h, 0.0)) / math.sqrt(m)
    s = -y / (1.0 + math.exp(y * f))
    return W - coef * s * ((a * (h > 0)) / math.sqrt(m))[:, None] * x[None, :]


def test_one_sgd_step_equals_a_numpy_update_on_the_same_sample():
    _, (W0, a, X, y, *_) = _run(3)
    W = W0 + np.random.default_rng(4).standard_normal(W0.shape)
    plus, minus = sign_sets(a)
    for i in (0, 7, 39):
        got = W.copy()
        sgd_steps(got, a, plus, minus, X, y, np.array([i]), 0.7, np.empty(a.size))
        np.testing.assert_allclose(got, _numpy_sgd_step(W, a, X[i], y[i], 0.7), rtol=1e-13,
                                   atol=1e-15)
    # two steps in one call = two calls, in the given order
    got, ref = W.copy(), W.copy()
    sgd_steps(got, a, plus, minus, X, y, np.array([5, 2]), 0.7, np.empty(a.size))
    for i in (5, 2):
        ref = _numpy_sgd_step(ref, a, X[i], y[i], 0.7)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_one_norm_only_sgd_step_equals_a_projected_numpy_update():
    _, (W0, a, X, y, *_) = _run(5)
    U, r0 = directions(W0)
    R = np.maximum(X @ U.T, 0.0)
    psi = features(U, a, X)
    plus, minus = sign_sets(a)
    rr = r0 * np.random.default_rng(6).uniform(0.5, 1.5, r0.size)
    for coef in (0.1, 1e3):  # 1e3: some r_j clipped to 0
        got = rr.copy()
        sgd_steps_norm(got, a, plus, minus, R, y, np.array([3]), coef)
        s = -y[3] / (1.0 + math.exp(y[3] * (psi[3] @ rr)))
        ref = np.maximum(rr - coef * s * psi[3], 0.0)
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    assert (got == 0).any() and (got > 0).any()


@pytest.mark.parametrize("engine", ["gf", "sgd"])
def test_norm_only_keeps_directions_and_nonnegative_norms(engine):
    r, args = _run(7, "collapse", k=4, separation=1.0)
    if engine == "gf":
        out = run_gf(*args, step=1.0, step_max=100.0, t_max=1e3, t_min=1.0, saves_per_decade=2,
                     norm_only=True)
    else:
        out = run_sgd(*args, r["order_rng"], step=5.0, t_max=1e3, t_min=1.0, saves_per_decade=2,
                      norm_only=True)
    assert out["stop"] == "t_max"
    assert np.nanmax(out["rotation_max"]) < 1e-12
    U, _ = directions(args[0])
    rr = np.einsum("jd,jd->j", out["W"], U)  # r_j = <w_j, u_j>
    assert (rr >= 0).all()
    np.testing.assert_allclose(out["W"], rr[:, None] * U, rtol=0, atol=1e-13 * rr.max())
    np.testing.assert_allclose(out["norm"][-1], np.linalg.norm(rr), rtol=1e-14)
    assert out["motion"][-1] > 0


@pytest.mark.parametrize("engine", ["gf", "sgd"])
def test_reruns_from_one_seed_sequence_are_bit_identical(engine):
    def once(seed):
        r, args = _run(seed, "collapse", k=2, separation=3.0)
        if engine == "gf":
            return run_gf(*args, step=0.5, step_max=5.0, t_max=20.0, t_min=0.1, saves_per_decade=3)
        return run_sgd(*args, r["order_rng"], step=0.5, t_max=20.0, t_min=0.1, saves_per_decade=3)

    a, b, c = once(8), once(8), once(9)
    for key in (*SERIES, "W"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["steps"] == b["steps"]
    assert not np.array_equal(a["W"], c["W"])
    # the same SeedSequence object twice: streams() does not spawn from it
    ss = np.random.SeedSequence(8)
    first = [g.random() for g in train.streams(ss)]
    assert first == [g.random() for g in train.streams(ss)]
    assert len(set(first)) == 4
    assert first == [np.random.default_rng(c).random() for c in np.random.SeedSequence(8).spawn(4)]


def test_sgd_time_is_eta_steps_over_n_and_saves_are_at_or_after_the_grid():
    r, args = _run(10)
    out = run_sgd(*args, r["order_rng"], step=0.3, t_max=10.0, t_min=0.01, saves_per_decade=3)
    times = save_times(0.01, 10.0, 3)
    n = args[2].shape[0]
    steps = np.rint(out["t"] * n / 0.3)
    np.testing.assert_allclose(out["t"], 0.3 * steps / n, rtol=1e-15)
    assert (out["t"] >= times * (1 - 1e-12)).all()
    assert (out["t"] - 0.3 / n < times).all()  # the first step count at or past the save
    assert out["steps"] == steps[-1] and out["stop"] == "t_max"


def test_sgd_with_a_small_step_follows_gf():
    r, args = _run(11)
    kw = {"t_max": 2.0, "t_min": 0.5, "saves_per_decade": 10}
    gf = run_gf(*args, step=0.01, step_max=0.01, **kw)
    sgd = run_sgd(*args, r["order_rng"], step=0.01, **kw)
    np.testing.assert_allclose(sgd["t"], gf["t"], atol=0.01)  # gf t: multiples of 0.01
    np.testing.assert_allclose(sgd["loss"], gf["loss"], rtol=2e-3)
    same = np.abs(sgd["t"] - gf["t"]) < 1e-9
    assert same.sum() >= 2
    np.testing.assert_allclose(sgd["motion"][same], gf["motion"][same], rtol=2e-2)
    np.testing.assert_allclose(sgd["rotation_mean"][same], gf["rotation_mean"][same], rtol=2e-2)


def test_stop_on_loss_underflow_leaves_the_later_saves_nan():
    # two well separated clusters; L ~ 1/t late, and Armijo lets eta grow by 1.2 a step:
    # with no cap L falls below 1e-300 after a few thousand steps
    _, args = _run(12, "collapse", k=2, separation=20.0)
    out = run_gf(*args, step=1.0, step_max=1e305, t_max=1e305, t_min=1.0, saves_per_decade=1)
    assert out["stop"] == "loss_underflow"
    assert out["t_end"] < save_times(1.0, 1e305, 1)[-1]
    done = np.isfinite(out["t"])
    assert done[0] and not done[-1] and (done[:-1] >= done[1:]).all()  # NaN only at the end
    for key in SERIES:
        assert np.isnan(out[key][~done]).all()
    assert loss(out["W"], *args[1:4]) < 1e-300
    assert out["margin"][done][-1] > 0


def test_sgd_stops_when_the_weights_are_not_finite(monkeypatch):
    # an overflow, simulated: the kernel leaves a NaN in W
    def broken(W, *rest):
        W[0, 0] = np.nan

    monkeypatch.setattr(train, "sgd_steps", broken)
    r, args = _run(13)
    out = run_sgd(*args, r["order_rng"], step=0.1, t_max=10.0, t_min=1.0, saves_per_decade=1)
    assert out["stop"] == "not_finite"
    assert np.isfinite(out["t"][:2]).all() and np.isnan(out["t"][2:]).all()
    assert np.isnan(out["loss"][1]) and out["t_end"] == out["t"][1] == 1.0


def test_gf_stalls_when_no_step_decreases_the_loss(monkeypatch):
    # an ascent direction: every trial is rejected, the run stops after MAX_HALVINGS halvings
    _, args = _run(14)
    descent = train._Full.gradient

    def ascent(self, st, out):
        descent(self, st, out)
        np.negative(out, out=out)

    monkeypatch.setattr(train._Full, "gradient", ascent)
    out = run_gf(*args, step=1.0, step_max=1.0, t_max=10.0, t_min=1.0, saves_per_decade=1)
    assert out["stop"] == "stalled" and out["steps"] == 0
    assert out["rejected"] == train.MAX_HALVINGS + 1
    assert np.isfinite(out["t"][:1]).all() and np.isnan(out["t"][1:]).all()


def test_gf_at_a_finite_minimum_stops_instead_of_creeping():
    # XOR on 4 points, one direction per sign (m = 2, norm-only): not separable, so GF goes
    # to a finite minimum. Steps there pass the Armijo test by an ulp now and then; they
    # must not count as progress, else t creeps forward by tiny steps and t_max is never met
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = np.array([1.0, 1.0, -1.0, -1.0])
    W0, a = np.array([[1.0, 0.3], [1.0, 0.3]]), np.array([1.0, -1.0])
    out = run_gf(W0, a, X, y, X, y, step=0.1, step_max=1e12, t_max=1e12, t_min=1.0,
                 saves_per_decade=1, norm_only=True, max_steps=100_000)
    assert out["stop"] == "stalled" and out["steps"] < 5000
    assert out["grad_norm"] < 1e-6 and 0.0 < out["loss"][1] < math.log(2.0)


def test_max_steps():
    _, args = _run(15)
    out = run_gf(*args, step=0.1, step_max=0.1, t_max=10.0, t_min=1.0, saves_per_decade=1,
                 max_steps=3)
    assert out["stop"] == "max_steps" and out["steps"] == 3
    assert out["t_end"] == pytest.approx(0.3)


@pytest.mark.parametrize("kw,name", [
    ({"step": 0.0}, "step"),
    ({"step_max": 0.5}, "step_max"),
    ({"t_min": -1.0}, "t_min"),
    ({"t_max": 0.5}, "t_max"),
    ({"saves_per_decade": 0}, "saves_per_decade"),
    ({"saves_per_decade": 2.5}, "saves_per_decade"),
    ({"max_steps": -1}, "max_steps"),
])
def test_bad_run_arguments_raise_value_error_naming_them(kw, name):
    _, args = _run(16)
    base = {"step": 1.0, "step_max": 2.0, "t_max": 10.0, "t_min": 1.0, "saves_per_decade": 1}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        run_gf(*args, **{**base, **kw})


def test_bad_run_data_raise_value_error_naming_them():
    r, (W0, a, X, y, Xt, yt) = _run(17)
    kw = {"step": 1.0, "t_max": 10.0, "t_min": 1.0, "saves_per_decade": 1}
    with pytest.raises(ValueError, match=r"^Xt\b"):
        run_sgd(W0, a, X, y, Xt[:, :2], yt, r["order_rng"], **kw)
    with pytest.raises(ValueError, match=r"^yt\b"):
        run_sgd(W0, a, X, y, Xt, yt[:3], r["order_rng"], **kw)
    with pytest.raises(ValueError, match=r"^order_rng\b"):
        run_sgd(W0, a, X, y, Xt, yt, 3, **kw)
    with pytest.raises(ValueError, match=r"^t_max\b"):
        run_sgd(W0, a, X, y, Xt, yt, r["order_rng"], **{**kw, "step": 1e-300})
    W0z = W0.copy()
    W0z[0] = 0.0
    with pytest.raises(ValueError, match=r"^W0\b"):
        run_gf(W0z, a, X, y, Xt, yt, step_max=1.0, norm_only=True, **kw)
