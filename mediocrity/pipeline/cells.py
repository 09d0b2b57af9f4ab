"""Cells: one Snakemake job each (a grid point, an engine, a chunk of seeds), named by
their store path; their specs (every result-affecting value, JSON) and resources.

A study's cell type is a frozen dataclass with `path(results)`; `CellIndex` maps the
wildcards of a study's cell rule back to its cell by a dictionary look-up of the path, so a
value given in the config is never parsed back from a path string."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

SMALL_CELL_SECONDS = 60.0


def fmt(x: float) -> str:
    """The path spelling of a grid value: 12 significant digits (0.1, 1e-05, 0)."""
    return f"{float(x):.12g}"


def seed_chunks(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) chunks of seeds 0..n-1, `size` each (the last one shorter)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def spec_json(spec: dict) -> str:
    """The canonical JSON of a cell spec (a rule's params: a change reruns the cell)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def threads(seconds: float, max_threads: int) -> int:
    """Threads (= local Dask workers) of a cell: one for cells modelled under a minute
    (two such jobs side by side waste less on imports than one job using both cores),
    else max_threads."""
    return 1 if seconds < SMALL_CELL_SECONDS else max_threads


def runtime_minutes(seconds: float, threads: int) -> int:
    """SLURM runtime request of a cell: 3x the model, at least 10 minutes."""
    return max(10, math.ceil(3 * seconds / max(threads, 1) / 60))


def name_pattern(names) -> str:
    """Regular expression matching exactly these experiment names (none: nothing)."""
    return "|".join(names) if names else "(?!)"


class CellIndex:
    """The cells of a config by store path, with their specs and modelled seconds, each
    computed once: `of(wildcards)` is the cell a rule's wildcards name."""

    def __init__(self, results: str, pattern: str, cells: Iterable,
                 spec: Callable[[object], dict], seconds: Callable[[dict], float]):
        self.results, self.pattern = results, pattern
        self._cells = {c.path(results): c for c in cells}
        self._spec, self._seconds = spec, seconds
        self._specs: dict = {}
        self._modelled: dict = {}

    def __len__(self) -> int:
        return len(self._cells)

    def of(self, wildcards):
        """The cell of a rule's wildcards; ValueError if it is not one of the config."""
        path = f"{self.results}/" + self.pattern.format(**dict(wildcards))
        try:
            return self._cells[path]
        except KeyError:
            raise ValueError(f"{path} is not a cell of the configured experiments") from None

    def spec(self, cell) -> dict:
        if cell not in self._specs:
            self._specs[cell] = self._spec(cell)
        return self._specs[cell]

    def seconds(self, cell) -> float:
        if cell not in self._modelled:
            self._modelled[cell] = self._seconds(self.spec(cell))
        return self._modelled[cell]
