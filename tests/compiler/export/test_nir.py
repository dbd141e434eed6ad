"""NIR export and import (snnc.compiler.export.nir, `snnc export`): export -> import gives the
byte-identical artefact; the NIR fields say what NIR can say; a corrupt graph is an SnncError
naming the node; a reader (snnTorch's neurons on nirtorch) reproduces the counts where the
semantics coincide (docs/nir.md)."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import dataclasses

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.compiler.errors import SnncError
from snnc.runtime import Add, Artefact, Conv, InputSpec, Neuron, Target, load, make_golden, save, verify

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests/runtime/golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.snn"))
NO_NIR = ("hybrid_host", "poisson_conv", "population_conv", "ttfs_conv")  # refused by name (tested below)
GOLDEN_FILES = [p for p in GOLDEN_FILES if p.stem not in NO_NIR]
LENET = ROOT / "examples/models/lenet5_mnist.onnx"
DEMO = ROOT / "examples/data/mnist_demo.npz"


def snnc(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="snnc", catch_exceptions=False)


def bytes_after_round_trip(art: Artefact, tmp_path: Path, name: str = "back.snn") -> bytes:
    from snnc.compiler.export.nir import from_nir, to_nir

    save(from_nir(to_nir(art)), tmp_path / name)
    return (tmp_path / name).read_bytes()


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_files_round_trip_byte_identical(path, tmp_path):
    """Every layer kind, current and rate input, NHWC, wrap, grouped conv, add, concat, host."""
    pytest.importorskip("nir")
    from snnc.compiler.export.nir import read_nir, write_nir

    assert bytes_after_round_trip(load(path), tmp_path) == path.read_bytes()  # in memory
    write_nir(path, tmp_path / "m.nir")  # through the HDF5 file
    save(read_nir(tmp_path / "m.nir"), tmp_path / "file.snn")
    assert (tmp_path / "file.snn").read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_compiled_lenet_round_trips_through_the_cli(tmp_path):
    pytest.importorskip("nir")
    art = tmp_path / "lenet.snn"
    res = snnc("compile", LENET, "--bits", "4", "--calib", DEMO, "--calib-samples", "32", "-T", "4", "-o", art, "-q")
    assert res.exit_code == 0, res.output
    res = snnc("export", art, "--nir", tmp_path / "lenet.nir")
    assert res.exit_code == 0, res.output
    res = snnc("export", "--from-nir", tmp_path / "lenet.nir", "--out", tmp_path / "back.snn")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "back.snn").read_bytes() == art.read_bytes()
    assert verify(load(tmp_path / "back.snn")).ok


@pytest.mark.slow
def test_compiled_residual_add_round_trips(tmp_path):
    pytest.importorskip("nir")
    torch = pytest.importorskip("torch")

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.c2 = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.head = torch.nn.Sequential(torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 3))

        def forward(self, x):
            a = torch.relu(self.c1(x))
            return self.head(torch.relu(a + torch.relu(self.c2(a))))

    torch.manual_seed(0)
    model = tmp_path / "res.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Residual().eval(), (torch.zeros(1, 1, 8, 8),), str(model), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"])
    art = tmp_path / "res.snn"
    res = snnc("compile", model, "--bits", "4", "-T", "4", "-o", art, "-q")
    assert res.exit_code == 0, res.output
    assert "add" in {layer.kind for layer in load(art).layers}
    assert bytes_after_round_trip(load(art), tmp_path) == art.read_bytes()


# ---------------------------------------------------------------- what the NIR nodes say

def test_nir_nodes_carry_the_integer_semantics():
    nir = pytest.importorskip("nir")
    from snnc.compiler.export.nir import to_nir

    art = load(GOLDEN / "lenet_host.snn")
    g = to_nir(art)
    conv1 = art.layer("conv1")
    syn, neuron = g.nodes["conv1.conv"], g.nodes["conv1"]
    assert isinstance(syn, nir.Conv2d) and isinstance(neuron, nir.IF)
    assert np.array_equal(syn.weight, conv1.weight) and syn.weight.dtype == np.float32
    assert np.array_equal(syn.bias, conv1.neuron.bias) and tuple(syn.padding) == (1, 1)
    assert np.all(neuron.r == 1) and np.all(neuron.v_threshold == 300) and np.all(neuron.v_reset == 0)
    meta = neuron.metadata["snnc"]
    assert (meta["kind"], meta["bits"], meta["reset"], meta["v_init"]) == ("conv", 2, "subtract", "half")
    assert (meta["membrane_bits"], meta["overflow"], meta["fire"]) == (12, "saturate", "ge")
    assert list(meta["threshold"]) == [300] and list(meta["bias"]) == list(conv1.neuron.bias)
    conv2 = g.nodes["conv2"]  # per-channel thresholds, spread over (C, H, W)
    assert conv2.v_threshold.shape == (6, 4, 4) and list(conv2.v_threshold[:, 0, 0]) == [2, 3, 2, 4, 1, 2]
    assert isinstance(g.nodes["pool1.pool"], nir.SumPool2d) and isinstance(g.nodes["flat"], nir.Flatten)
    assert isinstance(g.nodes["head"], nir.Affine) and g.nodes["head"].metadata["snnc"]["placement"] == "host"
    inp = g.nodes["input"].metadata["snnc"]
    assert (inp["encoding"], inp["lo"], inp["hi"], inp["input_bits"]) == ("current", 0, 255, 8)
    assert set(g.metadata["snnc"]) >= {"target", "hardware_spec", "provenance", "layers", "golden"}


def test_add_concat_and_rate_input_nodes():
    nir = pytest.importorskip("nir")
    from snnc.compiler.export.nir import to_nir

    g = to_nir(load(GOLDEN / "wrap_residual.snn"))
    assert [float(np.unique(g.nodes[f"res.in{k}"].scale)[0]) for k in (0, 1)] == [2.0, -1.0]
    assert {("c1", "res.in0"), ("c2", "res.in1"), ("res.in0", "res"), ("res.in1", "res")} <= set(g.edges)
    assert isinstance(g.nodes["cat"], nir.Scale) and g.nodes["cat.in1"].weight.shape == (8, 4, 1, 1)
    assert g.nodes["c1.conv"].weight.shape == (4, 2, 3, 3)  # grouped conv written dense, groups in metadata
    assert g.nodes["c1"].metadata["snnc"]["groups"] == 2
    g = to_nir(load(GOLDEN / "rate_mlp.snn"))
    enc = g.nodes["input.rate"]
    assert isinstance(enc, nir.IF) and np.all(enc.v_threshold == 15) and ("input", "input.rate") in g.edges
    assert ("input.rate", "h1.linear") in g.edges


def test_synaptic_conv_and_per_channel_multipliers(tmp_path):
    """The fused residual layer's parts: a conv without neurons is a bare Conv2d whose current
    feeds the add's Scale; a per-channel multiplier is a Scale that varies along the channels."""
    nir = pytest.importorskip("nir")
    from snnc.compiler.export.nir import read_nir, to_nir, write_nir

    t = Target(membrane_bits=10, overflow="saturate", fire="ge", threshold_bits=9, bias_bits=6,
               weight_encoding="symmetric", input_bits=4)
    rng = np.random.default_rng(0)
    art = Artefact(InputSpec((2, 4, 4), "current", 0, 15), (
        Conv("c1", ["input"], (3, 4, 4), weight=rng.integers(-1, 2, (3, 2, 3, 3)), bits=2, padding=(1, 1, 1, 1),
             neuron=Neuron([3], [0, 1, -1])),
        Conv("syn", ["c1"], (3, 4, 4), weight=rng.integers(-3, 4, (3, 3, 3, 3)), bits=3, padding=(1, 1, 1, 1),
             neuron=None),
        Add("block", ["syn", "c1"], (3, 4, 4), multipliers=[[4, 2, 3], 5], neuron=Neuron([20, 24, 30], [2, -3, 0])),
    ), t, {"name": "t"}, {"builder": "test"})
    art = make_golden(art, rng.integers(0, 16, (2, 2, 4, 4)), 6)
    g = to_nir(art)
    assert isinstance(g.nodes["syn"], nir.Conv2d) and "syn.conv" not in g.nodes
    assert ("syn", "block.in0") in g.edges
    assert list(g.nodes["block.in0"].scale[:, 0, 0]) == [4, 2, 3] and np.all(g.nodes["block.in1"].scale == 5)
    save(art, tmp_path / "a.snn")
    write_nir(tmp_path / "a.snn", tmp_path / "a.nir")
    save(read_nir(tmp_path / "a.nir"), tmp_path / "b.snn")
    assert (tmp_path / "b.snn").read_bytes() == (tmp_path / "a.snn").read_bytes()
    g.nodes["block.in0"].scale[1, 2, 2] = 7  # no longer one multiplier per channel
    assert "NIR node 'block.in0': scale is not one multiplier per input channel" in _import_error(g)


