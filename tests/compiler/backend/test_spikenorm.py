"""Spike-Norm with bounded memory (issue 18, item 4): the scales equal those of one simulation of the
whole network on all samples (the implementation before the fix, kept here as the reference), only
the prefix feeding the balanced layer is simulated, and the samples are chunked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc import runtime
from snnc.compiler.backend import spikenorm as sn
from snnc.compiler.backend.build import prepare
from snnc.compiler.backend.normalize import NORMALIZERS, NormInputs
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.backend.plan import plan_stages
from snnc.compiler.backend.scales import input_unit, walk
from snnc.compiler.backend.steps import calibrate
from snnc.compiler.data import load_dataset
from snnc.compiler.ir.interpret import KERNELS
from snnc.hwspec import load_spec
from snnc.runtime.encode import rate_spikes

ROOT = Path(__file__).resolve().parents[3]


def _inputs(encoding: str, samples: int = 12) -> NormInputs:
    graph = prepare(ROOT / "examples" / "models" / "lenet5_mnist.onnx")
    spec = load_spec("hw_v1")
    data = load_dataset(ROOT / "examples" / "data" / "mnist_demo.npz", role="calib")
    opts = CompileOptions(bits=4, timesteps=6, norm="spikenorm", input_encoding=encoding, calib_samples=samples)
    plan = plan_stages(graph, spec)
    stats, input_range = calibrate(graph, spec, opts, data, plan=plan)
    return NormInputs(plan, spec, opts, stats, input_range, data)


def _reference(ni: NormInputs, samples: int) -> dict[str, float]:
    """The pre-fix implementation: the whole network simulated with full traces on all samples."""
    from snnc.compiler.backend.lower import lower

    graph, opts = ni.plan.graph, ni.opts
    lo, hi, s_in = ni.input_range
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    x = ni.calib.take(min(samples, len(ni.calib)), shape)
    x_int = np.clip(np.rint(x / s_in), lo, hi)
    fallback = NORMALIZERS["percentile"](ni)
    scales: dict[str, float] = {}
    layer_of = {graph.inputs[0]: "input"}
    layer_of.update({st.output: ni.plan.names[st.name] for st in ni.plan})

    def out(st, lam_in):
        if st.kind == "add":
            lam = ni.stats[st.output].maximum
        else:
            src = layer_of[st.inputs[0]]
            if src == "input":
                if opts.input_encoding == "current":
                    s = x_int[:, None]
                else:
                    spec_in = runtime.model.InputSpec(shape=shape, encoding="rate", lo=lo, hi=hi, scale=s_in)
                    s = np.moveaxis(rate_spikes(spec_in, x_int.astype(np.int64), opts.timesteps), 0, 1)
            else:
                art = lower(ni.plan, ni.spec, opts, {**fallback, **scales}, ni.input_range).artefact
                s = runtime.simulate(art, x, opts.timesteps, trace=True).spikes[src]
            flat = s.reshape((-1,) + s.shape[2:]).astype(np.float64)
            v_th = float(KERNELS[st.node.op](st.node, [flat]).max())
            lam = lam_in[0] * v_th if v_th > 0 else lam_in[0]
        scales[st.output] = lam
        return lam

    walk(ni.plan, input_unit(opts.input_encoding, hi, s_in), out)
    return scales


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["current", "rate"])
def test_scales_equal_one_whole_simulation_in_any_chunking(monkeypatch, encoding):
    ni = _inputs(encoding)
    monkeypatch.setattr(sn, "SAMPLES", 12)
    want = _reference(ni, 12)
    assert sn.spikenorm_scales(ni) == want
    monkeypatch.setattr(sn, "MEMORY_BUDGET", 1)  # one sample per chunk
    assert sn.spikenorm_scales(ni) == want


def test_only_the_prefix_is_simulated_in_bounded_chunks(monkeypatch):
    ni = _inputs("current")
    monkeypatch.setattr(sn, "SAMPLES", 12)
    monkeypatch.setattr(sn, "MEMORY_BUDGET", 1)
    calls = []
    real = runtime.simulate

    def spy(art, x, timesteps, **kw):
        calls.append((len(art.layers), art.host is None, x.shape[0], kw.get("trace")))
        return real(art, x, timesteps, **kw)

    monkeypatch.setattr(sn.runtime, "simulate", spy)
    sn.spikenorm_scales(ni)
    full = len(list(ni.plan))
    assert calls and all(host_less and n < full and b == 1 and trace for n, host_less, b, trace in calls)
    lengths = [n for n, *_ in calls]
    assert len(lengths) == 12 * len(set(lengths))  # one prefix per balanced layer, 12 one-sample chunks each


def test_chunk_size_follows_the_budget():
    assert sn._chunk(sn.MEMORY_BUDGET * 10) == 1
    assert sn._chunk(1 << 20) == sn.MEMORY_BUDGET // (1 << 20)
