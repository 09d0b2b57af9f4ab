"""The margins study in the pipeline: config checks naming the key, cells and specs,
paired random streams, bit-identical reruns, the cell -> sweep -> summary stores and the
`mediocrity margins` commands."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mediocrity.pipeline.cli import main
from mediocrity.pipeline.config import ConfigError, load_config, load_yaml, resolve_config
from mediocrity.engines import registry
from mediocrity.pipeline.cells import CellIndex
from mediocrity.studies.margins import engines as margins_engines
from mediocrity.studies.margins import sweep
from mediocrity.studies.margins.problem import MarginProblem
from mediocrity.studies.margins.simulate import seed_sequence, simulate
from mediocrity.studies.margins.train import prepare_run

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflow"
TINY = {"data": "parity", "d": [6], "m": [8], "n": [20, 40], "seeds": 2, "t_max": 10.0,
        "saves_per_decade": 2}


def config_with(**margins) -> dict:
    raw = load_yaml(ROOT / "config.yaml")
    raw["margins"] = margins
    return raw


def test_default_and_quick_configs_have_M1_to_M5():
    for overrides in ({}, {"preset": "quick"}):
        cfg = load_config(ROOT / "config.yaml", WORKFLOW, overrides)
        assert list(cfg["margins"]) == ["M1", "M2", "M3", "M4", "M5"]


@pytest.mark.parametrize("change, key", [
    ({"data": "xor"}, "margins.X.data"),
    ({"m": [7]}, "margins.X.m"),
    ({"k": [2]}, "margins.X.k"),  # k only for the collapse data
    ({"engines": ["gram"]}, "margins.X.engines"),
    ({"t_max": 0.05}, "margins.X.t_max"),
    ({"step": {"gf": -1.0}}, "margins.X.step"),
    ({"max_steps": 0}, "margins.X.max_steps"),
    ({"references": ["svm"]}, "margins.X.references"),
    ({"n": [10**7]}, "margins.X.n"),
    ({"colour": 1}, "margins.X"),
])
def test_bad_margins_values_are_refused_naming_the_key(change, key):
    raw = config_with(X={**TINY, **change})
    with pytest.raises(ConfigError) as err:
        resolve_config(raw, WORKFLOW)
    assert f"'{key}" in str(err.value), str(err.value)


def test_collapse_needs_k_and_separation_and_k_at_most_d():
    base = {**TINY, "data": "collapse", "d": [4]}
    with pytest.raises(ConfigError, match=r"'margins\.X\.k'"):
        resolve_config(config_with(X=base), WORKFLOW)
    with pytest.raises(ConfigError, match=r"'margins\.X\.k'.*k <= d"):
        resolve_config(config_with(X={**base, "k": [8], "separation": [5.0]}), WORKFLOW)
    cfg = resolve_config(config_with(X={**base, "k": [2, 4], "separation": [5.0]}), WORKFLOW)
    assert len(sweep.experiment_cells(cfg, "X")) == 2 * 2


def test_margins_names_must_differ_from_the_escape_experiments():
    with pytest.raises(ConfigError, match=r"'margins\.F1'.*also an experiment"):
        resolve_config(config_with(F1=TINY), WORKFLOW)


def test_engine_records_of_the_study_and_the_schema_agree():
    assert margins_engines.names() == ("gf", "sgd")
    assert "gf" not in registry.names()  # the committees' engines are unchanged
    schema = load_yaml(Path(margins_engines.__file__).with_name("schema.yaml"))
    enum = schema["$defs"]["margins_experiment"]["properties"]["engines"]["items"]["enum"]
    assert tuple(enum) == margins_engines.names()


def test_problem_errors_name_the_field():
    with pytest.raises(ValueError, match=r"MarginProblem\.m = 3"):
        MarginProblem(data="parity", d=4, m=3, n=10)
    with pytest.raises(ValueError, match=r"MarginProblem\.k"):
        MarginProblem(data="collapse", d=4, m=4, n=10)
    with pytest.raises(ValueError, match=r"MarginProblem\.engine"):
        MarginProblem(data="parity", d=4, m=4, n=10, engine="adam")


def test_cell_paths_round_trip_through_the_wildcards():
    cfg = resolve_config(config_with(X={**TINY, "engines": ["gf", "sgd"]}), WORKFLOW)
    pattern = re.compile(sweep.SIM_PATTERN.replace(".", r"\.").replace("{", "(?P<")
                         .replace("}", ">[^/_]+?)") + "$")
    index = CellIndex("results", sweep.SIM_PATTERN, sweep.experiment_cells(cfg, "X"),
                      lambda cell: sweep.cell_spec(cfg, cell), sweep.modelled_seconds)
    for cell in sweep.experiment_cells(cfg, "X"):
        wildcards = pattern.search(cell.path("results")).groupdict()
        assert index.of(wildcards) == cell
    with pytest.raises(ValueError, match="not a cell"):
        index.of({**wildcards, "n": "21"})


def test_streams_are_paired_across_n_m_and_engines():
    small = MarginProblem(data="parity", d=6, m=8, n=20)
    large = MarginProblem(data="parity", d=6, m=16, n=40, engine="sgd")
    a = prepare_run(seed_sequence(5, small, 3), "parity", d=6, m=8, n=20, n_test=10)
    b = prepare_run(seed_sequence(5, large, 3), "parity", d=6, m=16, n=40, n_test=10)
    assert np.array_equal(a["X"], b["X"][:20]) and np.array_equal(a["y"], b["y"][:20])
    assert np.array_equal(a["W0"][:4], b["W0"][:4])  # the first m/2 pairs
    assert np.array_equal(a["Xt"], b["Xt"])
    other = prepare_run(seed_sequence(5, small, 4), "parity", d=6, m=8, n=20, n_test=10)
    assert not np.array_equal(a["W0"], other["W0"])


@pytest.mark.parametrize("engine", ["gf", "sgd"])
def test_reruns_are_bit_identical_whatever_the_scheduler(engine):
    problem = MarginProblem(data="parity", d=6, m=8, n=30, engine=engine, t_max=10.0,
                            saves_per_decade=3, references=("ntk",))
    first = simulate(problem, seeds=[0, 1, 2], root_seed=7, scheduler="sync")
    second = simulate(problem, seeds=[2, 0, 1], root_seed=7, scheduler="threads")
    xr.testing.assert_identical(first, second.sel(seed=[0, 1, 2]))
    assert np.isfinite(first.gamma_ntk).all()


def test_gf_and_small_step_sgd_follow_the_same_flow():
    """sgd with a step << 1 per pass is gradient flow too: at t = 10 both engines give
    close losses on the same data and start (paired streams)."""
    runs = {e: simulate(MarginProblem(data="parity", d=6, m=16, n=40, engine=e,
                                      step=0.05 if e == "gf" else 0.2, step_max=0.05,
                                      t_max=10.0, saves_per_decade=1), seeds=2, root_seed=3,
                        scheduler="sync") for e in ("gf", "sgd")}
    gf, sg = (runs[e].loss.isel(t=-1).values for e in ("gf", "sgd"))
    assert np.allclose(gf, sg, rtol=0.05), (gf, sg)


def run_cli(*args) -> int:
    return main(["margins", *map(str, args)])


def test_cells_merge_and_summarise_through_the_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(config_with(X={**TINY, "engines": ["gf", "sgd"],
                                        "references": ["ntk"]}), WORKFLOW)
    paths = []
    for cell in sweep.experiment_cells(cfg, "X"):
        spec = json.dumps(sweep.cell_spec(cfg, cell))
        paths.append(cell.path("results"))
        assert run_cli("run-cell", "--spec", spec, "--out", paths[-1]) == 0
    attrs = json.dumps(sweep.experiment_attrs(cfg, "X"))
    assert run_cli("merge", "--attrs", attrs, "--out", "results/X/sweep.zarr", *paths) == 0
    assert run_cli("summary", "--sweep", "results/X/sweep.zarr",
                   "--out", "results/X/summary.zarr") == 0
    merged, summary = xr.open_zarr("results/X/sweep.zarr"), xr.open_zarr("results/X/summary.zarr")
    assert dict(merged.sizes) == {"engine": 2, "d": 1, "m": 1, "n": 2, "seed": 2,
                                  "t": merged.sizes["t"]}
    assert set(summary.dims) == {"engine", "d", "m", "n", "seed"}
    assert np.isfinite(summary.test_error).all() and np.isfinite(summary.gamma_ntk).all()
    # the reference margin belongs to the data and the start: the same for both engines
    assert np.array_equal(summary.gamma_ntk.sel(engine="gf"), summary.gamma_ntk.sel(engine="sgd"))
    # the stores hold what simulate gives for the same cell
    one = sweep.experiment_cells(cfg, "X")[0]
    direct = simulate(sweep.problem_of(sweep.cell_spec(cfg, one)), seeds=[0, 1],
                      root_seed=cfg["root_seed"], scheduler="sync")
    np.testing.assert_array_equal(
        merged.test_error.sel(engine=one.engine, d=one.d, m=one.m, n=one.n).values,
        direct.test_error.values)


@pytest.mark.parametrize("change, key", [
    ({"m": 7}, "m"), ({"seeds": [3, 1]}, "seeds"), ({"colour": 1}, "unknown keys"),
    ({"engine": "gram"}, "engine"), ({"max_steps": 2.5}, "max_steps"),
])
def test_run_cell_refuses_a_bad_spec_naming_the_key(tmp_path, monkeypatch, capsys, change, key):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(config_with(X=copy.deepcopy(TINY)), WORKFLOW)
    spec = {**sweep.cell_spec(cfg, sweep.experiment_cells(cfg, "X")[0]), **change}
    assert run_cli("run-cell", "--spec", json.dumps(spec), "--out", "results/c.zarr") == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
