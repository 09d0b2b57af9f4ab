"""Pipeline configuration (mediocrity/pipeline/config.py, the core schema and the studies' fragments).

Every kind of bad config fails with a message naming the key: through
`resolve_config` and once through `snakemake -n`; the shipped config and presets are
valid; YAML is loaded safely; presets merge as documented.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mediocrity.pipeline.config import (ConfigError, canonical_float, deep_merge, experiment_hash,
                                        load_config, load_yaml, resolve_config)
from mediocrity.studies.escape.config import gammas
from mediocrity.theory import critical_gamma, optimal_gamma

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflow"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return load_yaml(ROOT / "config.yaml")


def tiny() -> dict:
    return {"experiments": {"T": {"d": [50], "p": [1], "gamma": [0.1], "seeds": 2}}}


@pytest.mark.parametrize("preset", [None, "quick", "extended", "paper-full"])
def test_shipped_config_and_presets_are_valid(shipped, preset):
    cfg = resolve_config(dict(shipped, preset=preset), WORKFLOW)
    assert set(cfg["experiments"]) == {"F1", "F2", "F3", "F3sde", "F4", "F5", "F6", "F7relu",
                                       "F7pr", "F7abs", "F7he3", "F7he4", "F7noise"}
    assert cfg["results"] == ("results" if preset is None else f"results/{preset}")


def test_quick_preset_is_tiny(shipped):
    cfg = resolve_config(dict(shipped, preset="quick"), WORKFLOW)
    for exp in cfg["experiments"].values():
        small_d = exp["engines"] == ["sde"] or max(exp["d"]) <= 300  # sde: cost free of d
        assert small_d and exp["seeds"] <= 10 and exp["t_max"] <= 20


def test_defaults_are_filled():
    cfg = resolve_config(tiny(), WORKFLOW)
    exp = cfg["experiments"]["T"]
    assert exp["noise"] == [0.0] and exp["engines"] == ["auto"] and exp["init"] == "random"
    assert exp["threshold"] == 0.01 and exp["stop_after"] is None and exp["ode"] is False
    assert cfg["dask"]["scheduler"] == "local" and cfg["results"] == "results"


def _set(cfg: dict, path: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


DELETE = object()
BAD = [  # (path, value, words the message must contain)
    ("experiments.T.d", [-5], ["experiments.T.d[0]", "-5"]),
    ("experiments.T.d", [], ["experiments.T.d"]),
    ("experiments.T.p", [0], ["experiments.T.p[0]"]),
    ("experiments.T.engines", ["sgd", "fast"], ["experiments.T.engines[1]", "fast"]),
    ("experiments.T.engines", ["ode"], ["experiments.T.engines[0]"]),
    ("experiments.T.gamma", [0.0], ["experiments.T.gamma[0]"]),
    ("experiments.T.gamma", [-0.1], ["experiments.T.gamma[0]"]),
    ("experiments.T.gamma", ["optimum"], ["experiments.T.gamma[0]"]),
    ("experiments.T.gamma", "1e-4", ["experiments.T.gamma", "1.0e-4"]),
    ("experiments.T.gamma_over_p", [0.1], ["experiments.T", "exactly one", "gamma_over_p"]),
    ("experiments.T.gamma", DELETE, ["experiments.T", "exactly one"]),
    ("experiments.T.noise", [-1.0], ["experiments.T.noise[0]"]),
    ("experiments.T.seeds", 0, ["experiments.T.seeds"]),
    ("experiments.T.sedds", 3, ["experiments.T.sedds", "did you mean 'seeds'"]),
    ("experiments.T.threshold", 1.5, ["experiments.T.threshold"]),
    ("experiments.T.t_max", 1e-4, ["experiments.T.t_max", "t_min"]),
    ("experiments.T.init", "warm", ["experiments.T.init"]),
    ("experiments.T.stop_after", -1.0, ["experiments.T.stop_after"]),
    ("experiments", {}, ["experiments"]),
    ("seed_per_job", 10, ["'seed_per_job'", "did you mean 'seeds_per_job'"]),
    ("seeds_per_job", 0, ["seeds_per_job"]),
    ("preset", "fast", ["preset", "fast"]),
    ("results", "../elsewhere", ["results"]),
    ("results", "/tmp/results", ["results"]),
    ("results", "results/../../x", ["results"]),
    ("results", "output", ["results"]),
    ("dask", {"scheduler": "mpi"}, ["dask.scheduler"]),
    ("root_seed", -1, ["root_seed"]),
]


@pytest.mark.parametrize("path, value, words", BAD, ids=[
    f"{p}={'<deleted>' if v is DELETE else repr(v)}"[:60] for p, v, _ in BAD])
def test_bad_config_fails_naming_the_key(path, value, words):
    with pytest.raises(ConfigError) as err:
        resolve_config(_set(tiny(), path, value), WORKFLOW)
    for word in words:
        assert word in str(err.value), str(err.value)


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "9lives", ".hidden"])
def test_experiment_names_cannot_escape_results(name):
    cfg = {"experiments": {name: tiny()["experiments"]["T"]}}
    with pytest.raises(ConfigError, match=r"config key 'experiments'.*" + "name"):
        resolve_config(cfg, WORKFLOW)


def test_gram_needs_p_plus_one_le_d():
    cfg = _set(tiny(), "experiments.T.engines", ["gram"])
    cfg["experiments"]["T"].update(d=[4], p=[4])
    with pytest.raises(ConfigError, match=r"experiments\.T\.engines.*p \+ 1 <= d"):
        resolve_config(cfg, WORKFLOW)


def test_bad_value_from_a_preset_names_the_preset(tmp_path):
    (tmp_path / "presets").mkdir()  # a preset of the workflow that no study has a part of
    (tmp_path / "presets" / "mine.yaml").write_text("experiments: {T: {d: [1]}}\n")
    with pytest.raises(ConfigError, match=r"experiments\.T\.d\[0\].*preset 'mine'"):
        resolve_config(dict(tiny(), preset="mine"), tmp_path)


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("root_seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(yaml.YAMLError):
        load_yaml(evil)


def test_load_config_applies_overrides_like_snakemake(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    cfg = load_config(path, WORKFLOW, {"root_seed": 7, "seeds_per_job": 3})
    assert cfg["root_seed"] == 7 and cfg["seeds_per_job"] == 3


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"a": {"x": [1, 2], "y": 1}, "b": 2}
    assert deep_merge(base, {"a": {"x": [3]}}) == {"a": {"x": [3], "y": 1}, "b": 2}
    assert base == {"a": {"x": [1, 2], "y": 1}, "b": 2}


def test_preset_gamma_axis_replaces_the_configs(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.yaml").write_text(
        "experiments: {T: {gamma_over_p: [0.1]}}\n")
    cfg = resolve_config(dict(tiny(), preset="mine"), tmp_path)
    assert "gamma" not in cfg["experiments"]["T"]


def test_gamma_axes_resolve_per_p_and_noise():
    assert gammas({"gamma_over_p": [0.1]}, 3, 0.0) == [0.3]  # not 0.30000000000000004
    assert gammas({"gamma": ["optimal", 0.1]}, 2, 0.5) == sorted(
        [canonical_float(optimal_gamma(2, 0.5)), 0.1])
    assert gammas({"gamma_over_critical": [0.5]}, 4, 0.0) == [
        canonical_float(critical_gamma(4) / 2)]


def test_config_hash_tracks_results_not_descriptions():
    cfg = resolve_config(tiny(), WORKFLOW)
    base = experiment_hash(cfg, "experiments", "T")
    cfg["experiments"]["T"]["description"] = "words"
    assert experiment_hash(cfg, "experiments", "T") == base
    cfg["experiments"]["T"]["t_max"] = 5.0
    assert experiment_hash(cfg, "experiments", "T") != base


def _snakemake_dry_run(where: Path, config: dict, *extra) -> str:
    where.mkdir()
    shutil.copy(ROOT / "Snakefile", where / "Snakefile")
    shutil.copytree(WORKFLOW, where / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    (where / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *extra],
                         cwd=where, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert not (where / "results").exists() and "rule simulate_cell" not in run.stdout
    return run.stdout + run.stderr


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    out = _snakemake_dry_run(tmp_path / "typo", _set(tiny(), "experiments.T.sedds", 3))
    assert "experiments.T.sedds" in out and "did you mean 'seeds'" in out
    out = _snakemake_dry_run(tmp_path / "preset", tiny(), "--config", "preset=fast")
    assert "config key 'preset'" in out
