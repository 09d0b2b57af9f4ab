"""Stores of the margins study (written atomically by mediocrity.pipeline.stores.write_atomic).

<results>/<M>/sweep.zarr: every cell's runs, dims (engine, d, m, n[, k, separation], seed,
t) -- k and separation only for the collapse data.
<results>/<M>/summary.zarr: one row per run, the end of training (the last saved state:
t_max, or where the run stopped) and its references, dims (engine, d, m, n[, k,
separation], seed).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...pipeline.stores import write_atomic

GRID_DIMS = ("engine", "d", "m", "n", "k", "separation")
FINAL = ("loss", "train_error", "margin", "test_error", "motion", "rotation_max",
         "rotation_mean", "norm", "t_saved")


def _cell_coords(ds: xr.Dataset) -> dict:
    coords = {"engine": ds.attrs["engine"], "d": int(ds.attrs["d"]), "m": int(ds.attrs["m"]),
              "n": int(ds.attrs["n"])}
    if ds.attrs["data"] == "collapse":
        coords.update(k=int(ds.attrs["k"]), separation=float(ds.attrs["separation"]))
    return coords


def merge_cells(paths, out, attrs: dict) -> None:
    """Cell stores -> one sweep store: each cell gets its grid coordinates as length-1
    dims, then all are combined by coordinates (seed chunks concatenate on seed)."""
    parts = []
    for path in paths:
        ds = xr.open_zarr(path).load()
        for variable in ds.variables.values():
            variable.encoding = {}
        coords = _cell_coords(ds)
        parts.append(ds.expand_dims({k: [v] for k, v in coords.items()}))
    merged = xr.combine_by_coords(parts, combine_attrs="drop", join="outer")
    dims = [d for d in GRID_DIMS if d in merged.dims] + ["seed", "t"]
    merged = merged.transpose(*dims, ...)
    merged.attrs.update(attrs)
    write_atomic(merged, out)


def summarise(sweep_path, out) -> None:
    """One row per run: the series at the end of training, motion / sqrt(m), the largest
    margin reached, the stop reason and the reference margins."""
    ds = xr.open_zarr(sweep_path).load()
    finite = np.isfinite(ds["t_saved"])
    last = finite.cumsum("t").argmax("t")  # index of the last finite save
    summary = xr.Dataset(attrs=ds.attrs)
    for name in FINAL:
        summary[name] = ds[name].isel(t=last).where(finite.any("t"))
        summary[name].attrs = {**ds[name].attrs, "long_name": "at the end of training: "
                               + ds[name].attrs.get("long_name", name)}
    summary["motion_over_sqrt_m"] = summary["motion"] / np.sqrt(ds["m"])
    summary["motion_over_sqrt_m"].attrs["long_name"] = "|W - W0|_F / sqrt(m) at the end"
    summary["margin_max"] = ds["margin"].max("t")
    summary["margin_max"].attrs["long_name"] = "largest normalized margin over the saves"
    for name in ("stop", "steps", "gamma_ntk", "gamma_ntk_infinite", "gamma_norm_only"):
        if name in ds:
            summary[name] = ds[name]
    for variable in summary.variables.values():  # not the sweep store's chunks/codecs
        variable.encoding = {}
    write_atomic(summary, out)
