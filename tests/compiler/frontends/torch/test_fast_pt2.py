"""The fast `.pt2` reader (`serialized.py`, no torch) against the torch route (`torch.export.load`):
the same program, the same IR (nodes, attributes, bit-identical parameters), the same `snnc
check` reports and `snnc compile` artefacts; what it does not understand goes to torch."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli
from snnc.compiler.errors import ImportErrorModel, UnsupportedOpsError
from snnc.compiler.frontends.torch import exported, loader, registry, serialized
from snnc.compiler.frontends.torch.loader import load_pt2
from snnc.compiler.frontends.torch.pickle_scan import check_plain_tensors
from snnc.compiler.frontends.torch.program import PNode, TensorMeta
from snnc.compiler.frontends.torch.schemas import SCHEMAS

from .conftest import ZOO, example, make, nn, torch

ROOT = Path(__file__).resolve().parents[4]
SHIPPED = sorted((ROOT / "examples" / "models").glob("*.pt2"))
MNIST = ROOT / "examples" / "data" / "mnist_demo.npz"


def assert_same_ir(a, b):
    assert (a.name, a.inputs, a.outputs) == (b.name, b.inputs, b.outputs)
    assert a.meta == b.meta
    assert {k: v.shape for k, v in a.values.items()} == {k: v.shape for k, v in b.values.items()}
    assert [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in a.nodes] == \
           [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in b.nodes]
    for na, nb in zip(a.nodes, b.nodes):
        assert sorted(na.params) == sorted(nb.params), na.name
        for k in na.params:
            pa, pb = na.params[k], nb.params[k]
            assert (pa.dtype, pa.shape) == (pb.dtype, pb.shape), (na.name, k)
            assert pa.tobytes() == pb.tobytes(), f"{na.name}.{k} differs"


def _plain(v):
    """A program value with nodes by name and torch tensors as numpy, for comparison."""
    if isinstance(v, PNode):
        return ("node", v.name)
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_plain(x) for x in v])
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def assert_same_program(fast, ref):
    """Node by node: what the converters can see of the two readers' programs."""
    assert [(n.name, n.op, n.key) for n in fast.nodes] == [(n.name, n.op, n.key) for n in ref.nodes]
    for f, r in zip(fast.nodes, ref.nodes):
        assert _plain(f.bound) == _plain(r.bound), f.name
        assert _plain(f.args) == _plain(r.args) and _plain(f.kwargs) == _plain(r.kwargs), f.name
        assert f.meta.get("val") == r.meta.get("val"), f.name
        assert f.meta.get("nn_module_stack") == r.meta.get("nn_module_stack"), f.name
        assert f.meta.get("stack_trace") == r.meta.get("stack_trace"), f.name
    assert fast.input_specs == ref.input_specs and fast.output_kinds == ref.output_kinds
    assert _plain(fast.outputs) == _plain(ref.outputs)
    assert sorted(fast.state) == sorted(ref.state)
    for k, t in ref.state.items():
        want = t.detach().contiguous().numpy()
        assert (fast.state[k].dtype, fast.state[k].shape) == (want.dtype, want.shape), k
        assert fast.state[k].tobytes() == want.tobytes(), k


def programs(path):
    root, data = loader.checked_members(str(path))
    ep = torch.export.load(str(path))
    return serialized.program_from_archive(data), exported.program_from_exported(ep)


def save(ep, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(ep, str(path))
    return path


def export(model, x, path, *, decompose=False):
    ep = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    return save(ep.run_decompositions() if decompose else ep, path)


# -- equivalence ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_pt2_fast_reader_gives_the_torch_routes_ir(path):
    assert_same_ir(load_pt2(path, route="fast"), load_pt2(path, route="torch"))
    assert_same_program(*programs(path))


@pytest.mark.slow
@pytest.mark.parametrize("decompose", [False, True], ids=["default", "decomposed"])
@pytest.mark.parametrize("cls", ZOO, ids=lambda c: c.__name__)
def test_zoo_fast_reader_gives_the_torch_routes_ir(tmp_path, cls, decompose):
    """Module and functional calls, BatchNorm, max pooling (with indices when decomposed: a
    multi-output op and its getitem), sizes (`x.view(x.size(0), -1)`), weights permuted by a
    constant `permute` in the decomposed graphs."""
    path = export(make(cls), example(cls), tmp_path / "m.pt2", decompose=decompose)
    assert_same_ir(load_pt2(path, route="fast"), load_pt2(path, route="torch"))
    assert_same_program(*programs(path))


class Buffers(nn.Module):
    """A non-persistent buffer (stored as a constant), arithmetic with Python numbers, a reshape by size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.register_buffer("shift", torch.linspace(-1, 1, 4).reshape(1, 4, 1, 1), persistent=False)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x * 0.5) + self.shift) - 0.25
        return self.fc(y.reshape(y.shape[0], -1))


@pytest.mark.slow
def test_constants_and_buffers_read_alike(tmp_path):
    torch.manual_seed(0)
    path = export(Buffers().eval(), torch.randn(2, 2, 4, 4), tmp_path / "b.pt2")
    assert_same_ir(load_pt2(path, route="fast"), load_pt2(path, route="torch"))
    assert_same_program(*programs(path))


def _cli(args, monkeypatch, route):
    monkeypatch.setenv(loader.READER_ENV, route)
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.output


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_reports_are_byte_identical(monkeypatch, path, fmt):
    args = ["check", str(path), "--hw", "hw_v1", "--bits", "4", "--format", fmt]
    assert _cli(args, monkeypatch, "fast") == _cli(args, monkeypatch, "torch")


@pytest.mark.slow
def test_compile_artefacts_are_byte_identical(monkeypatch, tmp_path):
    path = ROOT / "examples" / "models" / "lenet5_mnist.pt2"
    out = {}
    for route in ("fast", "torch"):
        out[route] = tmp_path / f"{route}.snn"
        code, text = _cli(["compile", str(path), "--bits", "2", "--calib", str(MNIST), "--calib-samples", "64", "-T",
                           "8", "-o", str(out[route]), "-q"], monkeypatch, route)
        assert code == 0, text
    assert out["fast"].read_bytes() == out["torch"].read_bytes()


# -- what the fast reader does not read goes to torch --------------------------------------------------

class ScaledBuffer(nn.Module):
    """`w * 2` of a buffer: a constant op the fast reader does not evaluate (torch does)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.randn(3, 8))

    def forward(self, x):
        return nn.functional.linear(x, self.w * 2)


