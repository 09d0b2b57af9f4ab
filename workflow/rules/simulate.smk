# Fan-out: one job per (experiment, engine, d, p, gamma, noise, seed chunk), its seeds
# mapped over Dask inside it; one ODE job per experiment with ode: true (its whole grid:
# a fraction of a second per grid point).


rule warmup:
    output:
        touch(f"{RESULTS}/.warmup/numba.done"),
    log:
        f"{RESULTS}/logs/warmup.log",
    params:
        version=mediocrity.__version__,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    shell:
        "{MEDIOCRITY} warmup > {log:q} 2>&1"


rule simulate_cell:
    input:
        ancient(rules.warmup.output[0]),
    output:
        directory(f"{RESULTS}/{sweep.SIM_PATTERN}"),
    log:
        f"{RESULTS}/logs/{{experiment}}/{{engine}}/d{{d}}_p{{p}}_g{{gamma}}_n{{noise}}_s{{start}}-{{stop}}.log",
    params:
        spec=cell_spec,
    threads: cell_threads
    resources:
        mem_mb=2000,
        runtime=cell_runtime,
    shell:
        "{MEDIOCRITY} run-cell --spec {params.spec:q} --threads {threads} "
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
        spec=lambda wildcards: sweep.spec_json(sweep.ode_spec(config, wildcards.experiment)),
        attrs=store_attrs,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "{MEDIOCRITY} ode --spec {params.spec:q} --attrs {params.attrs:q} --out {output:q}"
        " > {log:q} 2>&1"
