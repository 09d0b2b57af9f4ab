"""`mediocrity status`: per experiment of every study, its cells done/total and stores
written; in total, compute spent and an estimate of what is left (each study's cost
model, calibrated on the cells already done)."""

from __future__ import annotations

import time
from pathlib import Path

from . import paths
from .study import of


def _stamp(fmt_: str, seconds: float) -> str:
    return time.strftime(fmt_, time.localtime(seconds))


def sweep_status(cfg: dict, cores: int = 1) -> str:
    """Cells done/total per experiment, when they were written, compute spent, and an
    estimate of what is left (cost model calibrated on the cells already done)."""
    import zarr

    results = cfg["results"]
    lines, spent, done_model, todo_model, n_done, n_total, stamps = [], 0.0, 0.0, 0.0, 0, 0, []
    for study in of(cfg):
        for name in study.experiments(cfg):
            cells, done = study.cells(cfg, name), 0
            for cell in cells:
                model = study.modelled_seconds(study.cell_spec(cfg, cell))
                path = Path(cell.path(results))
                if (path / ".zmetadata").is_file():
                    done += 1
                    stamps.append(path.stat().st_mtime)
                    spent += float(zarr.open_group(str(path), mode="r").attrs["seconds_engine"])
                    done_model += model
                else:
                    todo_model += model
            running = len(list(paths.cells_dir(results, name).glob("*/*.tmp-*")))
            wanted = study.stores(cfg, name)
            merged = [f for f in wanted
                      if Path(paths.store(results, name, f), ".zmetadata").is_file()]
            lines.append(f"{name}: cells {done}/{len(cells)} done, {running} being written; "
                         f"stores {len(merged)}/{len(wanted)} ({', '.join(merged) or 'none'})")
            n_done, n_total = n_done + done, n_total + len(cells)
    scale = spent / done_model if done_model > 0 and spent > 0 else 1.0
    left = todo_model * scale
    when = (f"; written {_stamp('%Y-%m-%d %H:%M', min(stamps))} .. "
            f"{_stamp('%H:%M', max(stamps))} ({(max(stamps) - min(stamps)) / 60:.1f} min)"
            if stamps else "")
    lines.append(f"total: {n_done}/{n_total} cells done{when}; compute spent {spent:.1f} "
                 f"core-s; estimated left {left:.0f} core-s = "
                 f"{left / max(cores, 1) / 60:.1f} min on {cores} core(s) "
                 f"({'model calibrated on the done cells' if scale != 1.0 else 'cost model'})")
    return "\n".join(lines)