@pytest.mark.slow
def test_what_the_fast_reader_does_not_understand_falls_back_to_torch(tmp_path):
    path = export(ScaledBuffer().eval(), torch.randn(2, 8), tmp_path / "s.pt2")
    with pytest.raises(ImportErrorModel, match="fast .pt2 reader does not read this file .*mul.Tensor"):
        load_pt2(path, route="fast")
    assert_same_ir(load_pt2(path), load_pt2(path, route="torch"))


def _edit_program(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/models/model.json"):
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    return dst


def test_unknown_schema_version_is_not_read_by_the_fast_reader(tmp_path):
    def bump(doc):
        doc["schema_version"]["major"] += 1

    bad = _edit_program(SHIPPED[0], tmp_path / "v.pt2", bump)
    with pytest.raises(ImportErrorModel, match="fast .pt2 reader does not read this file .*schema version"):
        load_pt2(bad, route="fast")


def test_errors_are_the_torch_routes(tmp_path):
    """An unsupported op is reported by the torch route, with its message (auto falls back)."""
    def relu_to_gelu(doc):
        for n in doc["graph_module"]["graph"]["nodes"]:
            if n["target"] == "torch.ops.aten.relu.default":
                n["target"] = "torch.ops.aten.gelu.default"

    bad = _edit_program(SHIPPED[0], tmp_path / "g.pt2", relu_to_gelu)
    with pytest.raises(UnsupportedOpsError) as auto:
        load_pt2(bad)
    with pytest.raises(UnsupportedOpsError) as ref:
        load_pt2(bad, route="torch")
    assert str(auto.value) == str(ref.value) and "gelu" in str(auto.value)


def test_bad_reader_setting_is_one_error_line(monkeypatch):
    code, text = _cli(["check", str(SHIPPED[0]), "--bits", "2"], monkeypatch, "fastest")
    assert code == 2 and text.startswith("error:") and "SNNC_PT2_READER" in text


# -- the pieces -------------------------------------------------------------------------------------

def test_fast_path_does_not_import_torch():
    code = ("import sys; from snnc.compiler.frontends import load_model; "
            f"g = load_model({str(SHIPPED[-1])!r}); "
            "assert g.nodes, g; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_schema_table_matches_the_installed_torch():
    for key, args in SCHEMAS.items():
        _, op, overload = key.split(".")
        schema = getattr(getattr(torch.ops.aten, op), overload)._schema
        want = tuple((a.name, a.default_value) if a.has_default_value() else (a.name,) for a in schema.arguments)
        assert args == want, key
    aten = {k for k in registry.CONVERTERS if k.startswith("aten.")}
    assert aten <= set(SCHEMAS), sorted(aten - set(SCHEMAS))


def test_format_versions_match_the_installed_torch():
    from torch._export.serde.schema import SCHEMA_VERSION
    from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

    assert serialized.SCHEMA_MAJOR == SCHEMA_VERSION[0]
    assert serialized.ATEN_OPSET == torch._C._get_max_operator_version()
    assert serialized.ARCHIVE_VERSION.decode() == ARCHIVE_VERSION_VALUE
    assert serialized.installed_torch_version() == torch.__version__
    for code, (name, np_dtype) in serialized.DTYPES.items():
        from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE

        assert str(_SERIALIZE_TO_TORCH_DTYPE[code]) == f"torch.{name}"
        if np_dtype is not None:
            assert torch.empty(0, dtype=_SERIALIZE_TO_TORCH_DTYPE[code]).numpy().dtype == np.dtype(np_dtype)


def test_example_inputs_scan_accepts_plain_tensors_only(tmp_path):
    import io

    _, data = loader.checked_members(str(SHIPPED[0]))
    check_plain_tensors(data[loader.SAMPLE_INPUTS])  # the shipped ones: the fast route reads them
    for obj in [{"x": torch.Size([2])}, {"x": print}, ((torch.ones(2),), {})]:
        buf = io.BytesIO()
        torch.save(obj, buf)
        if isinstance(obj, tuple):
            check_plain_tensors(buf.getvalue())
        else:
            with pytest.raises(serialized.NotUnderstood):
                check_plain_tensors(buf.getvalue())
    with pytest.raises(serialized.NotUnderstood):
        check_plain_tensors(b"not a zip")


def test_tensor_meta_of_the_torch_route_is_the_fast_readers():
    ep = torch.export.export(make(ZOO[0]), (example(ZOO[0]),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    program = exported.program_from_exported(ep)
    x = next(n for n in program.nodes if n.op == "placeholder" and n.name == "x")
    assert isinstance(x.meta["val"], TensorMeta) and x.meta["val"].dtype == "float32"
    assert isinstance(x.meta["val"].shape[0], str) and x.meta["val"].shape[1:] == (1, 28, 28)
