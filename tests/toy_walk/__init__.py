"""A toy study on the public study interface only: a ±1 random walk from 0 until |x| = L,
E[T] = L². Section `toy`: {name: {L: [...], seeds: n}}; cells (name, L, seed chunk) ->
<results>/<name>/sweep.zarr -> <results>/paper/figures/<name>.png (rules.smk)."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediocrity.pipeline import cells, paths
from mediocrity.pipeline.config import ConfigError
from mediocrity.pipeline.study import Study

STEM = "L{L}_s{start}-{stop}"
PATTERN = paths.cell_in_results("{experiment}", "walk", STEM)


@dataclass(frozen=True, order=True)
class WalkCell:
    experiment: str
    L: int
    start: int
    stop: int

    def path(self, results):
        return paths.cell(results, self.experiment, "walk", STEM.format(**self.__dict__))


def check(name, exp, cfg, context):  # what the schema cannot say
    if max(exp["L"]) ** 2 * exp["seeds"] > 1e8:
        raise ConfigError(f"config key 'toy.{name}.L': too long a walk{context}")


def experiment_cells(cfg, name):
    exp = cfg["toy"][name]
    return [WalkCell(name, L, a, b) for L in exp["L"]
            for a, b in cells.seed_chunks(exp["seeds"], cfg["seeds_per_job"])]


def cell_spec(cfg, cell):
    return {"L": cell.L, "seeds": [cell.start, cell.stop], "root_seed": cfg["root_seed"]}


def exit_times(spec):
    """Exit time of each seed's walk, its stream keyed by (root_seed, L, seed)."""
    out = []
    for seed in range(*spec["seeds"]):
        rng = np.random.default_rng(np.random.SeedSequence([spec["root_seed"], spec["L"], seed]))
        x, t = 0, 0
        while abs(x) < spec["L"]:
            x, t = x + rng.choice((-1, 1)), t + 1
        out.append(t)
    return np.array(out, float)


def targets(cfg):
    return [f for n in cfg["toy"] for f in (paths.store(cfg["results"], n, "sweep"),
                                           paths.paper(cfg["results"], f"figures/{n}.png"))]


def main(argv):
    """python -m toy_walk cell SPEC OUT | merge OUT CELL.. | figure STORE PNG"""
    import xarray as xr

    from mediocrity.pipeline.figures import finish_axes, new_figure, save_figure
    from mediocrity.pipeline.stores import write_atomic

    if argv[0] == "cell":
        spec = json.loads(argv[1])
        ds = xr.Dataset({"exit_time": (("L", "seed"), exit_times(spec)[None])},
                        coords={"L": [spec["L"]], "seed": np.arange(*spec["seeds"])})
        write_atomic(ds.assign_attrs(seconds_engine=0.0), argv[2])
    elif argv[0] == "merge":
        write_atomic(xr.combine_by_coords([xr.open_zarr(p).load() for p in argv[2:]]), argv[1])
    else:
        mean = xr.open_zarr(argv[1]).exit_time.mean("seed")
        slope = np.polyfit(np.log(mean.L), np.log(mean), 1)[0]
        fig, (ax,) = new_figure()
        ax.plot(mean.L, mean, "o-", label=f"slope {slope:.2f} (theory 2)")
        finish_axes(ax, True, "L", "mean exit time")
        save_figure(fig, argv[2][: -len(".png")])  # .pdf and .png
    return 0


STUDY = Study(name="toy", section="toy", directory=Path(__file__).parent,
              summary="a random walk's exit time", check=check, cells=experiment_cells,
              cell_spec=cell_spec, modelled_seconds=lambda spec: 0.01,
              stores=lambda cfg, name: ["sweep"], targets=targets)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