# ---------------------------------------------------------------- refusals: a clear error naming the node

@pytest.fixture
def graph():
    pytest.importorskip("nir")
    from snnc.compiler.export.nir import to_nir

    return to_nir(load(GOLDEN / "lenet_host.snn"))


def _import_error(graph) -> str:
    from snnc.compiler.export.nir import from_nir

    with pytest.raises(SnncError) as info:
        from_nir(graph)
    return str(info.value)


def test_a_threshold_edited_in_nir_only_is_refused(graph):
    graph.nodes["conv2"].v_threshold = graph.nodes["conv2"].v_threshold + 1
    assert "NIR node 'conv2': v_threshold does not match the metadata's exact threshold" in _import_error(graph)


def test_non_integer_weights_are_refused(graph):
    graph.nodes["fc1.linear"].weight = graph.nodes["fc1.linear"].weight + 0.5
    assert "NIR node 'fc1.linear': weight: expected integer values" in _import_error(graph)


def test_weights_outside_their_bits_are_refused(graph):
    graph.nodes["fc1.linear"].weight = graph.nodes["fc1.linear"].weight * 3
    msg = _import_error(graph)
    assert "invalid (each layer is the NIR node of its name): layer 'fc1': weight" in msg


def test_missing_extra_and_rewired_nodes_are_refused(graph):
    import nir

    del graph.nodes["pool2.pool"]
    assert "NIR node 'pool2.pool': is missing" in _import_error(graph)
    from snnc.compiler.export.nir import to_nir

    g = to_nir(load(GOLDEN / "lenet_host.snn"))
    g.nodes["stray"] = nir.Scale(scale=np.ones(3))
    assert "NIR node 'stray': is not part of any snnc layer" in _import_error(g)
    g = to_nir(load(GOLDEN / "lenet_host.snn"))
    g.edges.append(("pool1", "fc1"))
    assert "NIR node 'fc1': has 2 incoming edge(s), expected 1" in _import_error(g)


