"""Property-based fuzzing of every entry point (issue 12): the config schema (and the YAML
loader), `Problem`, `simulate`'s arguments, `exit_time` and the command line.

For any generated input: either it is valid and accepted, or it is refused with one line
naming the field (argument, config key) -- never another exception, a traceback, a hang,
a MemoryError, or a write outside results/.

Deterministic: derandomized (the seed derives from each test), no example database,
bounded examples. Each property runs twice: a fast bounded pass in the default suite, and
a longer exploration marked `fuzz` (`python -m pytest -m fuzz`). At the end of a run, the
number of inputs tried per property (accepted / refused) is printed.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediocrity import Problem, exit_time, simulate
from mediocrity.pipeline.cli import main
from mediocrity.pipeline.config import ConfigError, load_yaml, resolve_config
from mediocrity.problem import NoEscapeWarning

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "workflow"
TRIED: Counter = Counter()

_COMMON = dict(derandomize=True, database=None, deadline=None, print_blob=True,
               suppress_health_check=list(HealthCheck))
FAST = settings(max_examples=60, **_COMMON)
DEEP = settings(max_examples=5000, **_COMMON)
SLOW_EXAMPLE_SECONDS = 30  # one input taking longer counts as a hang


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not TRIED:
        return
    total = sum(n for (_, what), n in TRIED.items() if what == "tried")
    lines = [f"fuzz inputs tried: {total} ("
             + ", ".join(f"{name} {TRIED[(name, 'tried')]}: {TRIED[(name, 'accepted')]} "
                         f"accepted, {TRIED[(name, 'refused')]} refused"
                         for name in sorted({name for name, _ in TRIED})) + ")"]
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def count(name: str, outcome: str) -> None:
    TRIED[(name, "tried")] += 1
    TRIED[(name, outcome)] += 1


def one_line(message: str, limit: int = 1000) -> None:
    assert message and "\n" not in message.strip() and len(message) < limit, message
    assert "Traceback" not in message


# -- values a careless or hostile user might type -----------------------------------------
WORDS = ["", "1e3", "12", "4.0", "true", "null", "results", "results/x", "../x", "/tmp",
         "optimal", "address", "local", "slurm", "tcp://127.0.0.1:8786", "quick", "auto",
         "gram", "sgd", "sde", "fixed", "random", "annealed", "x" * 300, "{}", "[]", "NaN"]
SCALARS = (st.none() | st.booleans()
           | st.integers(min_value=-(2**70), max_value=2**70)
           | st.sampled_from([0, 1, 2, 3, 50, 1000, 10**7, 10**12, 10**13, 2**63, -1])
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([0.0, 1e-300, 1e-3, 0.1, 0.5, 1.0, 4.0, 1e6, 1e30, 1e300])
           | st.text(max_size=12) | st.sampled_from(WORDS))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6) | st.sampled_from(WORDS), inner,
                                        max_size=3), max_leaves=10)

BASE = {"root_seed": 0, "results": "results", "preset": None, "seeds_per_job": 100,
        "experiments": {"T": {"d": [50], "p": [1], "gamma": [0.1], "seeds": 2,
                              "t_max": 0.5}}}
EXP_KEYS = ["description", "d", "p", "gamma", "gamma_over_p", "gamma_over_critical",
            "noise", "seeds", "engines", "init", "init_seed", "threshold", "t_min", "t_max",
            "saves_per_decade", "stop_after", "ode", "model", "sedds"]
PATHS = ([(k,) for k in ("root_seed", "results", "preset", "seeds_per_job",
                         "threads_per_job", "dask", "paper", "experiments", "bogus")]
         + [("dask", k) for k in ("scheduler", "address", "workers", "slurm", "bogus")]
         + [("paper", k) for k in ("n_boot", "bootstrap_seed", "fit_d_min",
                                   "plateau_t_from")]
         + [("experiments", "T", k) for k in EXP_KEYS]
         + [("experiments", "T", k, 0) for k in ("d", "p", "gamma", "noise", "engines")]
         + [("experiments", "bad name/..",), ("experiments", "U")])


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _axis(elements):
    return st.lists(elements, min_size=1, max_size=3, unique=True)


# values of the right kind, near and beyond the bounds: half of the mutations use these, so
# that valid configs (and the checks between keys) are explored too
PLAUSIBLE = {
    "root_seed": st.integers(0, 2**63), "seeds_per_job": st.integers(0, 10**7 + 1),
    "threads_per_job": st.integers(0, 1025), "preset": st.sampled_from([None, "quick"]),
    "results": st.sampled_from(["results", "results/a", "results/a.b/c_d", "results/.x"]),
    "scheduler": st.sampled_from(["local", "address", "slurm"]),
    "address": st.sampled_from([None, "tcp://127.0.0.1:8786", "localhost:8786"]),
    "workers": st.none() | st.integers(0, 10**4 + 1),
    "n_boot": st.integers(0, 10**6 + 1), "bootstrap_seed": st.integers(0, 2**63),
    "fit_d_min": st.none() | _floats(0, 1e13), "plateau_t_from": st.none() | _floats(0, 1e7),
    "d": _axis(st.integers(1, 10**12 + 1)), "p": _axis(st.integers(0, 50)),
    "gamma": _axis(_floats(0, 10) | st.just("optimal")),
    "gamma_over_p": _axis(_floats(0, 10)), "gamma_over_critical": _axis(_floats(0, 2)),
    "noise": _axis(_floats(0, 5)), "seeds": st.integers(0, 10**4),
    "engines": _axis(st.sampled_from(["auto", "sgd", "gram", "sde"])),
    "init": st.sampled_from(["fixed", "random", "annealed"]),
    "init_seed": st.integers(0, 2**63), "threshold": _floats(0, 1),
    "t_min": _floats(1e-12, 10), "t_max": _floats(1e-6, 1e7),
    "saves_per_decade": st.integers(0, 1001), "stop_after": st.none() | _floats(0, 1e9),
    "ode": st.booleans(), "description": st.text(max_size=30),
}


def _set(cfg: dict, path: tuple, value) -> None:
    node = cfg
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {}) if not isinstance(node.get(part), (dict, list)) \
                else node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


@st.composite
def configs(draw):
    cfg = json.loads(json.dumps(BASE))
    mutated = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        plausible = PLAUSIBLE.get(path[-1])
        use = plausible is not None and draw(st.booleans())
        _set(cfg, path, draw(plausible if use else VALUES))
        mutated.append(path)
    explicit = draw(st.sampled_from([None, {}, "mutated"]))
    if explicit == "mutated":
        explicit = {}
        for path in mutated:
            value = cfg.get(path[0])
            explicit[path[0]] = value
    return cfg, mutated, explicit


def check_config(case) -> None:
    cfg, mutated, explicit = case
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolved = resolve_config(cfg, WORKFLOW, explicit)
    except ConfigError as err:
        message = str(err)
        one_line(message)
        assert "config key '" in message or message.startswith(("config", "--config")), message
        named = {str(p[0]) for p in mutated} | {"preset"}
        assert any(n in message for n in named), (message, mutated)
        count("config", "refused")
    else:
        assert resolved["results"].split("/")[0] == "results"
        for key in ("root_seed", "seeds_per_job", "threads_per_job"):
            assert type(resolved[key]) is int
        for exp in resolved["experiments"].values():
            assert type(exp["seeds"]) is int and all(type(d) is int for d in exp["d"])
        count("config", "accepted")
    assert time.perf_counter() - t0 < SLOW_EXAMPLE_SECONDS


@FAST
@given(configs())
def test_config_fast(case):
    check_config(case)


@pytest.mark.fuzz
@DEEP
@given(configs())
def test_config_fuzz(case):
    check_config(case)


# -- YAML text: the loader refuses (ConfigError naming the file) or returns a mapping --------
YAML_PIECES = ["root_seed: 1\n", "root_seed: 2\n", "experiments:\n", "  T: {d: [50]}\n",
               "a: &a [1, 2]\n", "b: [*a, *a, *a]\n", "c: *a\n", "d: *nope\n", "- 1\n",
               "__use_yte__: true\n", "x: ?1 + 1\n", "!!python/object/apply:os.system [ls]\n",
               "t: .nan\n", "t: .inf\n", "\t: tab\n", "'unclosed\n", "{[\n", "k: 1e-4\n",
               "? [1, 2]\n: 3\n", "e: &e\n  f: *e\n", "\x00\n", "---\n", "...\n"]


def check_yaml(text: str, tmp: Path) -> None:
    path = tmp / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        data = load_yaml(path)
    except ConfigError as err:
        one_line(str(err), 2000)
        assert str(path) in str(err)
        count("yaml", "refused")
    else:
        assert isinstance(data, dict)
        count("yaml", "accepted")


@st.composite
def yaml_texts(draw):
    pieces = draw(st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=15), max_size=6))
    return "".join(pieces)


@FAST
@given(yaml_texts())
def test_yaml_loader_fast(tmp_path_factory, text):
    check_yaml(text, tmp_path_factory.getbasetemp())


@pytest.mark.fuzz
@DEEP
@given(yaml_texts())
def test_yaml_loader_fuzz(tmp_path_factory, text):
    check_yaml(text, tmp_path_factory.getbasetemp())


# -- Problem ------------------------------------------------------------------------------
FIELDS = ["d", "p", "gamma", "noise", "threshold", "t_max", "t_min", "saves_per_decade",
          "stop_after", "activation", "spherical", "model"]
NUMBERISH = (SCALARS | st.sampled_from([np.int64(7), np.float32(0.5), np.float64(1e-3),
                                        np.bool_(True), 10**12, 10**12 + 1, 2.0**53]))


VALID_FIELDS = {
    "d": st.integers(2, 10**12), "p": st.integers(1, 100), "gamma": _floats(1e-6, 100),
    "noise": _floats(0, 10), "threshold": _floats(1e-6, 0.999999),
    "t_min": _floats(1e-12, 10), "t_max": _floats(1e-6, 1e7),
    "saves_per_decade": st.integers(1, 1000), "stop_after": st.none() | _floats(0, 1e300),
    "activation": st.just("square"), "spherical": st.just(True),
    "model": st.sampled_from(["phase_retrieval", "abs", "he3", "he4", "relu"]),
}


@st.composite
def problem_kwargs(draw):
    kwargs = {}
    extra = draw(st.lists(st.sampled_from(FIELDS[3:]), max_size=5, unique=True))
    for name in ["d", "p", "gamma", *extra]:
        valid = draw(st.integers(0, 4)) > 0  # mostly valid values, one in five anything
        kwargs[name] = draw(VALID_FIELDS[name] if valid else NUMBERISH)
    return kwargs


def check_problem(kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoEscapeWarning)
        try:
            problem = Problem(**kwargs)
        except ValueError as err:
            message = str(err)
            one_line(message)
            # names the field; a cross-field bound (t_max > t_min) names both
            assert message.startswith("Problem.") and any(f in message for f in kwargs), \
                message
            count("Problem", "refused")
            return
    assert type(problem.d) is int and type(problem.p) is int
    grid = problem.time_grid()
    assert grid.size <= 1000 * 16 + 2 and np.isfinite(grid).all()
    try:
        steps = problem.save_steps()
    except ValueError as err:
        assert str(err).startswith("Problem.t_max = "), err
    else:
        assert steps.dtype == np.int64 and (np.diff(steps) >= 0).all() and steps[0] >= 0
        assert problem.stop_after_steps() <= 2**53
    count("Problem", "accepted")


@FAST
@given(problem_kwargs())
def test_problem_fast(kwargs):
    check_problem(kwargs)


@pytest.mark.fuzz
@DEEP
@given(problem_kwargs())
def test_problem_fuzz(kwargs):
    check_problem(kwargs)


# -- simulate's arguments -----------------------------------------------------------------
ARGS = ("seeds", "root_seed", "init_seed", "save_q", "engine", "init", "scheduler",
        "problem", "Problem.")
SEEDS = (st.integers(-3, 4) | st.lists(st.integers(-2, 6), max_size=4)
         | st.tuples(st.integers(0, 3)) | st.just(range(2)) | st.just(np.arange(2))
         | st.just(np.zeros((2, 2), int)) | SCALARS)
INITS = (st.sampled_from(["random", "fixed", "annealed", "zero", ""])
         | st.tuples(st.just(np.full((2, 1), 0.1)), st.just(np.eye(2)))
         | st.tuples(st.just([[0.1]]), st.just([[1.0]]))
         | st.tuples(st.just([[2.0]]), st.just([[1.0]]))
         | st.tuples(st.just([[float("nan")]]), st.just([[1.0]])) | SCALARS)


@st.composite
def simulate_calls(draw):
    problem = dict(d=draw(st.integers(2, 200)), p=draw(st.integers(1, 3)),
                   gamma=draw(st.floats(0.01, 5.0)), noise=draw(st.sampled_from([0.0, 0.1])),
                   t_max=draw(st.floats(0.002, 0.3)), t_min=1e-3,
                   saves_per_decade=draw(st.integers(1, 10)),
                   stop_after=draw(st.none() | st.floats(0, 1)))
    def mostly(valid, anything):
        return draw(valid if draw(st.integers(0, 3)) > 0 else anything)

    engines = st.sampled_from(["gram", "sgd", "auto", "sde", "ode", "ode_largep"])
    kwargs = {"engine": mostly(engines, SCALARS | st.just("nope")),
              "seeds": mostly(st.integers(1, 3) | st.lists(st.integers(0, 5), min_size=1,
                                                           max_size=3, unique=True), SEEDS),
              "init": mostly(st.sampled_from(["random", "fixed", "annealed"]), INITS),
              "scheduler": mostly(st.just("sync"), st.sampled_from([None, "bogus", 3]))}
    for name in draw(st.lists(st.sampled_from(["root_seed", "init_seed", "save_q"]),
                              max_size=3, unique=True)):
        valid = st.booleans() if name == "save_q" else st.integers(0, 2**63 - 1)
        kwargs[name] = mostly(valid, NUMBERISH)
    return problem, kwargs


def check_simulate(case) -> None:
    fields, kwargs = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = Problem(**fields)
        t0 = time.perf_counter()
        try:
            ds = simulate(problem, **kwargs)
        except (ValueError, TypeError) as err:
            message = str(err)
            one_line(message)
            assert message.startswith(ARGS), (message, kwargs)
            count("simulate", "refused")
        else:
            assert isinstance(ds, xr.Dataset) and "risk" in ds
            count("simulate", "accepted")
    assert time.perf_counter() - t0 < SLOW_EXAMPLE_SECONDS


@FAST
@given(simulate_calls())
def test_simulate_fast(case):
    check_simulate(case)


@pytest.mark.fuzz
@DEEP
@given(simulate_calls())
def test_simulate_fuzz(case):
    check_simulate(case)


# -- exit_time ------------------------------------------------------------------------------
@st.composite
def exit_time_calls(draw):
    n = draw(st.integers(0, 6))
    kind = draw(st.sampled_from(["float"] * 4 + ["int", "bool", "str", "numpy"]))
    values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.just(0.0),
                           min_size=n, max_size=n))
    times = draw(st.sampled_from(["increasing"] * 4 + ["any", "none", "text"]))
    if times == "increasing":
        t = np.cumsum(np.abs(draw(st.lists(st.floats(1e-3, 10), min_size=n, max_size=n))))
    elif times == "any":
        t = np.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)))
    else:
        t = np.array([str(k) for k in range(n)])
    dim = draw(st.sampled_from(["t"] * 4 + ["time", 3, None]))
    data = np.array(values, dtype=float)
    if kind == "int":
        data = np.clip(np.nan_to_num(data, posinf=1, neginf=-1), -1e18, 1e18).astype(np.int64)
    elif kind == "bool":
        data = data > 0
    elif kind == "str":
        data = data.astype(str)
    if kind == "numpy":
        risk = data
    else:
        coords = {} if times == "none" else {"t": t}
        risk = xr.DataArray(data, dims="t", coords=coords)
    threshold = draw(st.floats(0.001, 0.999) if draw(st.integers(0, 3)) else SCALARS)
    return risk, threshold, dim


def check_exit_time(case) -> None:
    risk, threshold, dim = case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = exit_time(risk, threshold, dim=dim)
    except ValueError as err:
        message = str(err)
        one_line(message)
        assert message.startswith(("risk", "threshold", "dim")), message
        count("exit_time", "refused")
    else:
        value = float(out)
        t = risk[dim].values
        assert math.isnan(value) or t[0] <= value <= t[-1]
        count("exit_time", "accepted")


@FAST
@given(exit_time_calls())
def test_exit_time_fast(case):
    check_exit_time(case)


@pytest.mark.fuzz
@DEEP
@given(exit_time_calls())
def test_exit_time_fuzz(case):
    check_exit_time(case)


# -- the command line ------------------------------------------------------------------------
SPEC = {"experiment": "T", "engine": "gram", "d": 50, "p": 1, "gamma": 0.1, "noise": 0.0,
        "seeds": [0, 2], "root_seed": 0, "init": "random", "init_seed": 0,
        "threshold": 0.01, "t_min": 0.001, "t_max": 0.02, "saves_per_decade": 5,
        "stop_after": None}
COMMANDS = [["escape", "run-cell"], ["escape", "ode"], ["escape", "merge"], ["escape", "exit-times"],
            ["status"], ["paper", "figure"], ["margins", "run-cell"],
            ["paper", "fits"], ["paper", "summary"], ["paper"], ["info"], ["bogus"], []]
FLAGS = ["--spec", "--out", "--threads", "--dask", "--attrs", "--engines", "--sweep", "--ode",
         "--configfile", "--config", "--cores", "--workflow-dir", "--stem", "--stores",
         "--fits", "--t-from", "--exit-times", "--csv", "--netcdf", "--tex", "--n-boot",
         "--bootstrap-seed", "--d-min", "--allow-outside-results", "-h"]
OUTSIDE = "../outside-of-sandbox"
TOKENS = ["", "results/x.zarr", "results/T/cell.zarr", "results", "results/", "results/..",
          "results/../mine", "mine", "mine/keep.txt", "notes.txt", OUTSIDE, "/", "{}",
          "{bad", "[1]", "null", '{"scheduler": "address"}', '{"scheduler": "local"}',
          '{"scheduler": "nope"}', "0", "-1", "1", "1e3", "nan", "inf", "F1", "F3",
          "results/F1/sweep.zarr", "results/T/cell.zarr", "preset=quick", "experiments={}",
          "root_seed=1e3", "x" * 300, "config.yaml", str(WORKFLOW), "\x7f", "é"]


@st.composite
def argvs(draw):
    argv = list(draw(st.sampled_from(COMMANDS)))
    if argv[:1] == ["paper"] and len(argv) == 2 and argv[1] == "figure":
        argv.append(draw(st.sampled_from(["F1", "F3", "F9", ""])))
    for _ in range(draw(st.integers(0, 7))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            argv.append(draw(st.sampled_from(FLAGS)))
        elif choice == 1:
            argv.append(draw(st.sampled_from(TOKENS)))
        elif choice == 2:
            spec = dict(SPEC)
            spec[draw(st.sampled_from([*sorted(SPEC), "extra"]))] = draw(SCALARS)
            argv += ["--spec", json.dumps(spec)]
        else:
            argv += [draw(st.sampled_from(FLAGS)), draw(st.text(max_size=8)
                                                        | st.sampled_from(TOKENS))]
    if argv[:2] == ["escape", "run-cell"] and draw(st.booleans()):
        argv += ["--spec", json.dumps(SPEC)]
    return argv


def _snapshot(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not str(p.relative_to(root)).startswith("results")}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-sandbox") / "work"
    (root / "results").mkdir(parents=True)
    (root / "notes.txt").write_text("precious\n")
    (root / "mine").mkdir()
    (root / "mine" / "keep.txt").write_text("keep\n")
    (root / "config.yaml").write_text(json.dumps(BASE))
    return root


def check_cli(argv: list[str], root: Path, capsys) -> None:
    before = _snapshot(root)
    t0 = time.perf_counter()
    with contextlib.chdir(root), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: usage errors and -h
            code = exit_.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out, (argv, out.err)
    assert code in (0, 1, 2, 130, None) or isinstance(code, str), (argv, code)
    if code not in (0, None):
        assert out.err.strip() or isinstance(code, str), argv
    assert time.perf_counter() - t0 < SLOW_EXAMPLE_SECONDS, argv
    assert _snapshot(root) == before, (argv, _snapshot(root) ^ before)
    assert (root / "notes.txt").read_text() == "precious\n"
    assert (root / "mine" / "keep.txt").read_text() == "keep\n"
    assert not (root.parent / "outside-of-sandbox").exists()
    count("cli", "accepted" if code in (0, None) else "refused")


@FAST
@given(argvs())
def test_cli_fast(sandbox, capsys, argv):
    check_cli(argv, sandbox, capsys)


@pytest.mark.fuzz
@DEEP
@given(argvs())
def test_cli_fuzz(sandbox, capsys, argv):
    check_cli(argv, sandbox, capsys)
