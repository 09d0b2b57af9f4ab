"""The save-and-stop rule shared by the numba engines (`gram`, `sgd`)."""

from __future__ import annotations

import math

import numba

from ..overlaps import risk_from_gram

CONTINUE, STOP, DIVERGED = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def record_save(n, step, g, risk_out, m_out, threshold, stop_steps, track):
    """Save risk and M of the normalised Gram matrix g as save n, taken after `step` steps.

    track = [R(0), step to stop at (or -1)] carries the rule across saves: stop stop_steps
    after the first save with R <= (1 - threshold) R(0) (never if stop_steps < 0).
    Returns CONTINUE, STOP, or DIVERGED (non-finite risk).
    """
    risk = risk_from_gram(g)
    risk_out[n] = risk
    m_out[n, :] = g[0, 1:]
    if not math.isfinite(risk):
        return DIVERGED
    if n == 0:
        track[0] = risk
    elif stop_steps >= 0 and track[1] < 0 and risk <= (1.0 - threshold) * track[0]:
        track[1] = step + stop_steps
    if track[1] >= 0 and step >= track[1]:
        return STOP
    return CONTINUE
