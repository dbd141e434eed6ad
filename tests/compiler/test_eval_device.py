"""`snnc eval --device`: the simulator each device maps to, and the same numbers on the CPU."""
from __future__ import annotations

from tiny_models import tiny_artefact

import json

import numpy as np
import pytest
from click.testing import CliRunner

from snnc import runtime
from snnc.compiler.cli.main import cli
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.eval_run import device_backend, eval_artefact
from snnc.runtime.backend import numba_available


def _artefact_and_data(n: int = 30):
    return tiny_artefact("current", n)


def test_device_names_map_to_backends():
    assert device_backend("auto") == "auto"
    assert device_backend("cpu") == ("numba" if numba_available() else "numpy")
    for bad in ("gpu", "cuda:x", ""):
        with pytest.raises(SnncError, match="expected auto, cpu, cuda or cuda:N"):
            device_backend(bad)


@pytest.mark.slow  # imports torch
def test_cuda_maps_to_the_torch_backend_on_that_device():
    tb = pytest.importorskip("snnc.runtime.torch_backend")
    b = device_backend("cuda:1")
    assert isinstance(b, tb.TorchBackend) and "cuda:1" in repr(b)


def test_cpu_gives_the_numbers_of_the_default():
    art, x, y = _artefact_and_data()
    ds = Dataset(x=x, y=y, scale=1 / 7, source="mem")
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    default = eval_artefact(art, ds, [3, 8]).result
    for backend in (device_backend("cpu"), "numpy"):
        assert strip(eval_artefact(art, ds, [3, 8], backend=backend).result) == strip(default)


def test_cli_device_cpu_equals_default(tmp_path):
    art, x, y = _artefact_and_data()
    runtime.save(art, tmp_path / "m.snn")
    np.savez(tmp_path / "d.npz", x=x, y=y, x_scale=1 / 7)
    run = lambda *extra: CliRunner().invoke(cli, ["eval", str(tmp_path / "m.snn"), "--data", str(tmp_path / "d.npz"),  # noqa: E731
                                                  "-T", "3,8", "--format", "json", "-q", *extra])
    a, b = run(), run("--device", "cpu")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    for j in (ja, jb):
        j.pop("seconds"), j.pop("command")
    assert ja == jb
    bad = run("--device", "tpu")
    assert bad.exit_code == 2 and "expected auto, cpu, cuda or cuda:N" in bad.output
