# The margins study (config key `margins`, mediocrity/studies/margins/): one job per
# (experiment, engine, d, m, n, k, separation, seed chunk), its seeds mapped over Dask by
# the core's runtime; cells -> <results>/<M>/sweep.zarr -> <results>/<M>/summary.zarr (one row per
# run), then the figures M1..M5 and their fits (appended to the paper's fits.csv).
# Thin rules: each runs one subcommand of `mediocrity margins` (cli.py). Uses the core's
# names (workflow/rules/common.smk): RESULTS, MEDIOCRITY, DASK, experiment_store, ...

from mediocrity.studies.margins import paper as margins_paper
from mediocrity.studies.margins import sweep as margins_sweep

MARGINS_CLI = f"{MEDIOCRITY} margins"
MARGINS_PAPER = paths.paper(RESULTS)
MARGINS_NAMES = study_names("margins")  # the experiment wildcard of this study's rules
MARGINS_CELLS = study_cells("margins", margins_sweep.SIM_PATTERN)


def margins_cells(wildcards):
    return [c.path(RESULTS) for c in margins_sweep.experiment_cells(config, wildcards.experiment)]


def margins_cell_spec(wildcards):
    """JSON of every result-affecting value of the cell (a params: change reruns it)."""
    return cells.spec_json(MARGINS_CELLS.spec(MARGINS_CELLS.of(wildcards)))


def margins_cell_threads(wildcards):
    return cells.threads(MARGINS_CELLS.seconds(MARGINS_CELLS.of(wildcards)),
                         config["threads_per_job"])


def margins_cell_runtime(wildcards, threads):
    return cells.runtime_minutes(MARGINS_CELLS.seconds(MARGINS_CELLS.of(wildcards)), threads)


def margins_attrs(wildcards):
    return json.dumps(margins_sweep.experiment_attrs(config, wildcards.experiment), sort_keys=True)


rule margins_cell:
    input:
        ancient(rules.warmup.output[0]),
    output:
        directory(f"{RESULTS}/{margins_sweep.SIM_PATTERN}"),
    log:
        f"{RESULTS}/logs/{{experiment}}/{{engine}}/d{{d}}_m{{m}}_n{{n}}_k{{k}}_r{{separation}}_s{{start}}-{{stop}}.log",
    wildcard_constraints:
        experiment=MARGINS_NAMES,
        **margins_sweep.WILDCARDS,
    params:
        spec=margins_cell_spec,
    threads: margins_cell_threads
    resources:
        mem_mb=4000,
        runtime=margins_cell_runtime,
    shell:
        "{MARGINS_CLI} run-cell --spec {params.spec:q} --threads {threads} "
        "--dask {DASK:q} --out {output:q} > {log:q} 2>&1"


rule margins_merge:
    input:
        margins_cells,
    output:
        directory(experiment_store("{experiment}", "sweep")),
    log:
        f"{RESULTS}/logs/{{experiment}}/merge_sweep.log",
    wildcard_constraints:
        experiment=MARGINS_NAMES,
    params:
        attrs=margins_attrs,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{MARGINS_CLI} merge --attrs {params.attrs:q} --out {output:q} {input:q} > {log:q} 2>&1"


rule margins_summary:
    input:
        experiment_store("{experiment}", "sweep"),
    output:
        directory(experiment_store("{experiment}", "summary")),
    log:
        f"{RESULTS}/logs/{{experiment}}/summary.log",
    wildcard_constraints:
        experiment=MARGINS_NAMES,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{MARGINS_CLI} summary --sweep {input:q} --out {output:q} > {log:q} 2>&1"


# One rule per figure (a report caption cannot depend on a wildcard); M1..M5 are the names
# the figure functions know (paper.py).
for margins_exp in margins_paper.figure_experiments(config):

    rule:
        name:
            f"margins_figure_{margins_exp}"
        input:
            summary=experiment_store(margins_exp, "summary"),
            sweep=experiment_store(margins_exp, "sweep"),
        output:
            pdf=report(f"{MARGINS_PAPER}/figures/{margins_exp}.pdf",
                       caption=f"report/{margins_exp}.rst", category="Margins"),
            png=report(f"{MARGINS_PAPER}/figures/{margins_exp}.png",
                       caption=f"report/{margins_exp}.rst", category="Margins"),
            csv=f"{MARGINS_PAPER}/fits_{margins_exp}.csv",
            tex=f"{MARGINS_PAPER}/numbers_{margins_exp}.tex",
        params:
            experiment=margins_exp,
            stem=lambda wildcards, output: output.pdf[: -len(".pdf")],
            n_boot=config["paper"]["n_boot"],
            bootstrap_seed=config["paper"]["bootstrap_seed"],
        log:
            f"{RESULTS}/logs/paper/figure_{margins_exp}.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        shell:
            "{MARGINS_CLI} figure {params.experiment} --stem {params.stem:q}"
            " --summary {input.summary:q} --sweep {input.sweep:q} --csv {output.csv:q}"
            " --tex {output.tex:q} --n-boot {params.n_boot}"
            " --bootstrap-seed {params.bootstrap_seed} > {log:q} 2>&1"
