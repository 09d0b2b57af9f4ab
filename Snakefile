"""mediocrity sweep: one-pass SGD escaping mediocrity over a (d, p, gamma, noise, seed)
grid -> Zarr stores under results/<experiment>/ (docs/pipeline.md).

    snakemake --cores 2                      # the default grids of config.yaml
    snakemake --cores 2 --config preset=quick
    snakemake --cores 2 --configfile my.yaml     # your own grid instead of config.yaml
"""

from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

from mediocrity import slurm as slurm_status

min_version("9.0")


# A config file given on the command line (--configfile my.yaml) replaces config.yaml
# rather than being merged into it, in this process and in every cluster job alike.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"  # description page of snakemake --report


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/margins.smk"


if Path(workflow.basedir, "workflow/rules/paper.smk").exists():

    include: "workflow/rules/paper.smk"


# the config this run resolved, for its cluster jobs to check (mediocrity/plan.py); on
# SLURM, say how jobs are followed (squeue/sacct, accounting, MinJobAge: mediocrity/slurm.py)
onstart:
    plan.write_plan(config)
    slurm_status.log_status(workflow, logger)


rule all:
    input:
        final_outputs(),
    default_target: True
