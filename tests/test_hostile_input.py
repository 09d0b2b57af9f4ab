"""Issue 12, "hostile and careless input": every case the issue lists, as a regression test.

Nothing is destroyed, nothing hangs, and every refusal is one line naming the argument or
config key, its value (truncated when long) and what is allowed; the command line answers
with a message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mediocrity import Problem, exit_time, simulate
from mediocrity.pipeline.cli import main
from mediocrity.pipeline.cli import overrides as _overrides
from mediocrity.pipeline.config import ConfigError, load_config, load_yaml, resolve_config

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "workflow"
TINY = {"experiments": {"T": {"d": [50], "p": [1], "gamma": [0.1], "seeds": 2}}}
SPEC = {"experiment": "T", "engine": "gram", "d": 50, "p": 1, "gamma": 0.1, "noise": 0.0,
        "seeds": [0, 2], "root_seed": 0, "init": "random", "init_seed": 0,
        "threshold": 0.01, "t_min": 0.001, "t_max": 0.05, "saves_per_decade": 10,
        "stop_after": None}


def tiny(**exp) -> dict:
    return {"experiments": {"T": {**TINY["experiments"]["T"], **exp}}}


def refused(cfg: dict, *words: str, explicit=None) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config(cfg, WORKFLOW, explicit)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    for word in words:
        assert word in message, (word, message)
    return message


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory with results/ and a user's files next to it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "notes.txt").write_text("precious\n")
    (tmp_path / "mydir").mkdir()
    (tmp_path / "mydir" / "data.csv").write_text("1,2,3\n")
    return tmp_path


def cli(capsys, *argv) -> tuple[int, str]:
    """Run the command line in this process: (exit status, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code if isinstance(exit_.code, int) else 1
        if not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


# -- data loss and hangs -----------------------------------------------------------------
def test_run_cell_refuses_an_existing_directory_of_the_user(sandbox, capsys):
    (sandbox / "results" / "mine").mkdir()
    (sandbox / "results" / "mine" / "thesis.tex").write_text("years of work\n")
    code, err = cli(capsys, "escape", "run-cell", "--spec", json.dumps(SPEC), "--out", "results/mine")
    assert code != 0 and "--out" in err and "not a store of mediocrity" in err
    assert (sandbox / "results" / "mine" / "thesis.tex").read_text() == "years of work\n"


def test_run_cell_refuses_an_existing_file_and_renames_nothing(sandbox, capsys):
    (sandbox / "results" / "table.csv").write_text("a,b\n")
    code, err = cli(capsys, "escape", "run-cell", "--spec", json.dumps(SPEC), "--out",
                    "results/table.csv")
    assert code != 0 and "existing file" in err
    assert sorted(p.name for p in (sandbox / "results").iterdir()) == ["table.csv"]


@pytest.mark.parametrize("out", ["notes.txt", "mydir", "/tmp/elsewhere.zarr",
                                 "results/../mydir", "results", ""])
def test_run_cell_out_outside_results_is_refused(sandbox, capsys, out):
    code, err = cli(capsys, "escape", "run-cell", "--spec", json.dumps(SPEC), "--out", out)
    assert code != 0 and "--out" in err
    assert (sandbox / "notes.txt").read_text() == "precious\n"
    assert (sandbox / "mydir" / "data.csv").exists()
    assert not Path("/tmp/elsewhere.zarr").exists()


def test_run_cell_writes_a_store_and_may_replace_its_own(sandbox, capsys):
    for _ in range(2):  # the second run replaces the first store: it is one of ours
        code, _ = cli(capsys, "escape", "run-cell", "--spec", json.dumps(SPEC), "--out",
                      "results/T/cell.zarr")
        assert code == 0
    assert xr.open_zarr(sandbox / "results/T/cell.zarr").risk.shape[0] == 2


def test_write_atomic_refuses_to_replace_what_it_did_not_write(tmp_path):
    from mediocrity.pipeline.stores import write_atomic

    user = tmp_path / "mine"
    user.mkdir()
    (user / "f").write_text("x")
    with pytest.raises(ValueError, match="not a store of mediocrity"):
        write_atomic(xr.Dataset({"a": ("i", [1.0])}), user)
    assert (user / "f").read_text() == "x"


@pytest.mark.parametrize("t_max", [1.0e300, 1.0e30])
def test_huge_t_max_is_refused_before_any_step(t_max):
    refused(tiny(t_max=t_max), "experiments.T.t_max", "maximum")
    with pytest.raises(ValueError, match=r"Problem\.t_max") as info:
        simulate(Problem(d=1000, p=1, gamma=0.1, t_max=t_max), engine="gram")
    assert "SGD steps" in str(info.value) or "t_min" in str(info.value)


def test_step_counts_never_wrap_around_int64():
    problem = Problem(d=10**12, p=1, gamma=1e-3, t_max=1e5, t_min=1e-3)
    with pytest.raises(ValueError, match=r"Problem\.t_max .*SGD steps"):
        problem.save_steps()
    with pytest.raises(ValueError, match=r"Problem\.t_max"):
        simulate(problem, engine="gram")
    ok = Problem(d=1000, p=1, gamma=0.1, t_max=10.0)
    assert (np.diff(ok.save_steps()) >= 0).all() and ok.save_steps()[0] == 0


@pytest.mark.parametrize("d", [10**30, 10**13])
def test_absurd_d_is_refused(d):
    with pytest.raises(ValueError, match=r"Problem\.d = 1000"):
        Problem(d=d, p=1, gamma=0.1)
    refused(tiny(d=[d]), "experiments.T.d[0]", "maximum")


def test_huge_seed_counts_are_refused_fast_without_allocating():
    t0 = time.perf_counter()
    refused(tiny(seeds=10**12), "experiments.T.seeds", "maximum")
    with pytest.raises(ValueError, match="seeds = 1000000000000: allowed a count"):
        simulate(Problem(d=50, p=1, gamma=0.1, t_max=0.01), engine="gram", seeds=10**12)
    with pytest.raises(ValueError, match=r"seeds = 2000000 with p = 100.*GiB"):
        simulate(Problem(d=500, p=100, gamma=0.01, t_max=10.0), engine="gram",
                 seeds=2_000_000, save_q=True)
    assert time.perf_counter() - t0 < 5


def test_a_yaml_anchor_bomb_is_refused_with_a_short_message(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, 9):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]")
    bomb = "\n".join(f"  {line}" for line in lines)
    path = tmp_path / "bomb.yaml"
    path.write_text(f"experiments:\n  T:\n    d: [50]\n    p: [1]\n    gamma: [0.1]\n"
                    f"    seeds: 2\n    description:\n{bomb.replace('  a', '      - ')}\n")
    text = path.read_text()
    assert len(text) < 2000
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert "more than" in str(info.value) and len(str(info.value)) < 400
    # the same structure handed over by Snakemake (already loaded): refused as fast
    import yaml

    with pytest.raises(ConfigError) as info:
        resolve_config(yaml.safe_load(text), WORKFLOW)
    assert len(str(info.value)) < 400 and time.perf_counter() - t0 < 5


