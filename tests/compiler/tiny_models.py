"""A tiny artefact with labelled data, for the evaluation tests (distributed, device)."""
from __future__ import annotations

import numpy as np

from snnc.runtime import model as rt


def tiny_artefact(encoding: str = "rate", n: int = 37):
    """input (4,) -> linear 3 (spiking) -> host 2 classes; n labelled uint8 samples: (art, x, y)."""
    target = rt.Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=8,
                       weight_encoding="symmetric", input_bits=4)
    w = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, -1, -1]], np.int8)
    art = rt.Artefact(
        input=rt.InputSpec(shape=(4,), encoding=encoding, lo=0, hi=7, scale=1 / 7),
        layers=(rt.Linear(name="fc", inputs=["input"], output_shape=(3,), weight=w, bits=2,
                          neuron=rt.Neuron(threshold=[7], bias=[0, 0, 0], reset="subtract", v_init="zero")),
                rt.HostLinear(name="host", inputs=["fc"], output_shape=(2,),
                              weight=np.array([[1, -1, 0], [-1, 1, 0]], np.float32), bias=np.zeros(2, np.float32))),
        target=target)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, size=(n, 4)).astype(np.uint8)
    y = (x[:, 1] + x[:, 3] > x[:, 0] + x[:, 2]).astype(np.int64)
    return art, x, y


def normalized(g, spec, opts, x):
    """(plan, input range, λ of every spiking stage) of graph `g` calibrated on inputs `x`, as
    compile's plan, calibrate and normalize steps give them with `--calibration off`."""
    from snnc.compiler.backend.calibrate import collect
    from snnc.compiler.backend.lower import input_quantization, quantize_input
    from snnc.compiler.backend.normalize import NORMALIZERS, NormInputs
    from snnc.compiler.backend.plan import plan_stages
    from snnc.compiler.backend.scales import spiking_outputs

    rng_in = input_quantization(spec, opts, 0.0, 1.0)
    plan = plan_stages(g, spec)
    stats = collect(g, spiking_outputs(plan), lambda: iter([quantize_input(x, *rng_in)]))
    return plan, rng_in, NORMALIZERS[opts.norm](NormInputs(plan, spec, opts, stats, rng_in, None))
