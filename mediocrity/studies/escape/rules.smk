# The escape study (mediocrity/studies/escape/): one job per (experiment, engine, d, p,
# gamma, noise, seed chunk), its seeds mapped over Dask inside it; one ODE job per
# experiment with ode: true (its whole grid: a fraction of a second per grid point);
# cells -> <results>/<exp>/sweep.zarr -> exit_times.zarr (the data contract,
# mediocrity/studies/escape/store.py), then the paper stage: figures F1-F7, the
# exit-time-vs-log-d fits (F3) and the per-cell measurement summaries. Thin rules: each
# runs one subcommand of `mediocrity escape` or `mediocrity paper`. Uses the core's names
# (workflow/rules/common.smk): RESULTS, MEDIOCRITY, DASK, STUDIES, experiment_store, ...

from mediocrity.engines import registry as escape_engines
from mediocrity.studies.escape import exponents as escape_exponents
from mediocrity.studies.escape import paper as escape_paper
from mediocrity.studies.escape import sweep as escape_sweep
from mediocrity.studies.escape.store import experiment_attrs as escape_attrs

ESCAPE_NAMES = study_names("escape")  # the experiment wildcard of this study's rules
ESCAPE_CELLS = study_cells("escape", escape_sweep.SIM_PATTERN)
ESCAPE_CLI = f"{MEDIOCRITY} escape"


wildcard_constraints:
    engine=escape_engines.wildcard(),  # the registry's sweep engines
    d="[0-9]+",
    p="[0-9]+",
    gamma="[0-9][0-9.e+-]*",
    noise="[0-9][0-9.e+-]*",


def simulation_cells(wildcards):
    return [c.path(RESULTS) for c in escape_sweep.experiment_cells(config, wildcards.experiment)]


def cell_spec(wildcards):
    """JSON of every result-affecting value of the cell (a params: change reruns it)."""
    return cells.spec_json(ESCAPE_CELLS.spec(ESCAPE_CELLS.of(wildcards)))


def cell_threads(wildcards):
    return cells.threads(ESCAPE_CELLS.seconds(ESCAPE_CELLS.of(wildcards)),
                         config["threads_per_job"])


def cell_runtime(wildcards, threads):
    return cells.runtime_minutes(ESCAPE_CELLS.seconds(ESCAPE_CELLS.of(wildcards)), threads)


def store_attrs(wildcards):
    return json.dumps(escape_attrs(config, wildcards.experiment), sort_keys=True)


def ode_option(wildcards):
    if config["experiments"][wildcards.experiment]["ode"]:
        return f"--ode {experiment_store(wildcards.experiment, 'ode')}"
    return ""


def exit_time_inputs(wildcards):
    out = {"sweep": experiment_store(wildcards.experiment, "sweep")}
    if config["experiments"][wildcards.experiment]["ode"]:
        out["ode"] = experiment_store(wildcards.experiment, "ode")
    return out


rule simulate_cell:
    input:
        ancient(rules.warmup.output[0]),
    output:
        directory(f"{RESULTS}/{escape_sweep.SIM_PATTERN}"),
    wildcard_constraints:
        experiment=ESCAPE_NAMES,
    log:
        f"{RESULTS}/logs/{{experiment}}/{{engine}}/d{{d}}_p{{p}}_g{{gamma}}_n{{noise}}_s{{start}}-{{stop}}.log",
    params:
        spec=cell_spec,
    threads: cell_threads
    resources:
        mem_mb=2000,
        runtime=cell_runtime,
    shell:
        "{ESCAPE_CLI} run-cell --spec {params.spec:q} --threads {threads} "
        "--dask {DASK:q} --out {output:q} > {log:q} 2>&1"


rule ode:
    input:
        ancient(rules.warmup.output[0]),
    output:
        directory(experiment_store("{experiment}", "ode")),
    wildcard_constraints:
        experiment=ESCAPE_NAMES,
    log:
        f"{RESULTS}/logs/{{experiment}}/ode.log",
    params:
        spec=lambda wildcards: cells.spec_json(escape_sweep.ode_spec(config, wildcards.experiment)),
        attrs=store_attrs,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "{ESCAPE_CLI} ode --spec {params.spec:q} --attrs {params.attrs:q} --out {output:q}"
        " > {log:q} 2>&1"


