"""snnc.runtime works with numpy alone: torch, onnx, yaml, numba and the compiler are blocked in a subprocess."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from numpy_only import PRELUDE

GOLDEN = Path(__file__).parent / "golden"

SCRIPT = PRELUDE + textwrap.dedent("""
    import numpy as np
    import snnc.runtime as rt
    art = rt.load(sys.argv[1])
    res = rt.simulate(art, art.golden.inputs, art.golden.timesteps, trace=True)
    assert res.backend == "numpy", res.backend  # backend "auto" falls back to numpy without numba
    assert rt.verify(art).ok
    try:
        rt.simulate(art, art.golden.inputs, 1, backend="numba")
        raise AssertionError("backend='numba' ran without numba")
    except rt.InputError as e:
        assert "numba" in str(e)
    leaked = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
    assert not leaked, leaked
    print("ok", int(res.output_counts.sum()))
""")


def test_runtime_imports_and_runs_with_numpy_only():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(GOLDEN / "lenet_host.snn")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")
