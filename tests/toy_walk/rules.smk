# The toy study's rules: cells -> sweep.zarr -> figure, each step `python -m toy_walk`.
import toy_walk

TOY_CELLS = study_cells("toy", toy_walk.PATTERN)
TOY = f"{shlex.quote(sys.executable)} -m toy_walk"


rule toy_cell:
    output:
        directory(f"{RESULTS}/{toy_walk.PATTERN}"),
    wildcard_constraints:
        experiment=study_names("toy"),
    params:
        spec=lambda w: cells.spec_json(TOY_CELLS.spec(TOY_CELLS.of(w))),
    shell:
        "{TOY} cell {params.spec:q} {output:q}"


rule toy_merge:
    input:
        lambda w: [c.path(RESULTS) for c in toy_walk.experiment_cells(config, w.experiment)],
    output:
        directory(experiment_store("{experiment}", "sweep")),
    wildcard_constraints:
        experiment=study_names("toy"),
    shell:
        "{TOY} merge {output:q} {input:q}"


rule toy_figure:
    input:
        experiment_store("{experiment}", "sweep"),
    output:
        paths.paper(RESULTS, "figures/{experiment}.png"),
    wildcard_constraints:
        experiment=study_names("toy"),
    shell:
        "{TOY} figure {input:q} {output:q}"
