"""Fuzz targets and seeds for snnc's loaders, shared by the CI-sized test (test_fuzz_loaders.py)
and the long run (run_fuzz.py).

Each target takes bytes, writes them to a file where the loader needs one, calls the loader
in-process, and returns normally or raises a *project* exception (`SnncError`, `SpecError`,
`ArtefactError`: the ones the CLI turns into one `error:` line). Anything else escaping is a
finding. The seeds are small valid inputs; hypothesis mutates them (bit flips, byte edits,
truncation, splices) and, for ONNX and YAML, also edits them structurally (attribute values,
dims, tags, scalars), which reaches deeper than byte noise can.
"""
from __future__ import annotations

import functools
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPEC_TEXT = (ROOT / "hwspec" / "hw_v1.yaml").read_text(encoding="utf-8")
ARTEFACT_SEED = ROOT / "tests" / "runtime" / "golden" / "rate_mlp.snn"


def project_errors() -> tuple[type[BaseException], ...]:
    from snnc.compiler.cli.common import user_errors

    return user_errors()


# -- seeds -------------------------------------------------------------------------------------------
def onnx_seed_model():
    """A tiny conv net touching the importers users hit most (Conv, Relu, AveragePool, Flatten,
    Gemm, Reshape with a folded shape, Constant)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rs = np.random.RandomState(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1], group=1),
        n("Relu", ["c"], ["r"], name="relu"),
        n("AveragePool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Constant", [], ["shape"], name="shape_c", value=numpy_helper.from_array(np.array([1, 64], np.int64))),
        n("Reshape", ["p", "shape"], ["f"], name="reshape"),
        n("Gemm", ["f", "G"], ["y"], name="fc", transB=1),
    ]
    inits = [numpy_helper.from_array(rs.randn(4, 1, 3, 3).astype(np.float32), "W"),
             numpy_helper.from_array(rs.randn(4).astype(np.float32), "B"),
             numpy_helper.from_array(rs.randn(10, 64).astype(np.float32), "G")]
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


@functools.lru_cache(maxsize=None)
def onnx_seed() -> bytes:
    return onnx_seed_model().SerializeToString()


@functools.lru_cache(maxsize=None)
def npz_seed(compressed: bool = False) -> bytes:
    rs = np.random.RandomState(0)
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, calib_x=(rs.rand(6, 1, 4, 4) * 255).astype(np.uint8), calib_y=np.arange(6, dtype=np.int64),
         x_scale=np.float32(1 / 255))
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def npy_seed() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.RandomState(1).rand(5, 1, 4, 4).astype(np.float32))
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def artefact_seed() -> bytes:
    return ARTEFACT_SEED.read_bytes()


# -- targets -----------------------------------------------------------------------------------------
class _Scratch:
    """One temporary directory per process; each case overwrites the same file name."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="snnc-fuzz-"))

    def write(self, name: str, data: bytes) -> Path:
        p = self.dir / name
        p.write_bytes(data)
        return p


_SCRATCH: _Scratch | None = None


def scratch() -> _Scratch:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = _Scratch()
    return _SCRATCH


def target_onnx(data: bytes, *, pipeline: bool = False) -> None:
    """The ONNX importer (`load_onnx` of a file); with `pipeline`, also the front-end passes and
    the check, as `snnc check` runs them."""
    from snnc.compiler.frontends.onnx import load_onnx

    path = scratch().write("m.onnx", data)
    graph = load_onnx(path)
    if pipeline:
        from snnc.compiler.check import check_graph
        from snnc.compiler.passes import frontend_pipeline
        from snnc.hwspec import load_spec

        check_graph(frontend_pipeline(graph), load_spec("hw_v1"), 2)


def target_spec(data: bytes) -> None:
    """The hardware-spec loader (`load_spec` of a file)."""
    from snnc.hwspec import load_spec

    load_spec(scratch().write("spec.yaml", data))


def target_data(data: bytes, name: str = "calib.npz") -> None:
    """The data loader: `load_dataset` and reading every batch."""
    from snnc.compiler.data import load_dataset

    ds = load_dataset(scratch().write(name, data), role="calib")
    for _ in ds.batches(4, limit=64):
        pass


def target_artefact(data: bytes) -> None:
    """The artefact loader (`snnc.runtime.load`; owned by the runtime, included as a target)."""
    from snnc.runtime import load

    load(scratch().write("a.snn", data))


