"""mediocrity sweep: one-pass SGD escaping mediocrity over a (d, p, gamma, noise, seed)
grid -> Zarr stores under results/<experiment>/ (docs/pipeline.md).

    snakemake --cores 2                      # the default grids of config.yaml
    snakemake --cores 2 --config preset=quick
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/measure.smk"


if Path(workflow.basedir, "workflow/rules/paper.smk").exists():

    include: "workflow/rules/paper.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
