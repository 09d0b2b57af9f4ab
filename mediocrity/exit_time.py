"""Exit time from mediocrity: first t with R(t) <= (1 - T) R(0), linearly interpolated
between the two saves that bracket the crossing (never a saved grid point itself)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def crossing_times(t: np.ndarray, risk: np.ndarray, threshold: float) -> np.ndarray:
    """numpy core over the last axis of risk (..., nt): interpolated first crossing of
    (1 - threshold) risk[..., 0]; NaN if it never crosses before the first NaN."""
    risk = np.asarray(risk, dtype=float)
    t = np.asarray(t, dtype=float)
    level = (1.0 - threshold) * risk[..., :1]
    below = risk <= level  # NaN compares False
    # a crossing happens after t = 0; R(0) <= 0 (or not finite) has nothing to leave
    below[..., 0] = False
    below &= risk[..., :1] > 0
    # a NaN before the crossing (divergence or early stop) means no crossing was seen
    valid = np.logical_and.accumulate(np.isfinite(risk), axis=-1)
    hit = below & valid
    found = hit.any(axis=-1)
    k = np.where(found, hit.argmax(axis=-1), 1)
    k = np.clip(k, 1, t.size - 1)
    r_hi = np.take_along_axis(risk, (k - 1)[..., None], -1)[..., 0]
    r_lo = np.take_along_axis(risk, k[..., None], -1)[..., 0]
    frac = (r_hi - level[..., 0]) / np.where(r_hi > r_lo, r_hi - r_lo, 1.0)
    out = t[k - 1] + np.clip(frac, 0.0, 1.0) * (t[k] - t[k - 1])
    return np.where(found, out, np.nan)


def exit_time(risk: xr.DataArray, threshold: float = 0.01, dim: str = "t") -> xr.DataArray:
    """Exit time along `dim` (time units) of any DataArray of risks; NaN where R never
    falls to (1 - threshold) R(t=0) (and where R(0) <= 0).

    risk needs a coordinate `dim` of finite, strictly increasing times (at least two);
    anything else is refused with a ValueError naming the argument."""
    from .problem import is_real, short_repr

    if not isinstance(risk, xr.DataArray):
        raise ValueError(f"risk = {short_repr(risk)}: allowed an xarray.DataArray with a "
                         f"{dim!r} coordinate (e.g. simulate(...).risk), not "
                         f"{type(risk).__name__}")
    if not (is_real(threshold) and 0 < threshold < 1):
        raise ValueError(f"threshold = {short_repr(threshold)}: allowed a number in (0, 1)")
    if not isinstance(dim, str) or dim not in risk.dims:
        raise ValueError(f"dim = {short_repr(dim)}: risk has no dimension {short_repr(dim)} "
                         f"(dims: {risk.dims})")
    if dim not in risk.coords:
        raise ValueError(f"risk: dimension {dim!r} has no coordinate; allowed only with "
                         "the save times as coordinate (the index is not a time)")
    t = risk[dim].values
    if t.dtype.kind not in "iuf" or t.size < 2:
        raise ValueError(f"risk[{dim!r}] = {short_repr(t)}: allowed at least two numeric "
                         "times")
    t = t.astype(float)
    if not (np.isfinite(t).all() and (np.diff(t) > 0).all()):
        raise ValueError(f"risk[{dim!r}] = {short_repr(t)}: allowed finite, strictly "
                         "increasing times")
    if risk.dtype.kind not in "iuf":
        raise ValueError(f"risk has dtype {risk.dtype}: allowed real numbers")
    if risk.chunks is not None:  # dask (e.g. xr.open_zarr): the core dim must be one chunk
        risk = risk.chunk({dim: -1})
    out = xr.apply_ufunc(crossing_times, risk[dim], risk, kwargs={"threshold": threshold},
                         input_core_dims=[[dim], [dim]], dask="parallelized",
                         output_dtypes=[float])
    out.attrs = {"long_name": f"exit time: first t with R <= (1 - {threshold}) R(0)",
                 "units": "1", "threshold": threshold}
    return out.rename("exit_time")


# -- escape or fluctuation --------------------------------------------------------------
ESCAPE_DEPTH = 0.5


def escape_flags(t: np.ndarray, risk: np.ndarray, threshold: float, depth: float = ESCAPE_DEPTH,
                 hold: float | None = None) -> np.ndarray:
    """numpy core of `escaped` over the last axis of risk (..., nt): bool."""
    risk = np.asarray(risk, dtype=float)
    t = np.asarray(t, dtype=float)
    valid = np.logical_and.accumulate(np.isfinite(risk), axis=-1)  # up to the first NaN
    deep = (risk <= (1.0 - depth) * risk[..., :1]) & valid
    out = deep.any(axis=-1)
    if hold is not None:
        level = (1.0 - threshold) * risk[..., :1]
        t_exit = crossing_times(t, risk, threshold)[..., None]
        window = (t > t_exit) & (t <= t_exit + hold)  # False where t_exit is NaN
        above = (risk > level) & window & valid
        last = np.where(valid, t, -np.inf).max(axis=-1, initial=-np.inf)[..., None]
        recorded = last >= t_exit + hold  # the run was saved to the end of the window
        out |= (recorded & ~above.any(axis=-1, keepdims=True))[..., 0]
    return out


def escaped(risk: xr.DataArray, threshold: float = 0.01, depth: float = ESCAPE_DEPTH,
            hold: float | None = None, dim: str = "t") -> xr.DataArray:
    """True where a run escaped mediocrity, False where it did not: tells a real escape
    from a fluctuation that crossed (1 - threshold) R(0) (which `exit_time` counts).

    A run escaped if R falls to (1 - depth) R(0) at some save (default depth 0.5: half
    the plateau; plateau fluctuations stay far above it: above gamma_c, at gamma = 0.2,
    p = 1, d = 500, the lowest R of 12 runs was 0.70-0.97 R(0), while runs that escape go
    to R ~ 0). With `hold` (time units) a run also counts as escaped if it stays at or
    below (1 - threshold) R(0) at every save from its exit time t_ex to t_ex + hold and
    was saved up to t_ex + hold: the criterion for runs stopped early (stop_after) before
    they get deep. It is weaker: near or above gamma_c plateau fluctuations can stay below
    the threshold for ~1 time unit (same runs: 8 of 12 dips lasted more than 0.2).
    Saves after the first NaN (divergence, early stop) are not used. The paper's exit time
    and `exit_time` are unchanged; use `exit_time(...).where(escaped(...))` to keep only
    escapes. A run whose first crossing was a fluctuation but which escaped later is True
    (its exit time is that of the fluctuation; `hold` flags the first crossing itself).
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold = {threshold!r}: allowed a number in (0, 1)")
    if not threshold < depth < 1:
        raise ValueError(f"depth = {depth!r}: allowed a number in (threshold, 1)")
    if hold is not None and not hold >= 0:
        raise ValueError(f"hold = {hold!r}: allowed None or a number >= 0")
    if dim not in risk.dims:
        raise ValueError(f"risk has no dimension {dim!r} (dims: {risk.dims})")
    if risk.chunks is not None:
        risk = risk.chunk({dim: -1})
    out = xr.apply_ufunc(escape_flags, risk[dim], risk,
                         kwargs={"threshold": threshold, "depth": depth, "hold": hold},
                         input_core_dims=[[dim], [dim]], dask="parallelized",
                         output_dtypes=[bool])
    criterion = f"R <= (1 - {depth}) R(0) at some save"
    if hold is not None:
        criterion += (f", or R <= (1 - {threshold}) R(0) from the exit time for {hold} "
                      "time units")
    out.attrs = {"long_name": f"escaped mediocrity: {criterion}", "threshold": threshold,
                 "depth": depth, "hold": "none" if hold is None else hold}
    return out.rename("escaped")
