"""Training engines of the margins study: `run_gf` (full-batch gradient descent with Armijo
steps, a monotone discretisation of gradient flow) and `run_sgd` (one sample per step).

Time is GF time. gf: t = sum of the accepted steps eta_k. sgd: a step on sample i is
W <- W - eta grad_W (l_i / n), l_i = log(1 + exp(-y_i f_i)) -- the sample's term of the
full-batch gradient of L, so n steps (one pass) move W like one GF step of eta and
t = eta * steps / n. (In the usual "learning rate on l_i" convention that rate is eta/n.)

Constraint norm_only (both engines): w_j = r_j u_j with u_j = w_j(0)/|w_j(0)| frozen, the
parameters r >= 0 (r(0) = |w_j(0)|) are trained on the same loss, projected onto r >= 0
after each step; W = r u is what is measured.

Saves: t = 0, then the lattice 10**(k/saves_per_decade) from t_min to the first lattice
point >= t_max (`save_times`, the lattice of mediocrity.problem). Save k holds the first
state whose t is at or after the save time, with its actual t in "t" (gf: one step can pass
several save times, which then hold the same state; sgd: the first step count with
eta steps / n >= t_k to 1e-12 relative). Measured: t, loss, train_error, margin (min_i
y_i f_i / |W|_F, may be negative), test_error, motion (|W - W0|_F), rotation_max,
rotation_mean (angle of w_j to w_j(0), radians) and norm (|W|_F).

Stopping. A run stops at the first save past t_max ("t_max") or early, at:
  "loss_underflow": L < 1e-300. After separation L ~ exp(-min_i y_i f_i) and |grad L| <~ L;
      below 1e-300 both are subnormal or zero and W no longer moves in floating point
      (exact GF would keep growing |W| and the margin). GF time to get there is ~1e300
      (L ~ 1/t late), so in practice only a huge step_max (eta grows 1.2x a step) gets there;
  "not_finite": the loss or the weights are not finite (sgd with a too large eta; gf cannot
      get there from a finite start, Armijo rejects non-finite trials);
  "stalled" (gf): more than MAX_HALVINGS consecutive trials without a measurable decrease
      of L (L - L' > ROUNDOFF L). A trial is accepted only if L' < L in floating point
      (unless the step is zero), so steps below round-off add no time; one that passes by
      an ulp is accepted but does not reset the count (else a run at a finite minimum would
      creep forward by tiny accepted steps and never end). Happens at a
      minimum (non-separable data, norm_only: "grad_norm" ~ 0) and in a ReLU kink valley,
      where the gradient (relu'(0) = 0, one-sided) is no descent direction for any step
      that crosses w_j.x_i = 0 (exact GF slides along the valley; "grad_norm" not small,
      "step_end" tiny);
  "max_steps" (gf, optional cap on accepted steps).
The saves after an early stop are NaN (t included); "stop", "t_end" and the final weights
"W" say where and why the run ended.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numba
import numpy as np

from .data import make_sampler
from .network import (check_data, check_network, directions, init_network, logistic, logistic_gate,
                      rotation, sign_sets, slope, units_sum)

SERIES = ("t", "loss", "train_error", "margin", "test_error", "motion", "rotation_max",
          "rotation_mean", "norm")
STOP_REASONS = ("t_max", "loss_underflow", "not_finite", "stalled", "max_steps")
LOSS_FLOOR = 1e-300
MAX_HALVINGS = 60  # a step 2**-60 ~ 1e-18 times the last accepted one: no descent left
ROUNDOFF = 4 * np.finfo(float).eps  # a relative loss decrease below this is round-off
GROWTH = 1.2       # eta <- min(GROWTH eta, step_max) after an accepted step
STEPS_MAX = 2**53  # sgd step counts stay exact in float64


# -- arguments ----------------------------------------------------------------------------
def _positive(name: str, v) -> float:
    if not (isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} = {v!r} is invalid: allowed a finite number > 0")
    return float(v)


def save_times(t_min: float, t_max: float, saves_per_decade: int) -> np.ndarray:
    """0, then 10**(k/saves_per_decade) from the first lattice point >= t_min to the first
    >= t_max (one lattice shared by every run, so runs merge on t)."""
    t_min, t_max = _positive("t_min", t_min), _positive("t_max", t_max)
    if t_max < t_min:
        raise ValueError(f"t_max = {t_max!r} is invalid: allowed t_max >= t_min = {t_min!r}")
    n = saves_per_decade
    if not (isinstance(n, Integral) and not isinstance(n, bool) and 1 <= n <= 1000):
        raise ValueError(f"saves_per_decade = {n!r} is invalid: allowed an integer in [1, 1000]")
    k0 = math.ceil(n * math.log10(t_min) - 1e-9)
    k1 = math.ceil(n * math.log10(t_max) - 1e-9)
    return np.concatenate([[0.0], 10.0 ** (np.arange(k0, k1 + 1) / n)])


def _check_run(W0, a, X, y, Xt, yt):
    W0, a = check_network(W0, a)
    X, y = check_data(X, y, W0.shape[1])
    Xt, yt = check_data(Xt, yt, W0.shape[1], "Xt", "yt")
    return W0, a, X, y, Xt, yt


# -- random streams -----------------------------------------------------------------------
def streams(seed_sequence: np.random.SeedSequence) -> tuple[np.random.Generator, ...]:
    """Generators (data, init, order, test) of one run: the first four children of
    seed_sequence, built without spawning from it (spawn() advances the parent, so a second
    call on the same object would give other streams; this one does not)."""
    if not isinstance(seed_sequence, np.random.SeedSequence):
        raise ValueError(f"seed_sequence = {seed_sequence!r} is invalid: allowed a numpy "
                         "SeedSequence")
    ss = seed_sequence
    return tuple(np.random.default_rng(np.random.SeedSequence(
        ss.entropy, spawn_key=(*ss.spawn_key, i), pool_size=ss.pool_size)) for i in range(4))


def prepare_run(seed_sequence: np.random.SeedSequence, dataset: str, *, d: int, m: int, n: int,
                n_test: int, **params) -> dict:
    """Everything a run draws, from its SeedSequence: dict with W0, a (`init_network`, init
    stream), X, y (data stream, after the data set's own parameters such as the collapse
    centres), Xt, yt (test stream, same `sampler`), order_rng (for `run_sgd`), sampler."""
    data_rng, init_rng, order_rng, test_rng = streams(seed_sequence)
    sampler = make_sampler(dataset, d, data_rng, **params)
    X, y = sampler(n, data_rng)
    W0, a = init_network(d, m, init_rng)
    Xt, yt = sampler(n_test, test_rng)
    return {"W0": W0, "a": a, "X": X, "y": y, "Xt": Xt, "yt": yt, "order_rng": order_rng,
            "sampler": sampler}


# -- the two parameterisations ------------------------------------------------------------
class _State:
    """Parameters p (W (m, d) or r (m,)), f (n,), loss L and (full only) GT (m, n): H^T = W X^T,
    overwritten by G^T of p once evaluated, so each state keeps its own gradient data."""

    def __init__(self, p: np.ndarray, n: int, m: int, full: bool):
        self.p = p
        self.GT = np.empty((m, n)) if full else None
        self.f = np.empty(n)
        self.L = math.nan


class _Full:
    """The network in W: loss, gradient (two BLAS products and one fused pass over H between
    them) and test outputs, in buffers allocated once."""

    full = True

    def __init__(self, W0, a, X, y, Xt):
        self.W0, self.a, self.X, self.y, self.Xt = W0, a, X, y, Xt
        m = W0.shape[0]
        self.plus, self.minus = sign_sets(a)
        self.scale = 1.0 / math.sqrt(m)
        self.ones = np.ones(m)
        self.a_s = a * self.scale
        if self.full:
            self.Ht = np.empty((Xt.shape[0], m))

    def start(self) -> np.ndarray:
        return self.W0.copy()

    def weights(self, p):
        return p

    def evaluate(self, st: _State) -> None:
        """f, L and the gate G^T of st.p (computed for every trial, rejected or not)."""
        np.matmul(st.p, self.X.T, out=st.GT)
        st.L = logistic_gate(st.GT, self.y, self.a_s, self.plus, self.minus, self.scale, st.f)

    def gradient(self, st: _State, out: np.ndarray) -> None:
        """grad L = G^T X of the evaluated state st."""
        np.matmul(st.GT, self.X, out=out)

    def trial(self, st: _State, g, gnorm2: float, eta: float, new: _State) -> float:
        """new.p <- p - eta g; returns the Armijo decrease eta/2 |g|^2."""
        np.multiply(g, -eta, out=new.p)
        new.p += st.p
        return 0.5 * eta * gnorm2

    def test_f(self, p) -> np.ndarray:
        np.matmul(self.Xt, p.T, out=self.Ht)
        f = np.empty(self.Xt.shape[0])
        units_sum(self.Ht, self.ones, self.plus, self.minus, self.scale, f)
        return f


class _NormOnly(_Full):
    """The norm-only class in r: f = <r, psi(x)> with R = relu(X U^T) fixed, so the loss
    is one pass over R and the gradient one BLAS product psi^T s."""

    full = False

    def __init__(self, W0, a, X, y, Xt):
        super().__init__(W0, a, X, y, Xt)
        self.U, self.r0 = directions(W0)
        self.R = np.maximum(X @ self.U.T, 0.0)
        self.Rt = np.maximum(Xt @ self.U.T, 0.0)
        self.psi = self.R * self.a_s

    def start(self) -> np.ndarray:
        return self.r0.copy()

    def weights(self, p):
        return p[:, None] * self.U

    def evaluate(self, st: _State) -> None:
        units_sum(self.R, st.p, self.plus, self.minus, self.scale, st.f)
        st.L = logistic(self.y, st.f)

    def gradient(self, st: _State, out: np.ndarray) -> None:
        np.matmul(self.psi.T, slope(self.y, st.f), out=out)

    def trial(self, st: _State, g, gnorm2: float, eta: float, new: _State) -> float:
        """new.p <- max(p - eta g, 0); returns the projected-gradient Armijo decrease
        |new.p - p|^2/(2 eta) (= eta/2 |g|^2 when nothing is clipped)."""
        np.multiply(g, -eta, out=new.p)
        new.p += st.p
        np.maximum(new.p, 0.0, out=new.p)
        step = new.p - st.p
        return float(step @ step) / (2.0 * eta)

    def test_f(self, p) -> np.ndarray:
        f = np.empty(self.Xt.shape[0])
        units_sum(self.Rt, p, self.plus, self.minus, self.scale, f)
        return f


def _model(W0, a, X, y, Xt, norm_only: bool):
    return (_NormOnly if norm_only else _Full)(W0, a, X, y, Xt)


def _record(model, st: _State, yt, out: dict, k: int, t: float) -> None:
    """Measurements of the evaluated state st into save k."""
    W = model.weights(st.p)
    norm = float(np.linalg.norm(W))
    yf = model.y * st.f
    out["t"][k] = t
    out["loss"][k] = st.L
    out["train_error"][k] = np.mean(yf <= 0.0)
    out["margin"][k] = yf.min() / norm + 0.0 if norm > 0 else math.nan  # + 0.0: no -0.0
    out["test_error"][k] = np.mean(yt * model.test_f(st.p) <= 0.0)
    out["motion"][k] = np.linalg.norm(W - model.W0)
    out["rotation_max"][k], out["rotation_mean"][k] = rotation(W, model.W0)
    out["norm"][k] = norm


def _stop_reason(st: _State) -> str | None:
    if not (math.isfinite(st.L) and np.isfinite(st.p).all()):
        return "not_finite"
    if st.L < LOSS_FLOOR:
        return "loss_underflow"
    return None


# -- gradient flow ------------------------------------------------------------------------
# non-finite values are reported by the "not_finite" stop, not by warnings
@np.errstate(over="ignore", invalid="ignore")
def run_gf(W0, a, X, y, Xt, yt, *, step: float, step_max: float, t_max: float, t_min: float,
           saves_per_decade: int, norm_only: bool = False, max_steps: int | None = None,
           trace: bool = False) -> dict:
    """Gradient flow by full-batch gradient descent with Armijo backtracking from W0.

    A trial W' = W - eta grad L (norm_only: r' = max(r - eta grad, 0)) is accepted only if
    L(W') <= L(W) - eta/2 |grad L|^2 (norm_only: - |r' - r|^2/(2 eta)), else eta is halved
    and the step retried; after an accepted step t += eta, eta <- min(1.2 eta, step_max).
    The loss is therefore non-increasing at every accepted step, in floating point.
    step: the first eta. Returns {SERIES: arrays over `save_times`, "steps" (accepted),
    "rejected", "stop" (module docstring), "t_end", "step_end" (eta at the end), "grad_norm"
    (|grad L| at the end), "W" (final weights)}; trace=True adds
    "trace_t", "trace_loss" at every accepted step (debugging, memory O(steps))."""
    W0, a, X, y, Xt, yt = _check_run(W0, a, X, y, Xt, yt)
    step, step_max = _positive("step", step), _positive("step_max", step_max)
    if step_max < step:
        raise ValueError(f"step_max = {step_max!r} is invalid: allowed step_max >= step = {step!r}")
    if max_steps is not None and not (isinstance(max_steps, Integral) and max_steps >= 0):
        raise ValueError(f"max_steps = {max_steps!r} is invalid: allowed None or an integer >= 0")
    times = save_times(t_min, t_max, saves_per_decade)
    model = _model(W0, a, X, y, Xt, norm_only)
    n, m = X.shape[0], W0.shape[0]
    p0 = model.start()
    cur, new = _State(p0, n, m, model.full), _State(np.empty_like(p0), n, m, model.full)
    g = np.empty_like(p0)
    model.evaluate(cur)
    model.gradient(cur, g)
    gnorm2 = float(np.vdot(g, g))
    out = {key: np.full(times.size, np.nan) for key in SERIES}
    trace_t, trace_loss = [0.0], [cur.L]
    t, eta, k, steps, rejected, idle, stop = 0.0, step, 0, 0, 0, 0, None
    while stop is None:
        while k < times.size and t >= times[k]:
            _record(model, cur, yt, out, k, t)
            k += 1
        if k == times.size:
            stop = "t_max"
            break
        stop = _stop_reason(cur)
        if stop is None and max_steps is not None and steps >= max_steps:
            stop = "max_steps"
        if stop is not None:
            break
        decrease = model.trial(cur, g, gnorm2, eta, new)
        model.evaluate(new)
        # Armijo, and a measurable decrease unless the (projected) step is zero: a step
        # below round-off is no progress, accepting it would only add time
        if new.L <= cur.L - decrease and (new.L < cur.L or decrease == 0.0):
            idle = 0 if cur.L - new.L > ROUNDOFF * cur.L else idle + 1
            cur, new = new, cur
            t += eta
            steps += 1
            eta = min(GROWTH * eta, step_max)
            model.gradient(cur, g)
            gnorm2 = float(np.vdot(g, g))
            if trace:
                trace_t.append(t)
                trace_loss.append(cur.L)
        else:
            rejected += 1
            idle += 1
            eta *= 0.5
        if idle > MAX_HALVINGS:
            stop = "stalled"
    out.update(steps=steps, rejected=rejected, stop=stop, t_end=t, step_end=eta,
               grad_norm=math.sqrt(gnorm2), W=model.weights(cur.p).copy())
    if trace:
        out.update(trace_t=np.array(trace_t), trace_loss=np.array(trace_loss))
    return out


# -- SGD ----------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, fastmath=True)
def _dot(a, b):
    """a.b, reassociated so that it vectorises (order fixed at compile time: reproducible)."""
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=True, nogil=True)
def _neg_slope(y, f):
    """-y / (1 + exp(y f)), without overflow."""
    z = y * f
    if z >= 0.0:
        e = math.exp(-z)
        return -y * e / (1.0 + e)
    return -y / (1.0 + math.exp(z))


@numba.njit(cache=True, nogil=True)
def sgd_steps(W, a, plus, minus, X, y, order, coef, h):
    """For i in order: W <- W - coef s_i (a_j 1[h_j > 0]/sqrt(m)) x_i^T per row, with
    h = W x_i, f = (sum_{a_j=+1} relu(h_j) - sum_{a_j=-1} relu(h_j))/sqrt(m),
    s_i = -y_i/(1 + exp(y_i f)); coef = eta/n. O(m d) per step; h (m,): scratch."""
    m, d = W.shape
    scale = 1.0 / math.sqrt(m)
    for k in range(order.shape[0]):
        i = order[k]
        x = X[i]
        for j in range(m):
            h[j] = _dot(W[j], x)
        sp = 0.0
        for q in range(plus.shape[0]):
            if not h[plus[q]] <= 0.0:  # NaN propagates
                sp += h[plus[q]]
        sn = 0.0
        for q in range(minus.shape[0]):
            if not h[minus[q]] <= 0.0:
                sn += h[minus[q]]
        c = coef * _neg_slope(y[i], scale * (sp - sn)) * scale
        for j in range(m):
            if h[j] > 0.0:
                cj = c * a[j]
                row = W[j]
                for l in range(d):
                    row[l] -= cj * x[l]


@numba.njit(cache=True, nogil=True)
def sgd_steps_norm(r, a, plus, minus, R, y, order, coef):
    """Norm-only: for i in order, with R_i = relu(U x_i) (row of R), f = <r, psi(x_i)>,
    r_j <- max(r_j - coef s_i a_j R_ij/sqrt(m), 0); coef = eta/n. O(m) per step."""
    m = r.shape[0]
    scale = 1.0 / math.sqrt(m)
    for k in range(order.shape[0]):
        i = order[k]
        row = R[i]
        sp = 0.0
        for q in range(plus.shape[0]):
            sp += r[plus[q]] * row[plus[q]]
        sn = 0.0
        for q in range(minus.shape[0]):
            sn += r[minus[q]] * row[minus[q]]
        c = coef * _neg_slope(y[i], scale * (sp - sn)) * scale
        for j in range(m):
            if row[j] > 0.0:
                r[j] = max(r[j] - c * a[j] * row[j], 0.0)


# non-finite values are reported by the "not_finite" stop, not by warnings
@np.errstate(over="ignore", invalid="ignore")
def run_sgd(W0, a, X, y, Xt, yt, order_rng: np.random.Generator, *, step: float, t_max: float,
            t_min: float, saves_per_decade: int, norm_only: bool = False) -> dict:
    """SGD from W0 with constant step eta = `step`: passes over the n samples, each in a
    fresh order_rng.permutation(n) drawn when the pass starts; step on sample i:
    W <- W - eta grad_W(l_i)/n (norm_only: r <- max(r - eta grad_r(l_i)/n, 0)),
    t = eta steps/n. The steps between saves run in a numba kernel, the measurements at
    the saves in numpy. Returns {SERIES: arrays over `save_times`, "steps", "stop",
    "t_end", "W" (final weights)}."""
    W0, a, X, y, Xt, yt = _check_run(W0, a, X, y, Xt, yt)
    if not isinstance(order_rng, np.random.Generator):
        raise ValueError(f"order_rng = {order_rng!r} is invalid: allowed a numpy Generator")
    eta = _positive("step", step)
    times = save_times(t_min, t_max, saves_per_decade)
    n, m = X.shape[0], W0.shape[0]
    if times[-1] / eta * n > STEPS_MAX:
        raise ValueError(f"t_max = {t_max!r} is invalid: t_max n / step = {times[-1] / eta * n:.3g} "
                         f"SGD steps, allowed at most {STEPS_MAX:.3g}")
    targets = np.ceil(times * (n / eta) * (1.0 - 1e-12)).astype(np.int64)
    model = _model(W0, a, X, y, Xt, norm_only)
    st = _State(model.start(), n, m, model.full)
    plus, minus = sign_sets(a)
    coef = eta / n
    h = np.empty(m)
    out = {key: np.full(times.size, np.nan) for key in SERIES}
    perm, pos, steps, stop = np.empty(0, dtype=np.int64), n, 0, "t_max"
    for k, target in enumerate(targets):
        while steps < target:
            if pos == n:
                perm, pos = order_rng.permutation(n), 0
            c = min(int(target) - steps, n - pos)
            if norm_only:
                sgd_steps_norm(st.p, a, plus, minus, model.R, y, perm[pos:pos + c], coef)
            else:
                sgd_steps(st.p, a, plus, minus, X, y, perm[pos:pos + c], coef, h)
            pos += c
            steps += c
        t = eta * steps / n
        model.evaluate(st)
        _record(model, st, yt, out, k, t)
        reason = _stop_reason(st)
        if reason is not None:
            stop = reason
            break
    out.update(steps=steps, stop=stop, t_end=eta * steps / n, W=model.weights(st.p).copy())
    return out
