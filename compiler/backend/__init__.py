"""The back end: from a canonical IR graph to a verified artefact (docs/architecture.md).

    options.py    CompileOptions (every option, defined once)
    plan.py       the stage plan: the back end's IR, with placement from the check's rules
    calibrate.py  streaming activation statistics
    normalize.py  normalizers (max, percentile, spikenorm, data-free), a registry
    scales.py     the one λ walk
    quantize.py   weight/bias quantization
    emit.py       one emitter per stage kind
    lower.py      plan -> artefact layers + the quantized ANN
    steps.py      the named steps of a build, with hooks and dumps
    build.py      compile_graph / compile_model
"""
