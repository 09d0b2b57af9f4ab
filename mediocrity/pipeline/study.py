"""The study interface: what one family of experiments contributes to the pipeline, and
the registry of studies.

The core knows a study only through its `Study` record. A study is a package (built in:
mediocrity/studies/<name>/; or any importable module, named in the config key `studies`)
whose module defines `STUDY = Study(...)`, with beside it:

    schema.yaml           its config section (JSON-schema fragment, merged into the core's)
    presets/<name>.yaml   its part of a preset (optional)
    rules.smk             its Snakemake rules (included by the Snakefile)
    report/*.rst          its report captions (optional)

Its functions take the resolved config `cfg`:
    check(name, exp, cfg, context)  what its schema cannot say; ConfigError naming the key
    cells(cfg, name)                the cells (jobs) of one experiment, each with .path(results)
    cell_spec(cfg, cell)            every result-affecting value of a cell (JSON-safe dict)
    modelled_seconds(spec)          single-core seconds of a cell (threads, SLURM runtime, status)
    stores(cfg, name)               names of the experiment's stores beyond its cells
    targets(cfg)                    every final output (rule all)
    fit_tables(cfg)                 fit CSV / TeX files it writes for the collected fits.csv
    warmup()                        compile its kernels (mediocrity warmup)
    merge_preset(merged, preset)    fix-ups after a preset is deep-merged (optional)
    commands                        {subcommand of `mediocrity`: main(argv) -> exit status}
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY = "mediocrity.studies"  # its BUILTIN: the module names of the built-in studies


def _nothing(cfg: dict) -> list[str]:
    return []


@dataclass(frozen=True)
class Study:
    """One study: see the module docstring for each slot."""

    name: str
    section: str
    directory: Path
    summary: str
    check: Callable[[str, dict, dict, str], None]
    cells: Callable[[dict, str], list]
    cell_spec: Callable[[dict, object], dict]
    modelled_seconds: Callable[[dict], float]
    stores: Callable[[dict, str], list[str]]
    targets: Callable[[dict], list[str]]
    fit_tables: Callable[[dict], list[str]] = _nothing
    warmup: Callable[[], None] | None = None
    merge_preset: Callable[[dict, dict], None] | None = None
    commands: dict[str, Callable[[list[str]], int]] = field(default_factory=dict)

    @property
    def schema(self) -> Path:
        return Path(self.directory, "schema.yaml")

    @property
    def rules(self) -> str:
        return str(Path(self.directory, "rules.smk"))

    def preset(self, name: str) -> Path | None:
        path = Path(self.directory, "presets", f"{name}.yaml")
        return path if path.is_file() else None

    def experiments(self, cfg: dict) -> dict:
        """The study's experiments in a resolved config (its section)."""
        return cfg.get(self.section) or {}


class StudyError(ValueError):
    """A study module that cannot be loaded (the message names the config key)."""


def _load(module: str, where: str) -> Study:
    try:
        study = importlib.import_module(module).STUDY
    except ImportError as err:
        raise StudyError(f"{where} = {module!r}: cannot be imported ({err})") from None
    except AttributeError:
        raise StudyError(f"{where} = {module!r}: the module defines no STUDY") from None
    if not isinstance(study, Study):
        raise StudyError(f"{where} = {module!r}: its STUDY is not a mediocrity Study")
    return study


def load(extra=()) -> tuple[Study, ...]:
    """The built-in studies (the registry's order), then those named in `extra` (the
    config key `studies`: importable module names); names and sections must be distinct."""
    modules = [(m, "registry") for m in importlib.import_module(REGISTRY).BUILTIN]
    if not isinstance(extra, (list, tuple)) or not all(isinstance(m, str) for m in extra):
        raise StudyError(f"config key 'studies' = {extra!r}: allowed a list of module names")
    modules += [(m, f"config key 'studies[{i}]'") for i, m in enumerate(extra)]
    out: list[Study] = []
    for module, where in dict((m, w) for m, w in modules).items():
        study = _load(module, where)
        for other in out:
            if study.name == other.name or study.section == other.section:
                raise StudyError(f"{where} = {module!r}: study {study.name!r} (config key "
                                 f"{study.section!r}) clashes with study {other.name!r}")
        out.append(study)
    return tuple(out)


def of(cfg: dict) -> tuple[Study, ...]:
    """The studies of a resolved config."""
    return load(cfg.get("studies") or ())


def commands(studies) -> dict[str, Callable[[list[str]], int]]:
    """{subcommand: main} over the studies."""
    return {name: main for study in studies for name, main in study.commands.items()}


def get(studies, name: str) -> Study:
    """The study called `name` among `studies`."""
    for study in studies:
        if study.name == name:
            return study
    raise ValueError(f"study {name!r}: allowed one of {', '.join(s.name for s in studies)}")