def run_case(target, data: bytes, **kw) -> BaseException | None:
    """Run one case; returns the non-project exception that escaped, or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            target(data, **kw)
        except project_errors():
            return None
        except Exception as exc:  # noqa: BLE001 - a finding
            return exc
    return None


# -- structured mutations ----------------------------------------------------------------------------
ONNX_OPS = ["Conv", "Relu", "AveragePool", "MaxPool", "Flatten", "Gemm", "Reshape", "Transpose", "Concat", "Softmax",
            "Pad", "Add", "Mul", "BatchNormalization", "GlobalAveragePool", "ReduceMean", "Clip", "Identity",
            "Squeeze", "Unsqueeze", "Gather", "Slice", "ConstantOfShape", "Expand", "Tile", "Range", "Cast",
            "MatMul", "Dropout", "Shape", "Loop", "If", "Sigmoid"]
ATTR_NAMES = ["strides", "pads", "dilations", "kernel_shape", "group", "axis", "axes", "perm", "transA", "transB",
              "alpha", "beta", "ceil_mode", "auto_pad", "epsilon", "keepdims", "to", "count_include_pad", "mode"]


def mutate_onnx(draw_int, draw_choice, data_seed: bytes | None = None) -> bytes:
    """One structured mutation of the seed model (or several), chosen with `draw_int(lo, hi)` and
    `draw_choice(seq)` (hypothesis draws in the tests, `random` in the long run)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.ParseFromString(data_seed or onnx_seed())
    for _ in range(draw_int(1, 4)):
        kind = draw_int(0, 8)
        nodes = m.graph.node
        if kind == 0 and nodes:  # set an attribute to odd ints
            nd = nodes[draw_int(0, len(nodes) - 1)]
            name = draw_choice(ATTR_NAMES)
            for i, a in enumerate(nd.attribute):
                if a.name == name:
                    del nd.attribute[i]
                    break
            vals = [draw_choice([-2**63, -1, 0, 1, 2, 3, 7, 2**31, 2**62]) for _ in range(draw_int(0, 5))]
            if name in ("auto_pad", "mode"):
                nd.attribute.append(helper.make_attribute(name, draw_choice(["SAME_UPPER", "VALID", "NOTSET", "x", "reflect", ""])))
            elif name in ("alpha", "beta", "epsilon"):
                nd.attribute.append(helper.make_attribute(name, float(draw_choice([0.0, -1.0, 1e30, float("nan"), float("inf")]))))
            elif name in ("group", "axis", "transA", "transB", "ceil_mode", "keepdims", "to", "count_include_pad"):
                nd.attribute.append(helper.make_attribute(name, int(vals[0] if vals else 0)))
            else:
                nd.attribute.append(helper.make_attribute(name, [int(v) for v in vals], attr_type=onnx.AttributeProto.INTS))
        elif kind == 1 and nodes:  # change an op type
            nodes[draw_int(0, len(nodes) - 1)].op_type = draw_choice(ONNX_OPS)
        elif kind == 2 and m.graph.initializer:  # change an initializer's dims
            t = m.graph.initializer[draw_int(0, len(m.graph.initializer) - 1)]
            dims = [draw_choice([0, 1, 2, 3, 4, 10, 64, 2**31, -1]) for _ in range(draw_int(0, 4))]
            del t.dims[:]
            t.dims.extend(dims)
        elif kind == 3 and nodes:  # rewire an input
            nd = nodes[draw_int(0, len(nodes) - 1)]
            names = ["x", "W", "B", "G", "c", "r", "p", "f", "shape", "y", "", "nope"]
            if nd.input:
                nd.input[draw_int(0, len(nd.input) - 1)] = draw_choice(names)
            else:
                nd.input.append(draw_choice(names))
        elif kind == 4:  # opset
            m.opset_import[0].version = draw_choice([1, 10, 11, 12, 13, 17, 18, 21, 9999])
        elif kind == 5 and nodes:  # a constant node producing a big or odd constant
            shape = draw_choice([[1 << 29], [0], [-1], [3, 1 << 20, 1 << 20], [2, 2]])
            nodes.insert(0, helper.make_node("Constant", [], ["shape"], name="c0",
                                             value=numpy_helper.from_array(np.array(shape, np.int64))))
            op = draw_choice(["ConstantOfShape", "Expand", "Tile", "Reshape", "Range"])
            ins = {"ConstantOfShape": ["shape"], "Expand": ["B", "shape"], "Tile": ["B", "shape"],
                   "Reshape": ["W", "shape"], "Range": ["shape", "shape", "shape"]}[op]
            nodes.insert(1, helper.make_node(op, ins, ["big"], name="grow"))
            nodes.insert(2, helper.make_node("Add", ["y0", "big"], ["y1"], name="use"))
        elif kind == 6 and nodes:  # delete a node
            del nodes[draw_int(0, len(nodes) - 1)]
        elif kind == 7:  # shape of the graph input
            d = m.graph.input[0].type.tensor_type.shape.dim
            if d:
                d[draw_int(0, len(d) - 1)].dim_value = draw_choice([0, 1, 3, 8, 1 << 40])
        elif kind == 8 and m.graph.initializer:  # data type / raw data
            t = m.graph.initializer[draw_int(0, len(m.graph.initializer) - 1)]
            t.data_type = draw_choice([1, 2, 6, 7, 8, 10, 11, 16, 0])
    return m.SerializeToString()


