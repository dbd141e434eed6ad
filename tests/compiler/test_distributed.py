"""compiler.distributed: the map over work items, and eval split into configurations and data
shards giving the numbers of the single-process run (here, and on a local Ray instance)."""
from __future__ import annotations

from tiny_models import tiny_artefact

from pathlib import Path

import numpy as np
import pytest

from snnc.compiler import distributed
from snnc.compiler.backend.build import prepare
from snnc.compiler.data import Dataset, load_dataset
from snnc.compiler.distributed import Executor, shard_ranges
from snnc.compiler.errors import SnncError
from snnc.compiler.eval_run import eval_artefact, eval_model
from snnc.compiler.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
FITS = ROOT / "examples/models/lenet5_fits.onnx"
DEMO = ROOT / "examples/data/mnist_demo.npz"


class InProcessShards(Executor):
    """The distributed code path (configurations and shards as work items), run in this process."""

    @property
    def distributed(self) -> bool:
        return True

    def map(self, fn, items, *, shared=(), desc=""):
        self.calls = getattr(self, "calls", 0) + 1
        return [fn(*shared, item) for item in list(items)]


def _pow(k, x):
    return x ** k


def test_local_map_keeps_order_and_passes_shared():
    assert Executor().map(_pow, [3, 1, 2], shared=(2,)) == [9, 1, 4]
    assert not Executor().distributed and Executor("auto").distributed


@pytest.mark.parametrize("n,batch,per", [(0, 10, 2), (5, 10, 2), (45, 10, 2), (40, 10, 1), (7, 3, 100)])
def test_shards_are_whole_batches_covering_the_samples(n, batch, per):
    ranges = shard_ranges(n, batch, per)
    assert [i for a, b in ranges for i in range(a, b)] == list(range(n))
    assert all(a % batch == 0 and (b - a == batch * per or b == n) for a, b in ranges)


def test_missing_ray_is_one_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kw):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(SnncError, match="pip install ray"):
        Executor("auto").map(_pow, [1], shared=(2,))


def _tiny_artefact():
    """input (4,) rate coded -> linear 3 (spiking) -> host 2 classes, and 37 labelled samples."""
    art, x, y = tiny_artefact("rate", 37)
    return art, Dataset(x=x, y=y, scale=1 / 7, source="mem")


def test_sharded_evaluate_equals_one_pass():
    art, ds = _tiny_artefact()
    one = evaluate(art, ds, [3, 8], batch_size=4)
    ex = InProcessShards()
    split = evaluate(art, ds, [3, 8], batch_size=4, executor=ex, shard_batches=2)  # 5 shards of 8, 8, 8, 8, 5
    assert ex.calls == 1
    assert split.samples == one.samples and split.snn_acc == one.snn_acc and split.agreement == one.agreement
    for t in (3, 8):
        for attr in ("count_sums", "histograms"):
            a, b = getattr(one.activity[t], attr), getattr(split.activity[t], attr)
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
                assert a[k].dtype == b[k].dtype


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("seconds", "command")}


@pytest.fixture(scope="module")
def demo():
    test = load_dataset(str(DEMO), role="eval")
    calib = Dataset(x=np.load(DEMO)["calib_x"][:48], y=None, scale=test.scale, source="calib")
    return prepare(str(FITS)), calib, Dataset(x=test.x[:250], y=test.y[:250], scale=test.scale, source=test.source)


SWEEP = [("bits", [2, 4])]
OPTIONS = {"calibration": "off"}


@pytest.mark.slow
def test_sharded_sweep_equals_the_local_run(monkeypatch, demo):
    graph, calib, test = demo
    local = eval_model(graph, "hw_v1", None, OPTIONS, calib, test, [4, 8], sweep=SWEEP)
    monkeypatch.setattr(distributed, "Executor", lambda ray=None, progress=None: InProcessShards(ray))
    split = eval_model(graph, "hw_v1", None, OPTIONS, calib, test, [4, 8], sweep=SWEEP, ray="fake")
    assert _strip(split.result) == _strip(local.result)


@pytest.mark.slow
def test_per_t_compiles_as_work_items_equal_the_local_run(monkeypatch, demo):
    """--calibration auto with several T: one compile per (configuration, T) work item."""
    graph, calib, test = demo
    opts = {"calibration": "auto", "calib_samples": 32}
    local = eval_model(graph, "hw_v1", 4, opts, calib, test, [4, 8])
    assert local.result["compiled_per_timesteps"] is True
    monkeypatch.setattr(distributed, "Executor", lambda ray=None, progress=None: InProcessShards(ray))
    split = eval_model(graph, "hw_v1", 4, opts, calib, test, [4, 8], ray="fake")
    assert _strip(split.result) == _strip(local.result)


def test_sharded_artefact_eval_equals_the_local_run(monkeypatch):
    art, ds = _tiny_artefact()
    local = eval_artefact(art, ds, [3, 8])
    monkeypatch.setattr(distributed, "Executor", lambda ray=None, progress=None: InProcessShards(ray))
    split = eval_artefact(art, ds, [3, 8], ray="fake")
    assert _strip(split.result) == _strip(local.result)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _no_open_files(fn, items, *, shared=(), desc=""):
    """The local map, after checking that the datasets that would travel to Ray pickle (no open files)."""
    import pickle

    pickle.dumps([s for s in [*shared, *items] if isinstance(s, Dataset)])
    return [fn(*shared, item) for item in list(items)]


@pytest.mark.slow
def test_a_lazy_npz_calibration_set_travels_as_samples(monkeypatch):
    """load_dataset keeps a large .npz member lazy (an open file); the tasks get its samples."""
    graph = prepare(str(FITS))
    calib = load_dataset(str(DEMO), role="calib")
    test = load_dataset(str(DEMO), role="eval")
    test = Dataset(x=test.x[:20], y=test.y[:20], scale=test.scale, source=test.source)
    ex = InProcessShards()
    monkeypatch.setattr(ex, "map", _no_open_files)
    monkeypatch.setattr(distributed, "Executor", lambda ray=None, progress=None: ex)
    opts = {**OPTIONS, "calib_samples": 16}
    split = eval_model(graph, "hw_v1", 4, opts, calib, test, [4], ray="fake")
    local = eval_model(graph, "hw_v1", 4, opts, calib, test, [4])
    assert _strip(split.result) == _strip(local.result)


@pytest.mark.slow
def test_ray_equals_the_local_run(local_ray, demo, monkeypatch):
    """Configurations and data shards as Ray tasks on a local instance: the same numbers."""
    from snnc.compiler import evaluate as ev

    graph, calib, test = demo
    monkeypatch.setattr(ev, "SHARD_BATCHES", 1)  # 250 samples: 3 shards per configuration
    local = eval_model(graph, "hw_v1", None, OPTIONS, calib, test, [4, 8], sweep=SWEEP)
    on_ray = eval_model(graph, "hw_v1", None, OPTIONS, calib, test, [4, 8], sweep=SWEEP, ray="auto")
    assert _strip(on_ray.result) == _strip(local.result)
    assert [c["snn"] for c in on_ray.configs] == [c["snn"] for c in local.configs]
    art, ds = _tiny_artefact()
    assert _strip(eval_artefact(art, ds, [3, 8], ray="auto").result) == _strip(eval_artefact(art, ds, [3, 8]).result)
