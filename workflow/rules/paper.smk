# Paper stage: the figures F1-F6, the exit-time-vs-log-d fits (F3) and the per-cell
# measurement summaries, from the stores of each experiment,
# <results>/<exp>/{sweep,exit_times,ode}.zarr. Thin rules: each runs one subcommand of
# `python -m mediocrity.paper` (mediocrity/paper.py, which also holds the path logic,
# tested without Snakemake). Include after the rules that write the stores; `rule all`
# takes paper_targets().
#
# Options, all optional, under config["paper"]: n_boot (bootstrap replicates, 1000),
# bootstrap_seed (0), fit_d_min (fit the exact engines only over d >= fit_d_min; null: every
# d), fit_d_min_sde (the same for the sde engine), plateau_t_from (start of the F6 plateau window in time units;
# null: t >= t_max/2, the last factor 2 of each run).

import sys

from mediocrity import paper as mediocrity_paper

PAPER_OPTIONS = mediocrity_paper.options(config)
PAPER_RESULTS = config.get("results", "results")
PAPER_DIR = f"{PAPER_RESULTS}/paper"
PAPER_LOGS = f"{PAPER_RESULTS}/logs/paper"
PAPER_CLI = f"{sys.executable} -m mediocrity paper"
F7_CLI = f"{sys.executable} -m mediocrity.exponents"
F7_OUTPUTS = mediocrity_paper.f7_outputs(config)  # [pdf, png, csv, tex, cells], or []
PAPER_T_FROM = ("" if PAPER_OPTIONS["plateau_t_from"] is None
                else f"--t-from {float(PAPER_OPTIONS['plateau_t_from'])!r}")


def paper_targets():
    """Every final output of the paper stage, for `rule all`."""
    return mediocrity_paper.targets(config)


# Fits of F3 (exact chain) and F3sde (sde, to d = 1e12) per engine and d range, and the
# two-sample test of the two engines at every common d (engine_agreement.csv).
rule paper_fits:
    input:
        exit_times=mediocrity_paper.fit_inputs(config),
        # F7's and the margins study's fit rows and macros, appended to fits.csv, numbers.tex
        f7=F7_OUTPUTS[2:4]
        + [p for p in margins_paper.targets(config) if p.endswith((".csv", ".tex"))],
    output:
        csv=report(f"{PAPER_DIR}/fits.csv", caption="../report/fits.rst", category="Paper"),
        netcdf=f"{PAPER_DIR}/fits.nc",
        tex=report(f"{PAPER_DIR}/numbers.tex", caption="../report/numbers.rst",
                   category="Paper"),
        agreement=report(f"{PAPER_DIR}/engine_agreement.csv",
                         caption="../report/engine_agreement.rst", category="Paper"),
    params:
        n_boot=PAPER_OPTIONS["n_boot"],
        bootstrap_seed=PAPER_OPTIONS["bootstrap_seed"],
        d_min=("" if PAPER_OPTIONS["fit_d_min"] is None
               else f"--d-min {float(PAPER_OPTIONS['fit_d_min'])!r}"),
        d_min_sde=("" if PAPER_OPTIONS["fit_d_min_sde"] is None
                   else f"--d-min-sde {float(PAPER_OPTIONS['fit_d_min_sde'])!r}"),
        extra_csv=lambda wildcards, input: " ".join(p for p in input.f7 if p.endswith(".csv")),
        extra_tex=lambda wildcards, input: " ".join(p for p in input.f7 if p.endswith(".tex")),
    log:
        f"{PAPER_LOGS}/fits.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PAPER_CLI} fits --exit-times {input.exit_times:q} --csv {output.csv:q}"
        " --netcdf {output.netcdf:q} --tex {output.tex:q} --n-boot {params.n_boot}"
        " --bootstrap-seed {params.bootstrap_seed} {params.d_min} {params.d_min_sde}"
        " --agreement {output.agreement:q}"
        " --extra-csv {params.extra_csv} --extra-tex {params.extra_tex} > {log:q} 2>&1"


rule paper_summary:
    input:
        [path for exp in config.get("experiments", {})
         for path in mediocrity_paper.store_inputs(config, exp)],
    output:
        report(f"{PAPER_DIR}/summary.nc", caption="../report/summary.rst", category="Paper"),
    params:
        t_from=PAPER_T_FROM,
    log:
        f"{PAPER_LOGS}/summary.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{PAPER_CLI} summary --out {output:q} --stores {input:q} {params.t_from}"
        " > {log:q} 2>&1"


# One rule per figure: a report caption cannot depend on a wildcard.
for paper_exp in mediocrity_paper.figure_experiments(config):

    rule:
        name:
            f"paper_figure_{paper_exp}"
        input:
            stores=mediocrity_paper.figure_inputs(config, paper_exp),
            fits=[f"{PAPER_DIR}/fits.nc"] if paper_exp == "F3" else [],
        output:
            pdf=report(f"{PAPER_DIR}/figures/{paper_exp}.pdf",
                       caption=f"../report/{paper_exp}.rst", category="Paper"),
            png=report(f"{PAPER_DIR}/figures/{paper_exp}.png",
                       caption=f"../report/{paper_exp}.rst", category="Paper"),
        params:
            experiment=paper_exp,
            stem=lambda wildcards, output: output.pdf[: -len(".pdf")],
            fits=lambda wildcards, input: f"--fits {input.fits[0]}" if input.fits else "",
            t_from=PAPER_T_FROM,
        log:
            f"{PAPER_LOGS}/figure_{paper_exp}.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        shell:
            "{PAPER_CLI} figure {params.experiment} --stem {params.stem:q}"
            " --stores {input.stores:q} {params.fits} {params.t_from} > {log:q} 2>&1"


# F7, the information-exponent law: every experiment whose name starts with F7, one figure,
# its fit table and macros (mediocrity/exponents.py); paper_fits appends them to fits.csv
# and numbers.tex.
from mediocrity.exponents import f7_experiments

if F7_OUTPUTS:

    rule paper_f7:
        input:
            [path for exp in f7_experiments(config)
             for path in mediocrity_paper.store_inputs(config, exp)],
        output:
            pdf=report(F7_OUTPUTS[0], caption="../report/F7.rst", category="Paper"),
            png=report(F7_OUTPUTS[1], caption="../report/F7.rst", category="Paper"),
            csv=F7_OUTPUTS[2],
            tex=F7_OUTPUTS[3],
            cells=F7_OUTPUTS[4],
        params:
            stem=lambda wildcards, output: output.pdf[: -len(".pdf")],
            n_boot=PAPER_OPTIONS["n_boot"],
            bootstrap_seed=PAPER_OPTIONS["bootstrap_seed"],
        log:
            f"{PAPER_LOGS}/figure_F7.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        shell:
            "{F7_CLI} --stem {params.stem:q}"
            " --stores {input:q} --csv {output.csv:q} --tex {output.tex:q}"
            " --cells {output.cells:q} --n-boot {params.n_boot}"
            " --bootstrap-seed {params.bootstrap_seed} > {log:q} 2>&1"
