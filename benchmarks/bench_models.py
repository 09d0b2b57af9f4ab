"""Per-step cost of the `gram` and `sgd` kernels for every registered model (issue 9).

Run:  python benchmarks/bench_models.py [--models phase_retrieval,abs,...] [--repeats 5]
      python benchmarks/bench_models.py --before OLD_TREE [--rounds 6]

For each model: gram ns/step at p = 1, 2, 8 (d = 1e6) and sgd ns/step at d = 1e4, p = 1;
best of `repeats` timed calls after a warm-up (compilation excluded), from the annealed
start at gamma = 1e-4 (no model escapes in the timed steps, so every model does the same
work). Also runs on a tree without models (before issue 9): then only the default's
kernels exist and are timed (`PYTHONPATH=<old tree> python benchmarks/bench_models.py`).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import time

import numba
import numpy as np

import mediocrity

CELLS = (("gram", 10**6, 1, 2_000_000), ("gram", 10**6, 2, 1_000_000),
         ("gram", 10**6, 8, 200_000), ("sgd", 10**4, 1, 2_000))


def kernels(model: str):
    try:
        from mediocrity.models import specialise
    except ImportError:  # the tree before issue 9: the default model only
        if model != "phase_retrieval":
            raise
        return (importlib.import_module("mediocrity.engines.gram"),
                importlib.import_module("mediocrity.engines.sgd"))
    return (specialise("mediocrity.engines.gram", model),
            specialise("mediocrity.engines.sgd", model))


def ns_per_step(model: str, engine: str, d: int, p: int, nsteps: int, repeats: int) -> float:
    return time_cell(kernels(model), engine, d, p, nsteps, repeats)


def time_cell(mods, engine: str, d: int, p: int, nsteps: int, repeats: int) -> float:
    gram_mod, sgd_mod = mods
    g0 = np.eye(p + 1)
    g0[0, 1:] = g0[1:, 0] = d ** -0.5
    outs = (np.empty(2), np.empty((2, p)), np.empty((1, p + 1, p + 1)))

    def once(n):
        rng = np.random.default_rng(1)
        steps = np.array([0, n], dtype=np.int64)
        if engine == "gram":
            gram_mod.gram_run(g0.copy(), rng, d, 1e-4, 0.0, steps, 0.01, -1, *outs)
        else:
            w, wstar = sgd_mod.embed(g0, d)
            sgd_mod.sgd_run(w, wstar, rng, 1e-4, 0.0, steps, 0.01, -1, *outs)

    once(2)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        once(nsteps)
        best = min(best, time.perf_counter() - t0)
    return best / nsteps * 1e9


def load_before(tree: str):
    """The package `mediocrity` of an old tree, imported as `mediocrity_before`."""
    import re
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    dest = Path(tempfile.mkdtemp(prefix="bench-before-"))
    shutil.copytree(Path(tree) / "mediocrity", dest / "mediocrity_before",
                    ignore=shutil.ignore_patterns("__pycache__", "_models"))
    for path in (dest / "mediocrity_before").rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bmediocrity\.", "mediocrity_before.", text))
    sys.path.insert(0, str(dest))
    return (importlib.import_module("mediocrity_before.engines.gram"),
            importlib.import_module("mediocrity_before.engines.sgd"))


def compare(tree: str, rounds: int, repeats: int) -> None:
    before = load_before(tree)
    after = kernels("phase_retrieval")
    best, ratios = {}, {cell: [] for cell in CELLS}
    for _ in range(rounds):
        for cell in CELLS:  # before and after of a cell back to back: the same load
            pair = {}
            for label, mods in (("before", before), ("after", after)):
                pair[label] = time_cell(mods, *cell, repeats)
                best[label, cell] = min(best.get((label, cell), np.inf), pair[label])
            ratios[cell].append(pair["after"] / pair["before"])
    print(f"# default model, before ({tree}) vs after (this tree): {rounds} rounds, each "
          f"cell timed before then after back to back (best of {repeats} calls each), "
          "ns/step")
    print(f"{'cell':>22} {'best before':>12} {'best after':>11} {'ratio of bests':>15} "
          f"{'median paired ratio':>20} {'paired ratio range':>19}")
    for cell in CELLS:
        b, a = best["before", cell], best["after", cell]
        r = np.array(ratios[cell])
        print(f"{cell[0] + f' d={cell[1]:.0e} p={cell[2]}':>22} {b:12.1f} {a:11.1f} "
              f"{a / b:15.3f} {np.median(r):20.3f} {r.min():9.3f}..{r.max():.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated (default: all)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", default=None, help="old tree: compare the default model")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args(argv)
    if args.before:
        compare(args.before, args.rounds, args.repeats)
        return 0
    try:
        names = mediocrity.models.available()
    except AttributeError:
        names = ("phase_retrieval",)
    if args.models:
        names = tuple(args.models.split(","))
    print(f"# bench_models  mediocrity {mediocrity.__file__}  numba {numba.__version__}  "
          f"{platform.machine()}  {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"{'model':>16} " + " ".join(f"{e}:d={d:.0e},p={p}".rjust(18)
                                        for e, d, p, _ in CELLS))
    for name in names:
        row = [ns_per_step(name, e, d, p, n, args.repeats) for e, d, p, n in CELLS]
        print(f"{name:>16} " + " ".join(f"{v:18.1f}" for v in row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
