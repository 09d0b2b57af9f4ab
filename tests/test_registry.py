"""The engine registry is the one list of engines: the static schema enum, the wildcard,
simulate and the figure styles agree with it; models in the config."""

from __future__ import annotations

import copy

import pytest
import yaml

from mediocrity import models
from mediocrity.studies.escape import sweep
from mediocrity.pipeline.config import ConfigError, load_config, resolve_config
from mediocrity.studies.escape.config import gammas
from mediocrity.engines import RUNNERS, STOCHASTIC, registry
from mediocrity.simulate import ENGINES

SCHEMA = "mediocrity/studies/escape/schema.yaml"


def _experiment_schema():
    with open(SCHEMA) as f:
        return yaml.safe_load(f)["$defs"]["experiment"]["properties"]


def test_static_schema_enums_agree_with_the_registries():
    props = _experiment_schema()
    assert tuple(props["engines"]["items"]["enum"]) == registry.sweep_names()
    assert tuple(props["model"]["enum"]) == models.available()


def test_everything_derives_from_the_registry():
    assert ENGINES == registry.names()
    assert set(RUNNERS) == {e.name for e in registry.ENGINES if e.runner}
    assert STOCHASTIC == {"sgd", "gram", "sde"}
    assert registry.wildcard() == "auto|sgd|gram|sde"
    assert set(registry.styles()) == set(registry.names())
    from mediocrity.studies.escape.figures.common import ENGINE_COLORS, ENGINE_MARKERS

    assert ENGINE_COLORS == {k: v[0] for k, v in registry.styles().items()}
    assert ENGINE_MARKERS == {k: v[1] for k, v in registry.styles().items()}
    with open(sweep.__file__.replace("sweep.py", "rules.smk")) as f:
        assert "escape_engines.wildcard()" in f.read()


def _config(**experiment):
    cfg = load_config("config.yaml", "workflow")
    base = {"d": [100, 400], "p": [1], "gamma": [0.01], "seeds": 2, "engines": ["gram"],
            "t_max": 1.0}
    base.update(experiment)
    raw = {"root_seed": 1, "experiments": {"X": base}}
    return raw, cfg


def test_unknown_model_stops_naming_the_key():
    raw, _ = _config(model="nope")
    with pytest.raises(ConfigError, match=r"config key 'experiments\.X\.model' = 'nope'"):
        resolve_config(raw, "workflow")


def test_model_needs_engines_that_run_it_and_explicit_step_sizes():
    raw, _ = _config(model="abs", engines=["sde"], p=[4])
    with pytest.raises(ConfigError, match=r"experiments\.X\.engines.*'sde' does not run "
                                          r"model 'abs' at p = 4"):
        resolve_config(raw, "workflow")
    raw, _ = _config(model="abs", gamma=["optimal"])
    with pytest.raises(ConfigError, match=r"experiments\.X\.gamma.*explicit"):
        resolve_config(raw, "workflow")


def test_model_and_d_scaled_step_sizes_in_the_grid():
    raw, _ = _config(model="he3", gamma=[0.02], gamma_d_exponent=0.5)
    cfg = resolve_config(copy.deepcopy(raw), "workflow")
    exp = cfg["experiments"]["X"]
    assert "model" in exp and exp["model"] == "he3"
    points = list(sweep.grid(exp))
    assert points == [(100, 1, 0.002, 0.0), (400, 1, 0.001, 0.0)]
    assert gammas(exp, 1, 0.0) == [0.02]
    cell = sweep.experiment_cells(cfg, "X")[0]
    spec = sweep.cell_spec(cfg, cell)
    assert spec["model"] == "he3" and sweep.problem_of(spec).model == "he3"
    default = resolve_config(_config()[0], "workflow")
    assert "model" not in sweep.cell_spec(default, sweep.experiment_cells(default, "X")[0])
    assert "model" not in default["experiments"]["X"]  # no schema default filled in