def test_a_self_referencing_yaml_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("experiments: &e\n  T: *e\n")
    with pytest.raises(ConfigError, match="nested more than"):
        load_yaml(path)


def _interrupt(args: list[str]) -> tuple[int, float]:
    code = ("import sys, mediocrity\n"
            "pr = mediocrity.Problem(d=10**6, p=1, gamma=0.1, t_max=1000.0)\n"
            "print('start', flush=True)\n"
            f"mediocrity.simulate(pr, engine={args[0]!r}, seeds=2, scheduler={args[1]!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "start"
    time.sleep(1.5)  # inside the kernels (a run is ~5 minutes long)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, time.perf_counter() - t0


@pytest.mark.parametrize("engine,scheduler", [
    ("gram", "threads"), pytest.param("sgd", "sync", marks=pytest.mark.slow)])
def test_ctrl_c_stops_a_long_kernel(engine, scheduler):
    code, seconds = _interrupt([engine, scheduler])
    assert code != 0 and seconds < 15


@pytest.mark.parametrize("engine,p,d", [("gram", 1, 1000), ("gram", 3, 1000), ("sgd", 2, 40),
                                        ("sde", 2, 1000)])
def test_chunked_kernels_are_bit_identical_to_one_call(engine, p, d, monkeypatch):
    from mediocrity import engines
    from mediocrity.engines import sde

    problem = Problem(d=d, p=p, gamma=0.1, noise=0.01, t_max=0.5, stop_after=0.2)
    whole = simulate(problem, engine=engine, seeds=2, scheduler="sync")
    monkeypatch.setattr(engines, "chunk_steps", lambda *a: 7)  # absurdly small chunks
    monkeypatch.setattr(sde, "CHUNK_SECONDS", 3e-6)
    chunked = simulate(problem, engine=engine, seeds=2, scheduler="sync")
    for name in ("risk", "m", "q"):
        np.testing.assert_array_equal(whole[name].values, chunked[name].values)


# -- silently doing something else -------------------------------------------------------
def test_an_explicit_results_wins_over_the_preset():
    overrides = _overrides(["preset=quick", "results=results/mine"])
    cfg = load_config(ROOT / "config.yaml", WORKFLOW, overrides)
    assert cfg["results"] == "results/mine"
    assert load_config(ROOT / "config.yaml", WORKFLOW, _overrides(["preset=quick"]))[
        "results"] == "results/quick"
    # not knowing what was explicit, a conflicting results is refused, never overridden
    shipped = load_yaml(ROOT / "config.yaml")
    refused({**shipped, "preset": "quick", "results": "results/mine"}, "conflicts with preset")


def test_config_experiments_empty_mapping_on_the_command_line_is_refused(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(TINY))
    overrides = _overrides(["experiments={}"])
    assert overrides == {"experiments": {}}  # as Snakemake parses it
    with pytest.raises(ConfigError, match=r"'experiments' = \{\} \(from --config\)"):
        load_config(config, WORKFLOW, overrides)


@pytest.mark.parametrize("key,value", [("root_seed", 1e3), ("root_seed", True),
                                       ("seeds_per_job", 4.0), ("threads_per_job", "2")])
def test_integer_keys_take_integers_only(key, value):
    refused({**TINY, key: value}, f"'{key}'")


def test_config_root_seed_1e3_from_the_command_line_is_refused(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(TINY))
    with pytest.raises(ConfigError, match=r"'root_seed' = 1000\.0: must be an integer"):
        load_config(config, WORKFLOW, _overrides(["root_seed=1e3"]))


@pytest.mark.parametrize("value", [4.0, True, "4"])
def test_seeds_must_be_an_integer(value):
    refused(tiny(seeds=value), "experiments.T.seeds")


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("root_seed: 1\nexperiments:\n  T: {d: [50], p: [1], gamma: [0.1], "
                    "seeds: 2}\nroot_seed: 2\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'root_seed' \(lines 1 and 4\)"):
        load_yaml(path)


def test_yte_templates_are_not_run_and_are_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "yte.yaml"
    path.write_text(f"__use_yte__: true\nroot_seed: ?__import__('pathlib').Path("
                    f"'{marker}').write_text('x')\n")
    with pytest.raises(ConfigError, match="YTE templates"):
        load_yaml(path)
    assert not marker.exists()


@pytest.mark.parametrize("kwargs,words", [
    ({"seeds": "12"}, "seeds = '12'"),
    ({"seeds": [0.9, 1.7]}, "seeds = [0.9, 1.7]"),
    ({"seeds": [True, 1]}, "seeds"),
    ({"root_seed": 1.7}, "root_seed = 1.7"),
    ({"root_seed": "7"}, "root_seed = '7'"),
    ({"root_seed": True}, "root_seed = True"),
    ({"root_seed": -1}, "root_seed = -1"),
    ({"root_seed": None}, "root_seed = None"),
    ({"init_seed": -5}, "init_seed = -5"),
    ({"save_q": "no"}, "save_q = 'no'"),
    ({"engine": "fast"}, "engine = 'fast'"),
    ({"init": "zero"}, "init = 'zero'"),
    ({"scheduler": "cluster"}, "scheduler = 'cluster'"),
])
def test_simulate_refuses_careless_arguments_naming_them(kwargs, words):
    problem = Problem(d=50, p=1, gamma=0.1, t_max=0.01)
    with pytest.raises(ValueError) as info:
        simulate(problem, **{"engine": "gram", **kwargs})
    assert words in str(info.value) and "allowed" in str(info.value)


def _risk(t, values, **coords):
    return xr.DataArray(np.asarray(values, float), dims="t", coords={"t": t, **coords})


def test_exit_time_refuses_decreasing_missing_or_empty_times():
    with pytest.raises(ValueError, match=r"risk\['t'\].*strictly increasing"):
        exit_time(_risk([1.0, 0.5, 0.1], [1.0, 0.5, 0.1]))
    with pytest.raises(ValueError, match="no coordinate"):
        exit_time(xr.DataArray([1.0, 0.5, 0.1], dims="t"))
    with pytest.raises(ValueError, match="at least two"):
        exit_time(_risk(np.array([]), []))
    with pytest.raises(ValueError, match=r"risk = array.*xarray.DataArray"):
        exit_time(np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match=r"threshold = '0\.1'"):
        exit_time(_risk([0.0, 1.0], [1.0, 0.5]), threshold="0.1")
    with pytest.raises(ValueError, match="threshold = True"):
        exit_time(_risk([0.0, 1.0], [1.0, 0.5]), threshold=True)


def test_exit_time_of_an_all_zero_risk_is_nan():
    assert np.isnan(float(exit_time(_risk([0.0, 1.0, 2.0], [0.0, 0.0, 0.0]))))
    assert np.isnan(float(exit_time(_risk([0.0, 1.0, 2.0], [-1.0, -2.0, -3.0]))))
    assert float(exit_time(_risk([0.0, 1.0, 2.0], [1.0, 1.0, 0.0]), 0.5)) == 1.5


def test_dask_address_scheduler_needs_an_address(sandbox, capsys):
    refused({**TINY, "dask": {"scheduler": "address"}}, "dask.address", "missing")
    refused({**TINY, "dask": {"scheduler": "address", "address": "not an address"}},
            "dask.address", "tcp://127.0.0.1:8786")
    code, err = cli(capsys, "escape", "run-cell", "--spec", json.dumps(SPEC), "--out",
                    "results/x.zarr", "--dask", '{"scheduler": "address"}')
    assert code != 0 and "dask.address" in err


# -- tracebacks instead of messages ------------------------------------------------------
MISUSES = [
    ["escape", "run-cell", "--spec", "{bad json", "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", "{}", "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", "[1, 2]", "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", json.dumps({**SPEC, "d": "50"}), "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", json.dumps({**SPEC, "t_max": 1e300}), "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", json.dumps({**SPEC, "seeds": [5, 2]}), "--out", "results/x.zarr"],
    ["escape", "run-cell", "--spec", json.dumps(SPEC), "--out", "results/x.zarr", "--threads", "0"],
    ["escape", "run-cell", "--spec", json.dumps(SPEC), "--out", "results/x.zarr", "--threads", "x"],
    ["escape", "run-cell", "--spec", json.dumps(SPEC), "--out", "results/x.zarr", "--dask",
     '{"scheduler": "nope"}'],
    ["escape", "run-cell", "--spec", json.dumps(SPEC), "--out", "results/x.zarr", "--dask", "nope"],
    ["escape", "run-cell", "--spec", json.dumps(SPEC), "--out", ""],
    ["escape", "ode", "--spec", "{}", "--attrs", "{}", "--out", "results/o.zarr"],
    ["escape", "ode", "--spec", json.dumps({"experiment": "T", "root_seed": 0, "d": [50], "p": [1],
                                  "gamma": [-1]}), "--attrs", "{}", "--out", "results/o.zarr"],
    ["status", "--configfile", "nope.yaml"],
    ["status", "--config", "novalue"],
    ["status", "--cores", "0"],
    ["escape", "merge", "--attrs", "{}", "--out", "results/s.zarr", "results/missing.zarr"],
    ["escape", "merge", "--attrs", "{oops", "--out", "results/s.zarr", "results/missing.zarr"],
    ["escape", "exit-times", "--sweep", "results/missing.zarr", "--out", "results/e.zarr"],
    ["paper", "fits", "--exit-times", "results/F3/exit_times.zarr", "--csv", "results/a.csv",
     "--netcdf", "results/a.nc", "--tex", "results/a.tex"],
    ["paper", "figure", "F1", "--stem", "results/F1", "--stores", "results/F1/sweep.zarr"],
    ["paper", "summary", "--out", "results/s.nc", "--stores", "results/F1/sweep.zarr"],
    ["paper", "fits", "--exit-times", "x", "--csv", "a", "--netcdf", "b", "--tex", "c",
     "--n-boot", "0"],
    ["paper", "nonsense"],
    ["no-such-command"],
]


@pytest.mark.parametrize("argv", MISUSES, ids=[" ".join(a)[:60] for a in MISUSES])
def test_cli_misuse_is_a_message_and_a_nonzero_exit(sandbox, capsys, argv):
    code, err = cli(capsys, *argv)
    assert code != 0
    assert err.strip(), "a message"
    assert list((sandbox / "results").iterdir()) == []  # nothing written


def test_debug_shows_the_traceback(sandbox, capsys):
    with pytest.raises(ValueError):
        main(["--debug", "escape", "exit-times", "--sweep", "results", "--out", "results/e.zarr"])
    code, err = cli(capsys, "escape", "exit-times", "--sweep", "results", "--out", "results/e.zarr")
    assert code == 2 and "--debug" in err


def test_cli_subprocess_prints_no_traceback(sandbox):
    out = subprocess.run([sys.executable, "-m", "mediocrity", "escape", "run-cell", "--spec",
                          "{bad", "--out", "results/x.zarr"], capture_output=True, text=True,
                         timeout=120, cwd=sandbox)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "--spec = '{bad'" in out.stderr


def test_the_old_spelling_of_the_escape_steps_still_works_with_a_note(sandbox, capsys):
    code, err = cli(capsys, "run-cell", "--spec", json.dumps(SPEC), "--out", "results/c.zarr")
    assert code == 0 and (sandbox / "results" / "c.zarr" / ".zmetadata").is_file()
    assert "mediocrity run-cell: deprecated, use `mediocrity escape run-cell`" in err


@pytest.mark.parametrize("results", ["../elsewhere", "/tmp/x", "results/../../x", "out",
                                     "results//x y"])
def test_bad_results_path_gets_the_documented_message(results):
    refused({**TINY, "results": results}, "must be 'results' or a sub-directory of it")


def test_long_values_are_truncated_in_messages():
    message = refused({**TINY, "root_seed": "x" * 100_000}, "root_seed")
    assert len(message) < 400
    with pytest.raises(ValueError) as info:
        simulate(Problem(d=50, p=1, gamma=0.1, t_max=0.01), seeds=list(range(10**5)) * 2)
    assert len(str(info.value)) < 400


def test_outputs_may_go_next_to_inputs_only_in_a_results_tree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = json.dumps(SPEC)
    for tree in ("results", "data"):  # a results tree elsewhere, and a non-results one
        cell = tmp_path / "elsewhere" / tree / "T" / "cells" / "gram" / "c.zarr"
        assert cli(capsys, "escape", "run-cell", "--spec", spec, "--out", str(cell),
                   "--allow-outside-results")[0] == 0
        out = tmp_path / "elsewhere" / tree / "T" / "sweep.zarr"
        code, err = cli(capsys, "escape", "merge", "--attrs", '{"threshold": 0.01}', "--out", str(out),
                        str(cell))
        assert (code == 0) == (tree == "results"), err
        assert out.exists() == (tree == "results")


@pytest.mark.parametrize("extra", [{"dask": {"\n": None}}, {1: 2}, {"x" * 10_000: 1},
                                   {"a": 1, "b": 2, "c": 3, "d\n": 4, "e": 5}])
def test_odd_key_names_keep_messages_on_one_short_line(extra):
    """Found by the fuzz suite: a key with a newline (or 10 000 characters, or an int)
    was written raw into the message."""
    refused({**TINY, **extra}, "is not a known key")


# -- the same cases through snakemake itself (dry runs on the shipped config) ------------
@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from test_pipeline import make_workflow

    where = make_workflow(tmp_path_factory.mktemp("hostile") / "w", None)
    (where / "dup.yaml").write_text("root_seed: 1\nroot_seed: 2\nexperiments:\n"
                                    "  T: {d: [50], p: [1], gamma: [0.1], seeds: 2}\n")
    return where


@pytest.mark.parametrize("args, words", [
    (["--config", "experiments={}"], "'experiments' = {} (from --config)"),
    (["--configfile", "dup.yaml"], "duplicate key 'root_seed' (lines 1 and 2)"),
    (["--config", "root_seed=1e3"], "'root_seed' = 1000.0: must be an integer"),
    (["--config", "dask={scheduler: address}"], "dask.address"),
])
def test_snakemake_refuses_careless_config_before_any_job(pipeline, args, words):
    from test_pipeline import snakemake

    out = snakemake(pipeline, "-n", "--cores", "1", *args, check=False)
    assert words in out
    assert "Job stats" not in out
    assert not (pipeline / "results").exists()


def test_snakemake_keeps_an_explicit_results_with_a_preset(pipeline):
    from test_pipeline import snakemake

    out = snakemake(pipeline, "-n", "--cores", "1", "--config", "preset=quick",
                    "results=results/mine")
    assert "results/mine/F1/" in out and "results/quick/" not in out
