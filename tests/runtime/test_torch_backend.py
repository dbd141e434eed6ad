"""The torch backend (runtime/torch_backend.py): identical to the reference on CPU (random artefacts,
golden files, both sides of the 2^24 and 2^53 proofs, conv and linear), its device names, the
"auto" choice, sub-batching, and the precision switches it restores. The CUDA tests run only where
torch sees a GPU (benchmarks/check_cuda.py is the prepared GPU check)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from snnc.runtime import (
    Artefact, Conv, InputError, InputSpec, Linear, Neuron, Target, exactness_plan, load, simulate,
)
from snnc.runtime import backend as backend_mod
from snnc.runtime import torch_backend as tb
from snnc.runtime.backend import resolve_backend

from runtime_strategies import artefacts, batches

GOLDEN = Path(__file__).parent / "golden"
CPU = tb.torch_backend("cpu")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")


def assert_identical(ref, res):
    """counts, spikes, membranes, counts_at (keys, dtypes, shapes, values), outputs and predictions."""
    for field in ("counts", "spikes", "membranes"):
        x, y = getattr(ref, field), getattr(res, field)
        assert (x is None) == (y is None), field
        if x is not None:
            assert list(x) == list(y), field
            for k in x:
                assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, (field, k)
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{field}[{k}]")
    np.testing.assert_array_equal(ref.output_counts, res.output_counts)
    assert (ref.predictions is None) == (res.predictions is None)
    if ref.predictions is not None:
        np.testing.assert_array_equal(ref.predictions, res.predictions)
        np.testing.assert_array_equal(ref.logits, res.logits)
    for t in ref.counts_at or {}:
        for k in ref.counts_at[t]:
            np.testing.assert_array_equal(ref.counts_at[t][k], res.counts_at[t][k], err_msg=f"counts_at[{t}][{k}]")


def both(art, x, T, backend=CPU, counts_at=None, **kw):
    ref = simulate(art, x, T, trace=True, counts_at=counts_at, backend="reference")
    res = simulate(art, x, T, trace=True, counts_at=counts_at, backend=backend, **kw)
    assert res.backend == "torch"
    assert_identical(ref, res)
    return res


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_torch_cpu_identical_to_the_reference_on_random_artefacts(data):
    art = data.draw(artefacts())
    x = data.draw(batches(art.input))
    T = data.draw(st.integers(1, 5))
    both(art, x, T, counts_at=sorted(set(data.draw(st.lists(st.integers(1, T), max_size=2)))))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snn")), ids=lambda p: p.stem)
def test_torch_cpu_reproduces_the_golden_files(path):
    art = load(path)
    g = art.golden
    res = both(art, g.inputs, g.timesteps, counts_at=[1, g.timesteps])
    for name, counts in g.counts.items():
        np.testing.assert_array_equal(res.counts[name], counts, err_msg=name)
    if g.predictions is not None:
        np.testing.assert_array_equal(res.predictions, g.predictions)


def _wide(kind: str, fan_in: int, hi: int, input_bits: int, membrane_bits: int) -> Artefact:
    """One layer of all-ones weights on a current input: its membrane shows the exact current sum."""
    target = Target(membrane_bits=membrane_bits, overflow="saturate", fire="ge", threshold_bits=membrane_bits - 2,
                    bias_bits=8, weight_encoding="symmetric", input_bits=input_bits)
    neuron = Neuron([2 ** (membrane_bits - 2) - 1], [0], "zero", "zero")  # never reached
    if kind == "linear":
        layer = Linear("wide", ["input"], (1,), weight=np.ones((1, fan_in), np.int8), bits=2, neuron=neuron)
        return Artefact(InputSpec((fan_in,), "current", 0, hi), (layer,), target)
    layer = Conv("wide", ["input"], (1, 1, 1), weight=np.ones((1, fan_in, 1, 1), np.int8), bits=2, neuron=neuron)
    return Artefact(InputSpec((fan_in, 1, 1), "current", 0, hi), (layer,), target)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_both_sides_of_2_24_and_2_53(kind):
    """float32 up to bound 2^24 - 1; float64 for a sum of 2^24 + 1 (float32 would round it); int64
    (on the CPU, whatever the device) for 2^54 - 1 (float64 would round it)."""
    cases = [(255, 65793, 17, 30, np.float32, 65793, 2**24 - 1),
             (257, 65535, 16, 30, np.float64, 257, 2**24 + 1),
             (32, 2**49, 50, 60, np.int64, 2**49 - 1, 2**54 - 1)]
    for fan_in, hi, ib, m, dtype, last, total in cases:
        art = _wide(kind, fan_in, hi, ib, m)
        assert exactness_plan(art)["wide"].matmul_dtype == dtype
        x = np.full((1,) + art.input.shape, hi, np.int64)
        x.reshape(-1)[-1] = last
        res = both(art, x, 2)
        assert res.membranes["wide"].reshape(2)[0] == total


def test_sub_batches_give_the_same_results(monkeypatch):
    art = load(GOLDEN / "wrap_residual.snn")
    rng = np.random.default_rng(5)
    x = rng.integers(art.input.lo, art.input.hi + 1, size=(9,) + art.input.shape)
    whole = simulate(art, x, 7, trace=True, counts_at=[3], backend=CPU)
    monkeypatch.setattr(tb, "CPU_BUDGET", 1)  # one sample at a time
    assert CPU.sub_batch(art, 7, True) == 1
    assert_identical(whole, simulate(art, x, 7, trace=True, counts_at=[3], backend=CPU))


def test_device_names():
    assert tb.torch_backend("cpu") is CPU and CPU.device == torch.device("cpu")
    assert tb.torch_backend("auto") is tb.TORCH
    assert tb.TORCH.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="device 'tpu' is not one of auto, cpu, cuda, cuda:N"):
        tb.resolve_device("tpu")
    if not torch.cuda.is_available():
        art = load(GOLDEN / "rate_mlp.snn")
        with pytest.raises(InputError, match="device 'cuda': torch sees no CUDA device"):
            simulate(art, art.golden.inputs, 2, backend=tb.TorchBackend("cuda"))
        with pytest.raises(InputError, match="torch sees no CUDA device"):
            tb.resolve_device("cuda:1")


def test_auto_picks_torch_only_with_a_cuda_gpu(monkeypatch):
    assert resolve_backend("torch") == "torch"
    monkeypatch.setattr(backend_mod, "cuda_available", lambda: True)
    assert resolve_backend("auto") == "torch"
    monkeypatch.setattr(backend_mod, "cuda_available", lambda: False)
    assert resolve_backend("auto") == ("numba" if backend_mod.numba_available() else "numpy")
    monkeypatch.setattr(backend_mod, "torch_available", lambda: False)
    with pytest.raises(InputError, match="'torch' needs the torch package"):
        resolve_backend("torch")


def test_cuda_hidden_by_the_environment_means_no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    backend_mod.cuda_available.cache_clear()
    try:
        assert backend_mod.cuda_available() is False
    finally:
        backend_mod.cuda_available.cache_clear()


def test_tf32_settings_are_forced_off_while_running_and_restored():
    subs = [s for s in (torch.backends.cuda.matmul, getattr(torch.backends.mkldnn, "matmul", None))
            if s is not None and hasattr(s, "fp32_precision")]
    if not subs:
        pytest.skip("torch < 2.9: legacy precision switches only")
    saved = [s.fp32_precision for s in subs]
    seen = []
    real = tb._linear_currents

    def spy(*args):
        seen.append([s.fp32_precision for s in subs])
        return real(*args)

    try:
        for s in subs:
            s.fp32_precision = "tf32"
        art = load(GOLDEN / "rate_mlp.snn")
        tb._linear_currents = spy
        simulate(art, art.golden.inputs, 2, backend=CPU)
        assert seen and all(v == "ieee" for row in seen for v in row)
        assert [s.fp32_precision for s in subs] == ["tf32"] * len(subs)
    finally:
        tb._linear_currents = real
        for s, v in zip(subs, saved):
            s.fp32_precision = v


@pytest.mark.slow
def test_importing_the_runtime_does_not_import_torch():
    script = textwrap.dedent("""
        import sys
        import snnc.runtime as rt
        from snnc.runtime import backend
        backend.resolve_backend("auto")
        assert "torch" not in sys.modules or backend.cuda_available(), "torch imported"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


@CUDA
@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snn")), ids=lambda p: p.stem)
def test_cuda_identical_to_the_reference_on_the_golden_files(path):
    art = load(path)
    g = art.golden
    both(art, g.inputs, g.timesteps, backend=tb.torch_backend("cuda"), counts_at=[1, g.timesteps])


@CUDA
@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_cuda_identical_to_the_reference_on_random_artefacts(data):
    art = data.draw(artefacts())
    x = data.draw(batches(art.input))
    both(art, x, data.draw(st.integers(1, 5)), backend=tb.torch_backend("cuda"))