def test_bad_metadata_is_refused(graph):
    graph.nodes["conv1"].metadata["snnc"]["reset"] = "sideways"
    assert "layer 'conv1': reset: 'sideways' is not one of" in _import_error(graph)
    graph.nodes["conv1"].metadata["snnc"]["reset"] = "subtract"
    del graph.nodes["conv1"].metadata["snnc"]["bits"]
    assert "NIR node 'conv1': metadata snnc.bits is missing" in _import_error(graph)


def test_a_graph_not_written_by_snnc_is_refused():
    nir = pytest.importorskip("nir")
    g = nir.NIRGraph.from_list(nir.Affine(weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32)),
                               nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)))
    assert "only graphs written by snnc export --nir can be imported" in _import_error(g)


def test_corrupt_files_are_refused(tmp_path):
    pytest.importorskip("nir")
    import h5py
    from snnc.compiler.export.nir import read_nir, write_nir

    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(SnncError, match="not a readable NIR file"):
        read_nir(junk)
    path = write_nir(GOLDEN / "doc_example.snn", tmp_path / "m.nir")
    with h5py.File(path, "r+") as f:  # a weight scaled past its 2-bit range, in the file
        w = f["node/nodes/fc1.linear/weight"]
        w[...] = w[()] * 4
    with pytest.raises(SnncError, match=r"m.nir: the artefact it describes is invalid .* layer 'fc1': weight"):
        read_nir(path)