YAML_SNIPPETS = ["", "~", "null", "!!python/name:os.system", "!!python/object/apply:os.system ['true']", '!!int "abc"',
                 "9" * 5000, "[" * 200 + "]" * 200, "{a: 1}", "[1, 2]", "&a [*a]", "*nope", "!!binary aGk=",
                 "2001-12-14", "-1", "0", "1e400", ".nan", "yes", "'1.0'", "? [a, b]\n: 1", "\t", "%YAML 9.9", "|\n x",
                 "1024", "3: {1: 113}", "!!set {a, b}", "!!omap [a: 1]", "<<: {x: 1}", "0x400", "1_024"]


def mutate_yaml(draw_int, draw_choice) -> bytes:
    """Replace the value after a random `key:` in hw_v1.yaml by an odd YAML snippet (or cut the file)."""
    lines = SPEC_TEXT.splitlines()
    for _ in range(draw_int(1, 3)):
        kind = draw_int(0, 3)
        i = draw_int(0, len(lines) - 1)
        if kind == 0 and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw_choice(YAML_SNIPPETS)}"
        elif kind == 1:
            lines.insert(i, draw_choice(YAML_SNIPPETS))
        elif kind == 2:
            del lines[i:i + draw_int(1, 5)]
        else:
            lines[i] = " " * draw_int(0, 6) + lines[i].lstrip()
    return ("\n".join(lines) + "\n").encode("utf-8")


def mutate_npz(draw_int, draw_choice) -> bytes:
    """An .npz whose arrays have odd dtypes, shapes, scales or labels."""
    arrays = {}
    n = draw_choice([0, 1, 3, 6])
    shape = draw_choice([(n, 1, 4, 4), (n,), (n, 0), (n, 1, 4, 4, 1), ()])
    dtype = draw_choice(["uint8", "int64", "float32", "float16", "float64", "bool", "complex64", "U3", "S2", "O", "V4"])
    try:
        x = np.zeros(shape, dtype=dtype) if dtype != "O" else np.empty(shape, dtype=object)
        if x.size and x.dtype.kind in "uif":
            x.flat[0] = draw_choice([1, 255, np.nan, np.inf, -1])
    except (TypeError, ValueError, OverflowError):
        x = np.zeros((n, 4), np.float32)
    arrays[draw_choice(["calib_x", "x", "x_train", "inputs", "other"])] = x
    if draw_int(0, 1):
        arrays["x_scale"] = np.asarray(draw_choice([0.0, -1.0, np.nan, np.inf, 1 / 255, [1.0, 2.0], "a"]))
    if draw_int(0, 1):
        arrays["calib_y"] = np.asarray(draw_choice([np.arange(n), np.zeros(n + 1), np.array(["a"] * n), np.zeros((n, 2))]))
    buf = io.BytesIO()
    try:
        (np.savez_compressed if draw_int(0, 1) else np.savez)(buf, **arrays)
    except Exception:  # noqa: BLE001 - an array numpy cannot save: fall back to the seed
        return npz_seed()
    return buf.getvalue()


def byte_mutations(seed: bytes, draw_int, draw_choice) -> bytes:
    """Bit flips, byte sets, truncation, insertion and duplication of a random span."""
    b = bytearray(seed)
    for _ in range(draw_int(1, 8)):
        if not b:
            break
        kind = draw_int(0, 4)
        i = draw_int(0, len(b) - 1)
        if kind == 0:
            b[i] ^= 1 << draw_int(0, 7)
        elif kind == 1:
            b[i] = draw_choice([0, 0xFF, 0x7F, 0x80, ord("0"), ord(":")])
        elif kind == 2:
            del b[i:]
        elif kind == 3:
            b[i:i] = bytes(draw_int(1, 16))
        else:
            j = min(len(b), i + draw_int(1, 64))
            b[i:i] = b[i:j]
    return bytes(b)


def cleanup() -> None:
    if _SCRATCH is not None:
        for p in _SCRATCH.dir.iterdir():
            os.unlink(p)
        os.rmdir(_SCRATCH.dir)


SEEDS = {"onnx": onnx_seed, "npz": npz_seed, "npzc": lambda: npz_seed(True), "npy": npy_seed,
         "spec": lambda: SPEC_TEXT.encode("utf-8"), "artefact": artefact_seed}


def seed(key: str) -> bytes:
    return SEEDS[key]()
