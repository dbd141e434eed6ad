"""The simulator backends every equivalence test runs on: each is checked against the same plain-Python
reference and golden files. numba's parameter is skipped only where numba is not installed."""
import pytest

from snnc.runtime.backend import numba_available

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not numba_available(), reason="numba not installed"))]
over_backends = pytest.mark.parametrize("backend", BACKENDS)
