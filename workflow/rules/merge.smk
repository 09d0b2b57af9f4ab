# Simulation cell stores -> the sweep store of each experiment (the data contract, mediocrity/store.py).


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
        "{MEDIOCRITY} merge --attrs {params.attrs:q} --engines {params.engines}"
        " --out {output:q} {input:q} > {log:q} 2>&1"
