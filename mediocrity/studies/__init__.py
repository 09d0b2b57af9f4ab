"""The studies: one package each, plugged into the core by its `STUDY` record
(mediocrity.pipeline.study). The registry of the built-in studies, in the order their
outputs, status lines and fit rows appear:"""

BUILTIN = ("mediocrity.studies.escape", "mediocrity.studies.margins")
