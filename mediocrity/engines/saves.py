"""The save-and-stop rule of every engine: `stop_rule` (numba, also called from Python by
`sde`), `save_and_check` (the numba engines `gram`, `sgd`) and `stop_save_index` (the `ode`,
which locates the crossing with a solve_ivp event)."""

from __future__ import annotations

import math

import numba
import numpy as np

CONTINUE, STOP, DIVERGED = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def stop_rule(n, now, risk, threshold, stop_after, track):
    """The rule at save n, taken at `now` (steps or time units, as stop_after) with risk R.

    track = [R(0), when to stop (or -1)] carries it across saves: stop stop_after after
    the first save with R <= (1 - threshold) R(0) (never if stop_after < 0), at the first
    save at or past that. Returns CONTINUE, STOP, or DIVERGED (non-finite risk)."""
    if not math.isfinite(risk):
        return DIVERGED
    if n == 0:
        track[0] = risk
    elif stop_after >= 0 and track[1] < 0 and risk <= (1.0 - threshold) * track[0]:
        track[1] = now + stop_after
    if track[1] >= 0 and now >= track[1]:
        return STOP
    return CONTINUE


@numba.njit(cache=True, nogil=True)
def save_and_check(n, step, g, risk, risk_out, m_out, gram_out, threshold, stop_steps, track,
                   pos):
    """Save risk (the model's R of the normalised Gram matrix g), M and G as save n, taken
    after `step` steps (gram_out holds one slot per save, or a single scratch slot when G
    is not kept), set the kernel's position pos = [saves written, steps done] to
    [n + 1, step] and return `stop_rule`'s status (stop_steps < 0: never stop early)."""
    risk_out[n] = risk
    m_out[n, :] = g[0, 1:]
    gram_out[n if gram_out.shape[0] > 1 else 0] = g
    pos[0] = n + 1
    pos[1] = step
    return stop_rule(n, step, risk, threshold, stop_steps, track)


def stop_save_index(t: np.ndarray, first_seen: int, stop_after: float) -> int:
    """`stop_rule` on a save grid t when the crossing was first seen at save first_seen:
    the index of the first save at or past t[first_seen] + stop_after (the last one)."""
    return min(int(np.searchsorted(t, t[first_seen] + stop_after)), t.size - 1)
