# Config validation, the grid as target lists, wildcard constraints and the per-rule
# helpers (params, resources). All logic lives in mediocrity.sweep / mediocrity.store.

import json
import sys
from pathlib import Path

from snakemake.utils import validate

import mediocrity
from mediocrity import plan, store, sweep
from mediocrity.margins import paper as margins_paper
from mediocrity.margins import sweep as margins_sweep
from mediocrity.config import load_yaml, resolve_config

# the config files through mediocrity's strict loader too: duplicate keys, YTE templates
# and alias bombs are refused (Snakemake has read them already; see docs/pipeline.md)
for path in dict.fromkeys([*workflow.configfiles, *workflow.overwrite_configfiles]):
    load_yaml(path)
# presets applied and defaults filled; a bad key stops here, before any job runs
# values given on the command line (--configfile, --config) win over a preset's
config.update(
    resolve_config(
        config,
        Path(workflow.basedir, "workflow"),
        explicit=workflow.config_settings.overwrite_config,
    )
)
validate(config, schema="../schemas/config.schema.yaml")

# Cell integrity (mediocrity/plan.py): the main process records the config it runs with;
# a cluster job, which Snakemake rebuilds from forwarded options, refuses to run if its
# config differs.
if workflow.remote_exec:
    plan.check_against_plan(config)

RESULTS = config["results"]
EXPERIMENTS = list(config["experiments"])
MARGINS = list(config["margins"])  # the margins study (workflow/rules/margins.smk)
# experiment wildcard of the escape study's per-experiment rules (both studies write
# <results>/<name>/sweep.zarr; names are distinct, checked with the config)
ESCAPE_NAMES = margins_sweep.name_pattern(EXPERIMENTS)
# The command of every rule, and where seeds run: not params on purpose, since neither
# changes a result (switching schedulers must not rerun the sweep).
MEDIOCRITY = f"{sys.executable} -m mediocrity"
DASK = json.dumps(config["dask"], sort_keys=True)

# one level of parallelism: BLAS/OpenMP/numba pools pinned to one thread in every job
# (Snakemake would otherwise export OMP_NUM_THREADS = threads)
SINGLE_THREAD = " ".join(f"{k}={v}" for k, v in sweep.single_thread_env().items())
shell.prefix(f"export {SINGLE_THREAD}; ")


wildcard_constraints:
    experiment="[A-Za-z][A-Za-z0-9_-]*",
    engine=mediocrity.engines.registry.wildcard(),  # the registry's sweep engines
    d="[0-9]+",
    p="[0-9]+",
    gamma="[0-9][0-9.e+-]*",
    noise="[0-9][0-9.e+-]*",
    start="[0-9]+",
    stop="[0-9]+",


def experiment_store(experiment, name):
    """<results>/<experiment>/<name>.zarr (name: sweep, ode or exit_times)."""
    return f"{RESULTS}/{experiment}/{name}.zarr"


def experiment_outputs():
    """The data contract: sweep, exit_times (and ode) store of every experiment."""
    out = []
    for name in EXPERIMENTS:
        out += [experiment_store(name, "sweep"), experiment_store(name, "exit_times")]
        if config["experiments"][name]["ode"]:
            out.append(experiment_store(name, "ode"))
    return out


def final_outputs():
    """Targets of rule all: the stores of both studies, plus the figures when
    workflow/rules/paper.smk defines paper_targets()."""
    extra = globals().get("paper_targets")
    margins = [experiment_store(name, store) for name in MARGINS
               for store in ("sweep", "summary")] + margins_paper.targets(config)
    return experiment_outputs() + margins + (list(extra()) if extra else [])


def simulation_cells(wildcards):
    return [c.path(RESULTS) for c in sweep.experiment_cells(config, wildcards.experiment)]


def spec_of(wildcards):
    return sweep.cell_spec(config, sweep.cell_from_wildcards(config, wildcards))


def cell_spec(wildcards):
    """JSON of every result-affecting value of the cell (a params: change reruns it)."""
    return sweep.spec_json(spec_of(wildcards))


def cell_threads(wildcards):
    return sweep.cell_threads(spec_of(wildcards), config["threads_per_job"])


def cell_runtime(wildcards, threads):
    return sweep.runtime_minutes(spec_of(wildcards), threads)


def store_attrs(wildcards):
    return json.dumps(store.experiment_attrs(config, wildcards.experiment), sort_keys=True)


def ode_option(wildcards):
    if config["experiments"][wildcards.experiment]["ode"]:
        return f"--ode {experiment_store(wildcards.experiment, 'ode')}"
    return ""


def exit_time_inputs(wildcards):
    out = {"sweep": experiment_store(wildcards.experiment, "sweep")}
    if config["experiments"][wildcards.experiment]["ode"]:
        out["ode"] = experiment_store(wildcards.experiment, "ode")
    return out
