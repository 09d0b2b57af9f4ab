"""mediocrity: reproducible sweeps of SGD in two-layer networks, one study per package
(mediocrity/studies/<name>/: its config section, cells, stores, figures and rules.smk),
over grids -> Zarr stores under results/<experiment>/ (docs/pipeline.md,
docs/architecture.md).

    snakemake --cores 2                      # the default grids of config.yaml
    snakemake --cores 2 --config preset=quick
    snakemake --cores 2 --configfile my.yaml     # your own grid instead of config.yaml
"""

from snakemake.logging import logger
from snakemake.utils import min_version

from mediocrity.pipeline import slurm as slurm_status

min_version("9.0")


# A config file given on the command line (--configfile my.yaml) replaces config.yaml
# rather than being merged into it, in this process and in every cluster job alike.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"  # description page of snakemake --report


include: "workflow/rules/common.smk"


# each study's rules (mediocrity/studies/<name>/rules.smk), in the registry's order
for study in STUDIES:

    include: study.rules


# the config this run resolved, for its cluster jobs to check (mediocrity/pipeline/plan.py);
# on SLURM, say how jobs are followed (squeue/sacct, accounting, MinJobAge)
onstart:
    plan.write_plan(config)
    slurm_status.log_status(workflow, logger)


rule all:
    input:
        final_outputs(),
    default_target: True
