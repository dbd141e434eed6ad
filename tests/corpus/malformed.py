#!/usr/bin/env python
"""The corpus of malformed and careless inputs: one row per case, with the command, the exit
code (2) and a substring of the one `error:` line snnc must print. tests/compiler/test_corpus.py
runs every row in CI; this script writes the files and prints the commands for a manual run:

    .venv/bin/python tests/corpus/malformed.py /tmp/corpus     # then run the printed commands

Files are built here from small valid inputs (nothing binary is committed): the issue-11
reproducers (ONNX strides/group 0, 2 pads, an initializer larger than its dims, Flatten axis
out of range, a constant folding to 2^29 floats; YAML empty values, python tags, `!!int "abc"`,
5000-digit integers, deep nesting, list keys, /dev/zero; calibration object arrays, bad CRC,
empty file, zero samples, constant data, bad x_scale; option values; outputs into a missing
directory) and more found by fuzzing.
"""
from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "hwspec" / "hw_v1.yaml").read_text(encoding="utf-8")
ARTEFACT = ROOT / "tests" / "runtime" / "golden" / "rate_mlp.snn"


@dataclass
class Case:
    id: str
    argv: list[str]  # {d} is the case directory
    expect: str  # a substring of the error line
    files: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    code: int = 2


# -- builders ------------------------------------------------------------------------------------------
def model(conv=None, flatten_axis=1, W=None, mutate=None, nodes=None, inits=None, in_shape=(1, 1, 8, 8)) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rs = np.random.RandomState(0)
    conv = dict(pads=[1, 1, 1, 1]) if conv is None else conv
    W = rs.randn(4, 1, 3, 3).astype(np.float32) if W is None else W
    n = helper.make_node
    nodes = nodes or [n("Conv", ["x", "W"], ["c"], name="conv1", **conv), n("Relu", ["c"], ["r"], name="relu1"),
                      n("Flatten", ["r"], ["f"], name="flat", axis=flatten_axis), n("Gemm", ["f", "G"], ["y"], name="fc", transB=1)]
    init = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(rs.randn(10, 256).astype(np.float32), "G")]
    init += [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    if mutate:
        mutate(m)
    return m.SerializeToString()


def _dims(m, dims):
    m.graph.initializer[0].dims[:] = dims


def _string_init(m):
    from onnx import helper

    m.graph.initializer.append(helper.make_tensor("S", 8, [1], [b"x"]))
    m.graph.node[0].input.append("S")


def _external_outside(m):
    from onnx import TensorProto

    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../../../etc/passwd"), ("length", "144")):
        e = t.external_data.add()
        e.key, e.value = k, v


def bigfold() -> bytes:
    from onnx import helper

    n = helper.make_node
    nodes = [n("ConstantOfShape", ["s"], ["big"], name="cos"), n("Add", ["x", "big"], ["y"], name="add")]
    return model(nodes=nodes, inits={"s": np.array([2 ** 29], np.int64)})


def _n(*a, **k):
    from onnx import helper

    return helper.make_node(*a, **k)


def small_graph(*extra) -> bytes:
    """x -> Conv -> Relu -> <extra nodes reading 'r', writing 'z'> -> Flatten -> Gemm."""
    nodes = [_n("Conv", ["x", "W"], ["c"], name="conv1", pads=[1, 1, 1, 1]), _n("Relu", ["c"], ["r"], name="relu1"),
             *extra, _n("Flatten", ["z"], ["f"], name="flat"), _n("Gemm", ["f", "G"], ["y"], name="fc", transB=1)]
    return model(nodes=nodes)


def spec(replace: tuple[str, str] | None = None, text: str | None = None) -> bytes:
    t = SPEC if text is None else text
    if replace:
        assert replace[0] in t, replace
        t = t.replace(replace[0], replace[1], 1)
    return t.encode("utf-8")


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def calib() -> bytes:
    return npz(calib_x=np.random.RandomState(0).rand(20, 1, 8, 8).astype(np.float32))


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0xFF
    return bytes(b)


def crc_bad() -> bytes:
    """A data byte of a stored member changed: the header parses, the CRC does not match."""
    data = calib()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
    return flip(data, info.header_offset + 30 + len(info.filename) + 200)


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


OK = {"ok.onnx": model}
OKC = {"ok.onnx": model, "calib.npz": calib}
CHECK = ["check", "{d}/m.onnx", "--bits", "2"]
COMPILE = ["compile", "{d}/ok.onnx", "--bits", "2", "-o", "{d}/o.snn", "-q"]


def onnx_case(id, build, expect, argv=CHECK) -> Case:
    return Case(f"onnx-{id}", list(argv), expect, {"m.onnx": build})


def spec_case(id, build, expect) -> Case:
    return Case(f"spec-{id}", ["check", "{d}/ok.onnx", "--hw", "{d}/s.yaml", "--bits", "2"], expect, {**OK, "s.yaml": build})


def train_case(id, build, expect) -> Case:
    """`snnc finetune --data` (fine-tuning's labelled data, read by `load_training_data`)."""
    return Case(f"train-{id}", ["finetune", "{d}/ok.onnx", "--bits", "2", "--data", "{d}/t.npz", "-o", "{d}/q.onnx", "-q"],
                expect, {**OK, "t.npz": build})


def train() -> bytes:
    rs = np.random.RandomState(0)
    return npz(x_train=rs.rand(20, 1, 8, 8).astype(np.float32), y_train=np.arange(20) % 10)


def train_crc_bad() -> bytes:
    """A data byte of the inputs changed: the member's header parses, its CRC does not match."""
    data = train()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("x_train.npy")
    return flip(data, info.header_offset + 30 + len(info.filename) + 200)


def calib_case(id, build, expect, name="c.npz") -> Case:
    return Case(f"calib-{id}", COMPILE + ["--calib", "{d}/" + name], expect, {**OK, name: build})


CASES: list[Case] = [
    # ONNX (issue 11 item 3 and fuzzing)
    onnx_case("strides-0", lambda: model(dict(pads=[1, 1, 1, 1], strides=[0, 0])), "strides=[0, 0] (must be >= 1)"),
    onnx_case("group-0", lambda: model(dict(pads=[1, 1, 1, 1], group=0)), "group=0 (must be >= 1)"),
    onnx_case("group-not-dividing", lambda: model(dict(pads=[1, 1, 1, 1], group=3)), "group=3 does not divide"),
    onnx_case("pads-2", lambda: model(dict(pads=[1, 1])), "pads=[1, 1] (2-D windows need 4 values"),
    onnx_case("dilations-0", lambda: model(dict(pads=[1, 1, 1, 1], dilations=[0, 1])), "dilations=[0, 1] (must be >= 1)"),
    onnx_case("kernel-larger-than-input", lambda: model(dict(), W=np.ones((4, 1, 9, 9), np.float32)), "larger than the padded input"),
    onnx_case("init-larger-than-dims", lambda: model(mutate=lambda m: _dims(m, [2, 1, 3, 3])), "initializer 'W' (dims [2, 1, 3, 3]) cannot be read"),
    onnx_case("init-smaller-than-dims", lambda: model(mutate=lambda m: _dims(m, [8, 1, 3, 3])), "too small for the declared shape"),
    onnx_case("init-string", lambda: model(mutate=_string_init), "initializer 'S' has type STRING"),
    onnx_case("flatten-axis-check", lambda: model(flatten_axis=7), "axis=7 is out of range for a rank-4 input"),
    Case("onnx-flatten-axis-compile", COMPILE[:1] + ["{d}/m.onnx"] + COMPILE[2:], "axis=7 is out of range",
         {"m.onnx": lambda: model(flatten_axis=7)}),
    onnx_case("fold-2^29-floats", bigfold, "folds to a constant of 536,870,912 elements (limit 16,777,216)"),
    onnx_case("external-data-outside", lambda: model(mutate=_external_outside), "must be a relative path inside the model's directory"),
    onnx_case("transpose-bad-perm", lambda: small_graph(_n("Transpose", ["r"], ["z"], perm=[0, 0, 1, 2])), "is not a permutation"),
    onnx_case("concat-axis", lambda: small_graph(_n("Concat", ["r", "r"], ["z"], axis=9)), "axis=9 is out of range"),
    onnx_case("softmax-axis", lambda: small_graph(_n("Softmax", ["r"], ["z"], axis=-9)), "axis=-9 is out of range"),
    onnx_case("reducemean-axis", lambda: small_graph(_n("ReduceMean", ["r"], ["z"], axes=[2, 7])), "mean over axes [2, 7]"),
    onnx_case("batchnorm-shapes", lambda: model(nodes=[
        _n("BatchNormalization", ["x", "s", "b", "m", "v"], ["c"], name="bn"), _n("Relu", ["c"], ["r"]),
        _n("Conv", ["r", "W"], ["c2"], pads=[1, 1, 1, 1]), _n("Relu", ["c2"], ["r2"]), _n("Flatten", ["r2"], ["f"]),
        _n("Gemm", ["f", "G"], ["y"], transB=1)],
        inits={k: np.ones(3, np.float32) for k in "sbmv"}), "one per channel"),
    onnx_case("gemm-1d-weight", lambda: model(nodes=[  # found by fuzzing: crashed shape inference
        _n("Flatten", ["x"], ["f"]), _n("Gemm", ["f", "b1"], ["y"], transB=1)], inits={"b1": np.ones(4, np.float32)}),
        "operand B of rank 1"),
    onnx_case("not-protobuf", lambda: b"\x08\x99\xff\xff garbage", "not an ONNX model"),
    onnx_case("empty-file", lambda: b"", "empty file"),
    Case("onnx-wrong-extension", ["check", "{d}/m.txt", "--bits", "2"], "unsupported model file type '.txt'", {"m.txt": model}),
    Case("onnx-missing-file", ["check", "{d}/nope.onnx", "--bits", "2"], "no such model file"),
    # hardware specs (YAML)
    spec_case("empty-value", lambda: spec(('revision: "1.0"', "revision:")), "field 'revision': empty value"),
    spec_case("python-name-tag", lambda: spec(("name: hw_v1", "name: !!python/name:os.system")), "could not determine a constructor"),
    spec_case("python-object-apply", lambda: spec(("value: 1024", "value: !!python/object/apply:os.system ['touch pwned']")),
              "expected a scalar, got a list"),
    spec_case("python-object-apply-scalar", lambda: spec(('revision: "1.0"', "revision: !!python/object/apply:os.system 'touch pwned'")),
              "could not determine a constructor"),
    spec_case("int-abc", lambda: spec(("value: 1024", 'value: !!int "abc"')), "invalid value 'abc'"),
    spec_case("5000-digits", lambda: spec(("value: 1024", "value: " + "9" * 5000)), "integer of 5000 digits is out of range"),
    spec_case("deep-nesting", lambda: spec(('revision: "1.0"', "revision: " + "[" * 100000 + "]" * 100000)), "nested"),
    spec_case("deep-mapping", lambda: spec(("description:", "x: " + "{a: " * 40 + "1" + "}" * 40 + "\ndescription:")), "nested more than 32 levels"),
    spec_case("list-as-key", lambda: spec(('revision: "1.0"', "? [a, b]\n: 1")), "keys must be plain names, got a list"),
    spec_case("huge-row-bits", lambda: spec(("value: 1024", "value: 1099511627776")), "must be <= 16777216"),
    spec_case("not-utf8", lambda: b"format: \xff\xfe\n", "not UTF-8"),
    spec_case("empty", lambda: b"", "empty file"),
    spec_case("not-yaml", lambda: b"a: [\n", "not valid YAML"),
    spec_case("alias-bomb", lambda: spec(("description:", "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "\n".join(
        f"x{i}: &a{i} [*{'a' if i == 0 else 'a' + str(i - 1)}, *{'a' if i == 0 else 'a' + str(i - 1)}]" for i in range(30)) + "\ndescription:")),
        "nested more than 32 levels"),
    Case("spec-dev-zero", ["check", "{d}/ok.onnx", "--hw", "/dev/zero", "--bits", "2"], "larger than 1,048,576 bytes", OK),
    Case("spec-directory", ["check", "{d}/ok.onnx", "--hw", "{d}", "--bits", "2"], "is a directory", OK),
    Case("spec-unknown-name", ["check", "{d}/ok.onnx", "--hw", "hw_v9", "--bits", "2"], "not a shipped spec name", OK),
    # calibration data
    calib_case("object-array", lambda: npz(calib_x=np.array([object(), 1], dtype=object)), "holds Python objects"),
    calib_case("bad-crc", crc_bad, "is corrupt (Bad CRC-32"),
    calib_case("bad-header", lambda: flip(calib(), 100), "is not a readable .npy member"),
    calib_case("truncated", lambda: calib()[:-200], "not a readable .npz archive"),
    calib_case("empty-file", lambda: b"", "empty file"),
    calib_case("zero-samples", lambda: npz(calib_x=np.zeros((0, 1, 8, 8), np.float32)), "holds no samples"),
    calib_case("all-zero", lambda: npz(calib_x=np.zeros((20, 1, 8, 8), np.float32)), "is constant: every value"),
    calib_case("x-scale-0", lambda: npz(calib_x=np.arange(1280, dtype=np.uint8).reshape(20, 1, 8, 8), x_scale=np.float32(0)),
               "x_scale = 0.0: must be a positive, finite number"),
    calib_case("x-scale-negative", lambda: npz(calib_x=np.arange(1280, dtype=np.uint8).reshape(20, 1, 8, 8), x_scale=np.float32(-1)),
               "x_scale = -1.0"),
    calib_case("x-scale-nan", lambda: npz(calib_x=np.arange(1280, dtype=np.uint8).reshape(20, 1, 8, 8), x_scale=np.float32("nan")),
               "x_scale = nan"),
    calib_case("x-scale-array", lambda: npz(calib_x=np.arange(1280, dtype=np.uint8).reshape(20, 1, 8, 8), x_scale=np.ones(3)),
               "x_scale must be one number"),
    calib_case("nan-inputs", lambda: npz(calib_x=np.full((20, 1, 8, 8), np.nan, np.float32)), "NaN or inf"),
    calib_case("strings", lambda: npz(calib_x=np.array([["a"]] * 4)), "must be a numeric array"),
    calib_case("no-input-key", lambda: npz(a=np.ones((2, 64)), b=np.ones((2, 64))), "no input array"),
    calib_case("random-bytes", lambda: b"\x00\x01garbage" * 10, "not a readable .npy/.npz"),
    calib_case("npy-object", lambda: npy_bytes(np.array([object()] * 4, dtype=object).reshape(4, 1)), "not a readable", name="c.npy"),
    calib_case("wrong-sample-shape", lambda: npz(calib_x=np.random.RandomState(0).rand(4, 3, 5).astype(np.float32)),
               "shape [4, 3, 5] does not match (B, 1, 8, 8)"),
    Case("eval-labels-mismatch", ["eval", "{d}/ok.onnx", "--data", "{d}/t.npz", "--bits", "2", "-q"], "labels must be integers",
         {**OK, "t.npz": lambda: npz(x=np.random.RandomState(0).rand(5, 1, 8, 8), y=np.zeros(4, np.int64))}),
    # fine-tuning data
    train_case("empty-file", lambda: b"", "empty file"),
    train_case("garbage", lambda: b"not an archive at all", "not a readable .npz archive"),
    train_case("truncated", lambda: train()[:-200], "not a readable .npz archive"),
    train_case("bad-crc", train_crc_bad, "array 'x_train' is corrupt (Bad CRC-32"),
    train_case("bad-header", lambda: flip(train(), 100), "is not a readable .npy member"),
    train_case("object-labels", lambda: npz(x_train=np.zeros((2, 1, 8, 8), np.float32), y_train=np.array([object()] * 2)),
               "holds Python objects"),
    train_case("zero-samples", lambda: npz(x_train=np.zeros((0, 1, 8, 8), np.float32), y_train=np.zeros(0, np.int64)),
               "holds no samples"),
    train_case("npy-no-labels", lambda: npy_bytes(np.zeros((4, 1, 8, 8), np.float32)), "fine-tuning needs labels"),
    # options and outputs
    Case("opt-input-scale-nan", COMPILE + ["--calib", "{d}/calib.npz", "--input-scale", "nan"], "nan must be a positive, finite number", OKC),
    Case("opt-input-scale-negative", COMPILE + ["--calib", "{d}/calib.npz", "--input-scale", "-1"], "must be a positive, finite number", OKC),
    Case("opt-data-scale-0", COMPILE + ["--calib", "{d}/calib.npz", "--data-scale", "0"], "--data-scale", OKC),
    Case("opt-percentile-nan", COMPILE + ["--calib", "{d}/calib.npz", "--percentile", "nan"], "percentile", OKC),
    Case("opt-bits-not-in-spec", ["check", "{d}/ok.onnx", "--bits", "7"], "--bits 7: the spec hw_v1 allows", OK),
    Case("opt-bits-not-int", ["check", "{d}/ok.onnx", "--bits", "two"], "'two' is not an integer or 'auto'", OK),
    Case("opt-missing-bits", ["check", "{d}/ok.onnx"], "Missing option '--bits'", OK),
    Case("opt-unknown-option", ["check", "{d}/ok.onnx", "--bits", "2", "--frobnicate"], "No such option", OK),
    Case("opt-unknown-command", ["frobnicate"], "No such command"),
    Case("opt-timesteps-0", COMPILE + ["-T", "0"], "--timesteps", OK),
    Case("out-missing-dir-compile", ["compile", "{d}/ok.onnx", "--bits", "2", "-o", "{d}/missing/dir/m.snn", "--calib", "{d}/calib.npz"],
         "the directory", OKC),
    Case("out-is-dir-compile", ["compile", "{d}/ok.onnx", "--bits", "2", "-o", "{d}", "--calib", "{d}/calib.npz"], "'-o' / '--out'", OKC),
    Case("out-missing-dir-run", ["run", str(ARTEFACT), "{d}/x.npy", "--out", "{d}/missing/r.npz"], "the directory",
         {"x.npy": lambda: npy_bytes(np.zeros((2, 16), np.float32))}),
    Case("out-missing-dir-finetune", ["finetune", "{d}/ok.onnx", "--bits", "2", "--data", "{d}/calib.npz", "-o", "{d}/missing/q.onnx"],
         "the directory", OKC),
    Case("out-report-parent-missing", ["eval", "{d}/ok.onnx", "--data", "{d}/calib.npz", "--bits", "2", "--report", "{d}/a/b/rep"],
         "does not exist", OKC),
    Case("run-object-input", ["run", str(ARTEFACT), "{d}/x.npy"], "not a readable .npy",
         {"x.npy": lambda: npy_bytes(np.array([object()] * 16, dtype=object).reshape(1, 16))}),
    Case("verify-garbage-artefact", ["verify", "{d}/a.snn"], "a.snn", {"a.snn": lambda: b"PK\x03\x04 not really"}),
]


def write(case: Case, d: Path) -> list[str]:
    """Write the case's files into `d`; the argv with {d} filled in."""
    d.mkdir(parents=True, exist_ok=True)
    for name, build in case.files.items():
        (d / name).write_bytes(build())
    return [a.replace("{d}", str(d)) for a in case.argv]


if __name__ == "__main__":  # pragma: no cover - the manual run
    import shlex

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for c in CASES:
        argv = write(c, out / c.id)
        print(f"snnc {shlex.join(argv)}    # exit {c.code}, error: ...{c.expect}...")
