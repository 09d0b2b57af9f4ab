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
    from .problem import _is_real, short_repr

    if not isinstance(risk, xr.DataArray):
        raise ValueError(f"risk = {short_repr(risk)}: allowed an xarray.DataArray with a "
                         f"{dim!r} coordinate (e.g. simulate(...).risk), not "
                         f"{type(risk).__name__}")
    if not (_is_real(threshold) and 0 < threshold < 1):
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
