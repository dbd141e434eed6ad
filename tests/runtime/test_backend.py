"""Backend selection: auto picks numba when importable, names are checked, results say which backend ran.

Equality of the backends is tested where the results are checked (test_fastsim, test_golden_files,
test_exactness: every test there runs once per backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.runtime import InputError, load, simulate
from snnc.runtime.backend import numba_available, resolve_backend

GOLDEN = Path(__file__).parent / "golden"


def test_unknown_backend_is_an_input_error():
    art = load(GOLDEN / "rate_mlp.snn")
    with pytest.raises(InputError, match="backend: 'cuda' is not one of auto, numpy, numba"):
        simulate(art, art.golden.inputs, 2, backend="cuda")


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