rule merge_sweep:
    input:
        simulation_cells,
    output:
        directory(experiment_store("{experiment}", "sweep")),
    wildcard_constraints:
        experiment=ESCAPE_NAMES,
    log:
        f"{RESULTS}/logs/{{experiment}}/merge_sweep.log",
    params:
        attrs=store_attrs,
        engines=lambda wildcards: config["experiments"][wildcards.experiment]["engines"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{ESCAPE_CLI} merge --attrs {params.attrs:q} --engines {params.engines}"
        " --out {output:q} {input:q} > {log:q} 2>&1"


rule exit_times:
    input:
        unpack(exit_time_inputs),
    output:
        directory(experiment_store("{experiment}", "exit_times")),
    wildcard_constraints:
        experiment=ESCAPE_NAMES,
    log:
        f"{RESULTS}/logs/{{experiment}}/exit_times.log",
    params:
        ode=ode_option,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "{ESCAPE_CLI} exit-times --sweep {input.sweep:q} {params.ode} --out {output:q}"
        " > {log:q} 2>&1"


# Paper stage. Options, all optional, under config["paper"]: n_boot (bootstrap
# replicates, 1000), bootstrap_seed (0), fit_d_min (fit the exact engines only over
# d >= fit_d_min; null: every d), fit_d_min_sde (the same for the sde engine),
# plateau_t_from (start of the F6 plateau window in time units; null: t >= t_max/2, the
# last factor 2 of each run).

PAPER_OPTIONS = escape_paper.options(config)
PAPER_DIR = paths.paper(RESULTS)
PAPER_LOGS = paths.logs(RESULTS, "paper")
PAPER_CLI = f"{MEDIOCRITY} paper"
F7_CLI = f"{shlex.quote(sys.executable)} -m mediocrity.studies.escape.exponents"
F7_OUTPUTS = escape_paper.f7_outputs(config)  # [pdf, png, csv, tex, cells], or []
PAPER_T_FROM = ("" if PAPER_OPTIONS["plateau_t_from"] is None
                else f"--t-from {float(PAPER_OPTIONS['plateau_t_from'])!r}")


# Fits of F3 (exact chain) and F3sde (sde, to d = 1e12) per engine and d range, and the
# two-sample test of the two engines at every common d (engine_agreement.csv).
rule paper_fits:
    input:
        exit_times=escape_paper.fit_inputs(config),
        # every study's fit rows and macros (F7's first), appended to fits.csv, numbers.tex
        tables=[p for study in STUDIES for p in study.fit_tables(config)],
    output:
        csv=report(f"{PAPER_DIR}/fits.csv", caption="report/fits.rst", category="Escape"),
        netcdf=f"{PAPER_DIR}/fits.nc",
        tex=report(f"{PAPER_DIR}/numbers.tex", caption="report/numbers.rst",
                   category="Escape"),
        agreement=report(f"{PAPER_DIR}/engine_agreement.csv",
                         caption="report/engine_agreement.rst", category="Escape"),
    params:
        n_boot=PAPER_OPTIONS["n_boot"],
        bootstrap_seed=PAPER_OPTIONS["bootstrap_seed"],
        d_min=("" if PAPER_OPTIONS["fit_d_min"] is None
               else f"--d-min {float(PAPER_OPTIONS['fit_d_min'])!r}"),
        d_min_sde=("" if PAPER_OPTIONS["fit_d_min_sde"] is None
                   else f"--d-min-sde {float(PAPER_OPTIONS['fit_d_min_sde'])!r}"),
        extra_csv=lambda wildcards, input: " ".join(p for p in input.tables if p.endswith(".csv")),
        extra_tex=lambda wildcards, input: " ".join(p for p in input.tables if p.endswith(".tex")),
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
         for path in escape_paper.store_inputs(config, exp)],
    output:
        report(f"{PAPER_DIR}/summary.nc", caption="report/summary.rst", category="Escape"),
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
for paper_exp in escape_paper.figure_experiments(config):

    rule:
        name:
            f"paper_figure_{paper_exp}"
        input:
            stores=escape_paper.figure_inputs(config, paper_exp),
            fits=[f"{PAPER_DIR}/fits.nc"] if paper_exp == "F3" else [],
        output:
            pdf=report(f"{PAPER_DIR}/figures/{paper_exp}.pdf",
                       caption=f"report/{paper_exp}.rst", category="Escape"),
            png=report(f"{PAPER_DIR}/figures/{paper_exp}.png",
                       caption=f"report/{paper_exp}.rst", category="Escape"),
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
# its fit table and macros (exponents.py); paper_fits appends them to fits.csv and
# numbers.tex.
if F7_OUTPUTS:

    rule paper_f7:
        input:
            [path for exp in escape_exponents.f7_experiments(config)
             for path in escape_paper.store_inputs(config, exp)],
        output:
            pdf=report(F7_OUTPUTS[0], caption="report/F7.rst", category="Escape"),
            png=report(F7_OUTPUTS[1], caption="report/F7.rst", category="Escape"),
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
