"""Shared fixtures of the CLI tests: a small calibration/test file cut from the shipped demo data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "examples/data/mnist_demo.npz"


@pytest.fixture(scope="module")
def demo_subset(tmp_path_factory):
    """make(n) -> path of an .npz with the first n calibration and test images (and labels)."""
    def make(n: int) -> Path:
        d = tmp_path_factory.mktemp("calib")
        with np.load(DEMO) as z:
            np.savez(d / "calib.npz", calib_x=z["calib_x"][:n], x=z["x"][:n], y=z["y"][:n], x_scale=z["x_scale"])
        return d / "calib.npz"
    return make
