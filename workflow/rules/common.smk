# The core of the workflow, which knows no study: the config resolved and validated once
# (presets applied, defaults filled, each study's checks), the studies it runs, the
# command and environment of every job, and the targets of rule all. All logic lives in
# mediocrity.pipeline; each study's rules (its rules.smk, included by the Snakefile) use
# the names defined here.

import json
import shlex
import sys
from pathlib import Path

import mediocrity
from mediocrity.pipeline import cells, paths, plan, runtime
from mediocrity.pipeline import study as studies
from mediocrity.pipeline.config import load_yaml, resolve_config

# the config files through mediocrity's strict loader too: duplicate keys, YTE templates
# and alias bombs are refused (Snakemake has read them already; see docs/pipeline.md)
for path in dict.fromkeys([*workflow.configfiles, *workflow.overwrite_configfiles]):
    load_yaml(path)
# presets applied, defaults filled, every value checked; a bad key stops here, before any
# job runs; values given on the command line (--configfile, --config) win over a preset's
config.update(
    resolve_config(
        config,
        Path(workflow.basedir, "workflow"),
        explicit=workflow.config_settings.overwrite_config,
    )
)

# Cell integrity (mediocrity/pipeline/plan.py): the main process records the config it
# runs with; a cluster job, which Snakemake rebuilds from forwarded options, refuses to run
# if its config differs.
if workflow.remote_exec:
    plan.check_against_plan(config)

STUDIES = studies.of(config)
RESULTS = config["results"]
# The command of every rule, and where seeds run: not params on purpose, since neither
# changes a result (switching schedulers must not rerun the sweep).
MEDIOCRITY = f"{shlex.quote(sys.executable)} -m mediocrity"
DASK = json.dumps(config["dask"], sort_keys=True)

# one level of parallelism: BLAS/OpenMP/numba pools pinned to one thread in every job
# (Snakemake would otherwise export OMP_NUM_THREADS = threads)
SINGLE_THREAD = " ".join(f"{k}={v}" for k, v in runtime.single_thread_env().items())
shell.prefix(f"export {SINGLE_THREAD}; ")


wildcard_constraints:
    experiment="[A-Za-z][A-Za-z0-9_-]*",
    start="[0-9]+",
    stop="[0-9]+",


def experiment_store(experiment, name):
    """<results>/<experiment>/<name>.zarr."""
    return paths.store(RESULTS, experiment, name)


def study_names(name):
    """Regular expression of the experiment names of one study (its rules' `experiment`
    wildcard: every study writes <results>/<name>/...; names are distinct across studies)."""
    return cells.name_pattern(studies.get(STUDIES, name).experiments(config))


def study_cells(name, pattern):
    """The cells of one study by store path (cells.CellIndex), built once."""
    study = studies.get(STUDIES, name)
    return cells.CellIndex(
        RESULTS, pattern,
        (c for exp in study.experiments(config) for c in study.cells(config, exp)),
        lambda cell: study.cell_spec(config, cell), study.modelled_seconds)


def final_outputs():
    """Targets of rule all: every study's stores, figures and tables."""
    return [target for study in STUDIES for target in study.targets(config)]


# every study's numba kernels compiled once into the cache, before any fan-out
rule warmup:
    output:
        touch(f"{RESULTS}/.warmup/numba.done"),
    log:
        paths.logs(RESULTS, "warmup.log"),
    params:
        version=mediocrity.__version__,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    shell:
        "{MEDIOCRITY} warmup > {log:q} 2>&1"
