# Per-experiment measurements: exit times of every run, of the ODE, and the theory.


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
        "{MEDIOCRITY} exit-times --sweep {input.sweep:q} {params.ode} --out {output:q}"
        " > {log:q} 2>&1"
