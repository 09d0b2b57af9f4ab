"""The core of the pipeline, which knows no study: config loading and validation, the
study record and registry, cells and their specs, the Dask/SLURM runtime, atomic stores,
results paths, status, statistics, LaTeX numbers, figure saving and the command line.
A study (mediocrity.studies.<name>) plugs in through `study.Study`."""