def test_asymmetric_padding_cannot_be_exported(tmp_path):
    pytest.importorskip("nir")
    from snnc.compiler.export.nir import to_nir

    t = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    art = Artefact(InputSpec((1, 4, 4), "current", 0, 255), (
        Conv("c", ["input"], (2, 4, 4), weight=np.ones((2, 1, 2, 2), np.int8), bits=2, padding=(0, 0, 1, 1),
             neuron=Neuron([3], [0, 0])),), t)
    with pytest.raises(SnncError, match=r"layer 'c': padding \[0, 0, 1, 1\] .* is asymmetric"):
        to_nir(art)
    save(make_golden(art, np.zeros((1, 1, 4, 4), np.uint8), 2), tmp_path / "a.snn")
    res = snnc("export", tmp_path / "a.snn", "--nir", tmp_path / "a.nir")
    assert res.exit_code == 2 and "asymmetric" in res.stderr and not (tmp_path / "a.nir").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".a.nir")]  # no temporary left behind


# ---------------------------------------------------------------- CLI

def test_cli_without_nir_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)  # `import nir` raises ImportError
    res = snnc("export", GOLDEN / "doc_example.snn", "--nir", tmp_path / "m.nir")
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and "pip install nir" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "m.nir").exists()


def test_cli_usage_errors(tmp_path):
    for args in ([], [GOLDEN / "doc_example.snn"], ["--from-nir", tmp_path / "x.nir"],
                 [GOLDEN / "doc_example.snn", "--from-nir", tmp_path / "x.nir", "--out", tmp_path / "y.snn"]):
        res = snnc("export", *args)
        assert res.exit_code == 2 and res.stderr.startswith("error: "), (args, res.output)
    pytest.importorskip("nir")
    res = snnc("export", "--from-nir", GOLDEN / "doc_example.snn", "--out", tmp_path / "y.snn")
    assert res.exit_code == 2 and "not a readable NIR file" in res.stderr and not (tmp_path / "y.snn").exists()
    res = snnc("export", GOLDEN / "doc_example.snn", "--nir", tmp_path / "missing_dir" / "m.nir")
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_cli_round_trip(tmp_path):
    pytest.importorskip("nir")
    src = GOLDEN / "wrap_residual.snn"
    res = snnc("export", src, "--nir", tmp_path / "m.nir")
    assert res.exit_code == 0 and "wrote" in res.output
    res = snnc("export", "--from-nir", tmp_path / "m.nir", "--out", tmp_path / "m.snn")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.snn").read_bytes() == src.read_bytes()


# ---------------------------------------------------------------- another NIR reader: snnTorch

@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_snntorch_reproduces_the_counts_where_the_semantics_coincide(reset):
    """fire gt, v_init zero, no saturation, current input: snnTorch's Leaky (beta = 1,
    reset_delay=True) on nirtorch's executor, reading only NIR fields, gives snnc's counts."""
    for mod in ("nir", "torch", "nirtorch", "snntorch"):
        pytest.importorskip(mod)
    from nir_readers import agreement, residual_artefact

    x = np.random.default_rng(1).integers(0, 16, (3, 1, 8, 8))
    result = agreement(residual_artefact(reset), x, 8, reset)
    assert result == {name: 1.0 for name in result}, result


def test_a_hybrid_artefact_is_refused_by_name():
    pytest.importorskip("nir")
    from pathlib import Path

    from snnc.compiler.errors import SnncError
    from snnc.compiler.export.nir import to_nir
    from snnc.runtime import load

    art = load(Path(__file__).parents[2] / "runtime" / "golden" / "hybrid_host.snn")
    with pytest.raises(SnncError, match="kind '(maxpool|host_op)'"):
        to_nir(art)
    layers = tuple(dataclasses.replace(x, inputs=("c0",)) if x.name == "h_conv" else x
                   for x in art.layers if x.kind == "host_op" or x.name == "c0")  # the core part without the max pool
    host_only = dataclasses.replace(art, layers=layers, golden=None)
    with pytest.raises(SnncError, match="'h_conv'.*hybrid"):
        to_nir(host_only)


@pytest.mark.parametrize("name", ["poisson_conv", "population_conv", "ttfs_conv"])
def test_spike_generating_input_encodings_are_refused(name):
    pytest.importorskip("nir")
    from pathlib import Path

    from snnc.compiler.errors import SnncError
    from snnc.compiler.export.nir import to_nir
    from snnc.runtime import load

    with pytest.raises(SnncError, match="input encoding"):
        to_nir(load(Path(__file__).parents[2] / "runtime" / "golden" / f"{name}.snn"))
