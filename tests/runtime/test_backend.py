"""Backend selection: auto picks numba when importable, names are checked, results say which backend ran;
and the three backends (numpy, numba, reference) return identical SimResults.

Each backend is also checked against the plain-Python reference where the results are checked
(test_fastsim, test_golden_files, test_exactness: every test there runs once per backend)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.runtime import (
    BACKENDS, Artefact, ArtefactError, InputError, InputSpec, Linear, Neuron, Target, load, simulate, verify,
)
from snnc.runtime.backend import get_backend, numba_available, resolve_backend, torch_available

from numpy_only import PRELUDE
from runtime_strategies import artefacts, batches

GOLDEN = Path(__file__).parent / "golden"
CONCRETE = ["numpy", "reference"] + (["numba"] if numba_available() else []) + (["torch"] if torch_available() else [])


def test_backend_names():
    assert BACKENDS == ("auto", "numpy", "numba", "reference", "torch")
    assert resolve_backend("reference") == "reference"
    for name in CONCRETE:
        assert get_backend(name).name == name
        assert get_backend(get_backend(name)) is get_backend(name)  # an object is used as given


def test_unknown_backend_is_an_input_error():
    art = load(GOLDEN / "rate_mlp.snn")
    with pytest.raises(InputError, match="backend: 'cuda' is not one of auto, numpy, numba, reference"):
        simulate(art, art.golden.inputs, 2, backend="cuda")


def assert_same_results(a, b):
    """Every field of two SimResults equal (np.array_equal, same dtypes and keys), but `backend`.
    Logits too: the host layer is the same code for every backend."""
    assert (a.timesteps, a.output_layer) == (b.timesteps, b.output_layer)
    for field in ("counts", "spikes", "membranes"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None), field
        if x is not None:
            assert list(x) == list(y), field
            for k in x:
                assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, (field, k)
                assert np.array_equal(x[k], y[k]), (field, k)
    for field in ("output_counts", "logits", "predictions"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None), field
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), field
    assert (a.counts_at is None) == (b.counts_at is None)
    for t in a.counts_at or {}:
        assert list(a.counts_at[t]) == list(b.counts_at[t])
        for k in a.counts_at[t]:
            assert np.array_equal(a.counts_at[t][k], b.counts_at[t][k]), (t, k)
        if a.predictions_at is not None:
            assert np.array_equal(a.predictions_at[t], b.predictions_at[t]), t


def assert_backends_agree(art, x, T, counts_at=None):
    results = {}
    for trace in (True, False):
        results = {name: simulate(art, x, T, trace=trace, counts_at=counts_at, backend=name) for name in CONCRETE}
        for name, res in results.items():
            assert res.backend == name
            assert_same_results(results["reference"], res)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snn")), ids=lambda p: p.stem)
def test_three_backends_identical_on_golden_files(path):
    art = load(path)
    g = art.golden
    res = assert_backends_agree(art, g.inputs, g.timesteps, counts_at=[1, g.timesteps])
    for name, counts in g.counts.items():  # and all of them equal to the stored vectors
        assert np.array_equal(res["reference"].counts[name], counts)
    assert verify(art, backend="reference").ok


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_three_backends_identical_on_random_artefacts(data):
    art = data.draw(artefacts())
    x = data.draw(batches(art.input))
    T = data.draw(st.integers(1, 5))
    assert_backends_agree(art, x, T, counts_at=sorted(set(data.draw(st.lists(st.integers(1, T), max_size=2)))))


def test_reference_refuses_what_the_others_refuse():
    """The shared checks run for the reference too: input range, NaN, counts_at."""
    art = load(GOLDEN / "rate_mlp.snn")
    x = art.golden.inputs
    for name in CONCRETE:
        with pytest.raises(InputError, match="outside the input range"):
            simulate(art, np.full_like(x, art.input.hi + 1, dtype=np.int64), 2, backend=name)
        with pytest.raises(InputError, match="NaN or infinity"):
            simulate(art, np.full(x.shape, np.nan), 2, backend=name)
        with pytest.raises(InputError, match="counts_at"):
            simulate(art, x, 2, counts_at=[3], backend=name)


def _edge_artefact(bias):
    """2^62 + bound + max|bias| with bound 2^62 - 1: covered (2^63 - 1) with bias 0, not with bias 1."""
    target = Target(membrane_bits=62, overflow="wrap", fire="ge", threshold_bits=62, bias_bits=2,
                    weight_encoding="symmetric", input_bits=62)
    layer = Linear("l", ["input"], (1,), weight=[[1]], bits=2, neuron=Neuron([2**62 - 1], [bias], "zero", "zero"))
    return Artefact(InputSpec((1,), "current", 0, 2**62 - 1), (layer,), target)


def test_covered_range_on_every_backend():
    """At the edge of the covered range (semantics.md section 8) all backends agree, wrapping at 62
    bits; one past it every backend refuses, the reference too (its Python ints could go on)."""
    assert_backends_agree(_edge_artefact(0), np.array([[2**62 - 1], [2**61]], np.int64), 3)
    for name in CONCRETE:
        with pytest.raises(ArtefactError, match="outside the covered range"):
            simulate(_edge_artefact(1), np.zeros((1, 1), np.int64), 1, backend=name)


def test_reference_backend_runs_with_numpy_only():
    script = PRELUDE + textwrap.dedent("""
        import snnc.runtime as rt
        art = rt.load(sys.argv[1])
        assert rt.verify(art, backend="reference").ok
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(GOLDEN / "rate_mlp.snn")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


def test_auto_prefers_numba_when_importable():
    assert resolve_backend("auto") == ("numba" if numba_available() else "numpy")
    assert resolve_backend("numpy") == "numpy"
    art = load(GOLDEN / "rate_mlp.snn")
    assert simulate(art, art.golden.inputs, 2).backend == resolve_backend("auto")
    assert simulate(art, art.golden.inputs, 2, backend="numpy").backend == "numpy"


def test_missing_numba_falls_back_or_raises(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    numba_available.cache_clear()
    try:
        assert resolve_backend("auto") == "numpy"
        with pytest.raises(InputError, match="pip install 'snnc\\[fast\\]'"):
            resolve_backend("numba")
    finally:
        monkeypatch.undo()
        numba_available.cache_clear()


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
def test_backends_agree_on_a_batch_larger_than_the_thread_count():
    """The golden cases have a few samples; this one spreads 37 samples over numba's parallel loop."""
    art = load(GOLDEN / "wrap_residual.snn")
    rng = np.random.default_rng(3)
    x = rng.integers(art.input.lo, art.input.hi + 1, size=(37,) + art.input.shape)
    a = simulate(art, x, 9, trace=True, backend="numpy")
    b = simulate(art, x, 9, trace=True, backend="numba", batch_size=16)
    for name in a.counts:
        np.testing.assert_array_equal(a.counts[name], b.counts[name], err_msg=name)
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name], err_msg=name)
    for name in a.membranes:
        np.testing.assert_array_equal(a.membranes[name], b.membranes[name], err_msg=name)


def test_cli_backend_choices_are_the_runtime_backends():
    """snnc run/verify --backend offers exactly BACKENDS (the option lists them literally today)."""
    pytest.importorskip("click")
    from snnc.compiler.cli.options import backend_option

    cmd = backend_option(lambda **kw: None)
    (param,) = cmd.__click_params__
    assert tuple(param.type.choices) == BACKENDS
