"""--device auto: the least-loaded GPU that GPUtil reports and torch can use, else the CPU."""
from __future__ import annotations

import sys
import types

import pytest

torch = pytest.importorskip("torch")

from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.finetune.train import select_device  # noqa: E402


def gpu(i, load, mem):
    return types.SimpleNamespace(id=i, load=load, memoryUtil=mem)


@pytest.fixture
def fake_gputil(monkeypatch):
    mod = types.ModuleType("GPUtil")
    mod.gpus = []
    mod.getGPUs = lambda: mod.gpus
    monkeypatch.setitem(sys.modules, "GPUtil", mod)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return mod


def with_cuda(monkeypatch, count):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_no_gpu_is_cpu(fake_gputil):
    assert select_device("auto") == "cpu"  # GPUtil.getGPUs() == [] on this machine


def test_least_loaded_gpu_then_least_memory(fake_gputil, monkeypatch):
    with_cuda(monkeypatch, 3)
    fake_gputil.gpus = [gpu(0, 0.9, 0.1), gpu(1, 0.2, 0.8), gpu(2, 0.2, 0.3)]
    assert select_device("auto") == "cuda:2"


def test_visible_devices_are_renumbered(fake_gputil, monkeypatch):
    with_cuda(monkeypatch, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    fake_gputil.gpus = [gpu(0, 0.0, 0.0), gpu(1, 0.5, 0.5), gpu(3, 0.1, 0.1)]  # GPU 0 is not visible
    assert select_device("auto") == "cuda:0"  # physical GPU 3 is torch's cuda:0


def test_gputil_sees_gpus_but_torch_has_no_cuda(fake_gputil, monkeypatch):
    with_cuda(monkeypatch, 0)
    fake_gputil.gpus = [gpu(0, 0.0, 0.0)]
    assert select_device("auto") == "cpu"


def test_gputil_failure_is_cpu(fake_gputil):
    def boom():
        raise OSError("nvidia-smi not found")

    fake_gputil.getGPUs = boom
    assert select_device("auto") == "cpu"


def test_explicit_devices(fake_gputil, monkeypatch):
    assert select_device("cpu") == "cpu"
    with_cuda(monkeypatch, 0)
    with pytest.raises(SnncError, match="no CUDA device"):
        select_device("cuda:0")
    with_cuda(monkeypatch, 2)
    assert select_device("cuda") == "cuda:0" and select_device("cuda:1") == "cuda:1"
    with pytest.raises(SnncError, match="2 CUDA device"):
        select_device("cuda:5")
    with pytest.raises(SnncError, match="expected auto"):
        select_device("tpu")
