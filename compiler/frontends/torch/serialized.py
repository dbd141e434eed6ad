"""The fast `.pt2` reader: a `torch.export.save` archive's JSON program (`models/model.json`, the
schema of torch/_export/serde/schema.py) and raw tensor files read into a `program.Program`
exactly as `torch.export.load` + `exported.program_from_exported` give it, without torch.

It reads a subset of the format, the one `torch.export.save` writes for the CNNs snnc imports:
aten ops listed in `schemas.SCHEMAS`, tensor and size arguments, plain CPU tensors of numpy
dtypes, schema major version `SCHEMA_MAJOR`, aten opset `ATEN_OPSET`, little-endian. Anything
else raises `NotUnderstood`, and `loader.load_pt2` hands the file to torch. Nothing here
unpickles or executes anything from the file.
"""
from __future__ import annotations

import importlib.metadata
import json
import re
from typing import Any

import numpy as np

from snnc.compiler.frontends.torch.pickle_scan import check_plain_tensors
from snnc.compiler.frontends.torch.program import SYM, InputSpec, NotUnderstood, PNode, Program, TensorMeta, bind_schema
from snnc.compiler.frontends.torch.schemas import SCHEMAS
from snnc.compiler.ir.graph import Graph

SCHEMA_MAJOR = 8  # torch/_export/serde/schema.py SCHEMA_VERSION[0] of the torch this was checked with
ATEN_OPSET = 10  # torch._C._get_max_operator_version()
ARCHIVE_VERSION = b"0"

# torch/_export/serde/schema.py ScalarType -> (torch's name, numpy dtype or None when numpy has none)
DTYPES: dict[int, tuple[str, str | None]] = {
    1: ("uint8", "u1"), 2: ("int8", "i1"), 3: ("int16", "<i2"), 4: ("int32", "<i4"), 5: ("int64", "<i8"),
    6: ("float16", "<f2"), 7: ("float32", "<f4"), 8: ("float64", "<f8"), 9: ("complex32", None),
    10: ("complex64", "<c8"), 11: ("complex128", "<c16"), 12: ("bool", "?"), 13: ("bfloat16", None),
    28: ("uint16", "<u2"), 29: ("float8_e4m3fn", None), 30: ("float8_e5m2", None), 31: ("float8_e4m3fnuz", None),
    32: ("float8_e5m2fnuz", None), 33: ("float8_e8m0fnu", None), 34: ("uint32", "<u4"), 35: ("uint64", "<u8"),
}
MEMORY_FORMATS = {1: "contiguous_format", 2: "channels_last", 3: "channels_last_3d", 4: "preserve_format"}
LAYOUTS = {7: "strided"}
POSITIONAL, KEYWORD = 1, 2  # schema.ArgumentKind
SYM_KINDS = {"as_sym_int": "sym_int_values", "as_sym_float": "sym_float_values", "as_sym_bool": "sym_bool_values"}
OUTPUT_KINDS = {"user_output": "USER_OUTPUT", "buffer_mutation": "BUFFER_MUTATION"}
INPUT_KINDS = {"parameter": ("PARAMETER", "parameter_name"), "buffer": ("BUFFER", "buffer_name"),
               "tensor_constant": ("CONSTANT_TENSOR", "tensor_constant_name")}


def _one(d: Any, what: str) -> tuple[str, Any]:
    """The (field, value) of a union: a JSON object with exactly one member."""
    if not isinstance(d, dict) or len(d) != 1:
        raise NotUnderstood(f"{what}: {str(d)[:80]}")
    return next(iter(d.items()))


def _sym(d: Any, what: str) -> Any:
    kind, v = _one(d, what)
    if kind in ("as_int", "as_float", "as_bool"):
        return v
    if kind == "as_expr":
        return SYM
    raise NotUnderstood(f"{what}: {kind}")


# A dynamic size that is one symbol, as sympy's str() or srepr() writes it (`s77`,
# `Symbol('s77', positive=True, integer=True)`); arithmetic on symbols is left to torch.
_SYMBOL = re.compile(r"([A-Za-z_]\w*)|Symbol\('([A-Za-z_]\w*)'(?:, \w+=(?:True|False))*\)")


def _dim(d: Any) -> int | str:
    """A size as torch.fx shows it: an int, or the symbol's name (str() of the SymInt)."""
    kind, v = _one(d, "a size")
    if kind == "as_int" and type(v) is int:
        return v
    if kind == "as_expr" and isinstance(v, dict) and isinstance(v.get("expr_str"), str):
        m = _SYMBOL.fullmatch(v["expr_str"])
        if m:
            return m.group(1) or m.group(2)
    raise NotUnderstood(f"a size {str(d)[:80]}")


def _tensor_meta(m: dict) -> TensorMeta:
    if m.get("layout") not in LAYOUTS or (m.get("device") or {}).get("type") != "cpu":
        raise NotUnderstood(f"a tensor with layout {m.get('layout')} on {m.get('device')}")
    if m.get("dtype") not in DTYPES:
        raise NotUnderstood(f"dtype {m.get('dtype')}")
    return TensorMeta(tuple(_dim(d) for d in m["sizes"]), DTYPES[m["dtype"]][0])


def _module_stack(text: str) -> dict:
    """torch's `deserialize_metadata`: 'key,path,type' items joined by ';' (commas inside () and [] kept)."""
    out = {}
    for item in text.split(";"):
        parts, start, depth = [], 0, 0
        for end, c in enumerate(item):
            if c in "[(":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c == "," and depth == 0:
                parts.append(item[start:end])
                start = end + 1
        parts.append(item[start:])
        if len(parts) != 3:
            raise NotUnderstood(f"nn_module_stack item {item[:80]!r}")
        out[parts[0]] = (parts[1], parts[2])
    return out


def _metadata(md: dict) -> dict:
    ret = {}
    if md.get("stack_trace"):
        ret["stack_trace"] = md["stack_trace"]
    if md.get("nn_module_stack"):
        ret["nn_module_stack"] = _module_stack(md["nn_module_stack"])
    return ret


def _key(target: str) -> str:
    if target.startswith("torch.ops.aten."):
        return "aten." + target[len("torch.ops.aten."):]
    if target.startswith("_operator."):
        return "operator." + target[len("_operator."):]
    return target


class _Reader:
    def __init__(self, doc: dict):
        gm = doc["graph_module"]
        self.graph = gm["graph"]
        self.signature = gm["signature"]
        g = self.graph
        if g.get("custom_obj_values"):
            raise NotUnderstood("custom objects")
        self.metas = {n: _tensor_meta(m) for n, m in g["tensor_values"].items()}
        self.syms = {kind: {n: _sym(v, f"{kind} {n}") for n, v in (g.get(field) or {}).items()}
                     for kind, field in SYM_KINDS.items()}
        self.nodes: dict[str, PNode] = {}
        self.order: list[PNode] = []

    def add(self, node: PNode) -> PNode:
        if node.name in self.nodes:
            raise NotUnderstood(f"two nodes named {node.name}")
        self.nodes[node.name] = node
        self.order.append(node)
        return node

    def ref(self, name: Any) -> PNode:
        if not isinstance(name, str) or name not in self.nodes:
            raise NotUnderstood(f"a reference to {name!r} before its definition")
        return self.nodes[name]

    def sym_arg(self, d: Any) -> Any:
        kind, v = _one(d, "a symbolic argument")
        if kind in ("as_int", "as_float", "as_bool"):
            return v
        if kind == "as_name":
            return self.ref(v)
        raise NotUnderstood(f"a symbolic argument {kind}")

    def argument(self, d: Any) -> Any:
        """torch's `deserialize_input`, for the argument kinds that aten CNN ops take."""
        kind, v = _one(d, "an argument")
        if kind == "as_none":
            return None
        if kind == "as_tensor":
            return self.ref(v.get("name") if isinstance(v, dict) else None)
        if kind in ("as_int", "as_float", "as_bool", "as_string"):
            return v
        if kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            return self.sym_arg(v)
        if kind == "as_scalar_type" and v in DTYPES:
            return DTYPES[v][0]
        if kind == "as_memory_format" and v in MEMORY_FORMATS:
            return MEMORY_FORMATS[v]
        if kind == "as_layout" and v in LAYOUTS:
            return LAYOUTS[v]
        if kind == "as_device" and isinstance(v, dict) and isinstance(v.get("type"), str):
            return v["type"] if v.get("index") is None else f"{v['type']}:{v['index']}"
        if isinstance(v, list):
            if not v:
                return []
            if kind == "as_tensors":
                return [self.ref(t.get("name") if isinstance(t, dict) else None) for t in v]
            if kind in ("as_ints", "as_floats", "as_bools", "as_strings"):
                return list(v)
            if kind in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
                return [self.sym_arg(a) for a in v]
            if kind == "as_optional_tensors":
                out = []
                for a in v:
                    k, t = _one(a, "an optional tensor")
                    if k == "as_none":
                        out.append(None)
                    elif k == "as_tensor":
                        out.append(self.ref(t.get("name") if isinstance(t, dict) else None))
                    else:
                        raise NotUnderstood(f"an optional tensor {k}")
                return out
        raise NotUnderstood(f"an argument of kind {kind}")

    def placeholders(self) -> None:
        for inp in self.graph["inputs"]:
            kind, v = _one(inp, "a graph input")
            if kind != "as_tensor" or v.get("name") not in self.metas:
                raise NotUnderstood(f"a graph input {kind}")
            self.add(PNode(v["name"], "placeholder", v["name"], meta={"val": self.metas[v["name"]]}))

    def node(self, sn: dict) -> None:
        target, outputs = sn["target"], sn["outputs"]
        key = _key(target)
        meta = _metadata(sn.get("metadata") or {})
        if outputs and all(_one(o, "an output")[0] in SYM_KINDS for o in outputs):
            if len(outputs) != 1:
                raise NotUnderstood(f"{target} with {len(outputs)} symbolic outputs")
            kind, v = _one(outputs[0], "an output")
            name = v.get("as_name") if isinstance(v, dict) else None
            if name not in self.syms[kind]:
                raise NotUnderstood(f"{target}: no value recorded for {name}")
            args = tuple(self.argument(i["arg"]) for i in sn["inputs"])
            bound = bind_schema(SCHEMAS[key], args, {}) if key in SCHEMAS else {f"arg{i}": a for i, a in enumerate(args)}
            meta.setdefault("nn_module_stack", {})
            self.add(PNode(name, "call_function", key, args, {}, bound, {**meta, "val": self.syms[kind][name]}))
            return
        if not target.startswith("torch.ops.aten.") or key not in SCHEMAS:
            raise NotUnderstood(f"op {target}")
        schema = SCHEMAS[key]
        names = [a[0] for a in schema]
        given = {}
        for i in sn["inputs"]:
            if i.get("name") not in names or i["name"] in given or i.get("kind") not in (POSITIONAL, KEYWORD):
                raise NotUnderstood(f"{target}: argument {i.get('name')!r}")
            given[i["name"]] = (i["kind"], self.argument(i["arg"]))
        args, kwargs = [], {}
        for n in names:  # torch's deserialize_inputs: positional ones in order, then keywords
            if n in given:
                kind, v = given[n]
                if kind == POSITIONAL:
                    if kwargs or len(args) != names.index(n):
                        raise NotUnderstood(f"{target}: positional argument {n} after a missing one")
                    args.append(v)
                else:
                    kwargs[n] = v
        args = tuple(args)
        bound = bind_schema(schema, args, kwargs)
        meta.setdefault("nn_module_stack", {})
        kinds = [_one(o, "an output") for o in outputs]
        if len(kinds) == 1 and kinds[0][0] == "as_tensor":
            name = kinds[0][1].get("name")
            if name not in self.metas:
                raise NotUnderstood(f"{target}: no shape recorded for {name}")
            self.add(PNode(name, "call_function", key, args, kwargs, bound, {**meta, "val": self.metas[name]}))
            return
        if len(kinds) == 1 and kinds[0][0] == "as_tensors":
            items = [t.get("name") if isinstance(t, dict) else None for t in kinds[0][1]]
        elif len(kinds) > 1 and all(k == "as_tensor" for k, _ in kinds):
            items = [t.get("name") if isinstance(t, dict) else None for _, t in kinds]
        else:
            raise NotUnderstood(f"{target} with outputs {[k for k, _ in kinds]}")
        if not items or not sn.get("name") or any(n not in self.metas for n in items):
            raise NotUnderstood(f"{target}: outputs without a name or a shape")
        op = self.add(PNode(sn["name"], "call_function", key, args, kwargs, bound,
                            {**meta, "val": tuple(self.metas[n] for n in items)}))
        md = _metadata(sn.get("metadata") or {})
        for idx, n in enumerate(items):  # torch.export.load's getitem nodes, one per output
            self.add(PNode(n, "call_function", "operator.getitem", (op, idx), {}, {"arg0": op, "arg1": idx},
                           {**md, "val": self.metas[n]}))

    def graph_outputs(self) -> list:
        out = []
        for o in self.graph["outputs"]:
            kind, v = _one(o, "a graph output")
            if kind != "as_tensor":
                raise NotUnderstood(f"a graph output {kind}")
            out.append(self.ref(v.get("name")))
        return out

    def specs(self) -> tuple[list[InputSpec], list[str]]:
        inputs = []
        for s in self.signature["input_specs"]:
            kind, v = _one(s, "an input spec")
            if kind == "user_input":
                k, a = _one(v["arg"], "a user input")
                if k != "as_tensor":
                    raise NotUnderstood(f"a user input {k}")
                inputs.append(InputSpec("USER_INPUT", a["name"], None))
            elif kind in INPUT_KINDS:
                name, field = INPUT_KINDS[kind]
                inputs.append(InputSpec(name, v["arg"]["name"], v[field]))
            else:
                raise NotUnderstood(f"an input spec {kind}")
        kinds = []
        for s in self.signature["output_specs"]:
            kind, _ = _one(s, "an output spec")
            if kind not in OUTPUT_KINDS:
                raise NotUnderstood(f"an output spec {kind}")
            kinds.append(OUTPUT_KINDS[kind])
        return inputs, kinds


def _tensors(data: dict[str, bytes], config: str, folder: str) -> dict[str, np.ndarray]:
    """The plain tensors a weights/constants config names, as torch's `_build_file_map` + `as_strided`."""
    out = {}
    for fqn, meta in json.loads(data[config])["config"].items():
        tm = meta.get("tensor_meta")
        if not isinstance(tm, dict):
            raise NotUnderstood(f"{fqn} has no tensor_meta")
        dtype = DTYPES.get(tm.get("dtype"), (None, None))[1]
        if dtype is None:
            raise NotUnderstood(f"{fqn}: dtype {tm.get('dtype')}")
        _tensor_meta(tm)  # layout and device
        size = [_dim(d) for d in tm["sizes"]]
        stride = [_dim(d) for d in tm["strides"]]
        offset = _dim(tm["storage_offset"])
        if not all(isinstance(d, int) and d >= 0 for d in size + stride + [offset]) or len(size) != len(stride):
            raise NotUnderstood(f"{fqn}: size {size}, stride {stride}, offset {offset}")
        raw = data[f"{folder}/{meta['path_name']}"]
        dt = np.dtype(dtype)
        if not raw:
            out[fqn] = np.zeros(size, dt.newbyteorder("="))
            continue
        if len(raw) % dt.itemsize:
            raise NotUnderstood(f"{fqn}: {len(raw)} bytes is not a multiple of {dt.itemsize}")
        flat = np.frombuffer(raw, dt)
        if 0 not in size and offset + sum((s - 1) * st for s, st in zip(size, stride)) >= flat.size:
            raise NotUnderstood(f"{fqn}: its view reaches past the stored bytes")
        view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[st * dt.itemsize for st in stride],
                                               writeable=False)
        out[fqn] = np.array(view, dtype=dt.newbyteorder("="), order="C")
    return out


def program_from_archive(data: dict[str, bytes]) -> Program:
    """The program of a checked archive's members (relative name -> bytes; see `loader.checked_members`)."""
    from snnc.compiler.frontends.torch import loader

    if data.get("byteorder", b"little").strip() != b"little" or data["archive_version"].strip() != ARCHIVE_VERSION:
        raise NotUnderstood("byte order or archive version")
    try:
        doc = json.loads(data[loader.PROGRAM])
        version = doc["schema_version"]["major"]
        if version != SCHEMA_MAJOR or doc.get("opset_version") != {"aten": ATEN_OPSET}:
            raise NotUnderstood(f"schema version {doc['schema_version']}, opsets {doc.get('opset_version')}")
        reader = _Reader(doc)
        reader.placeholders()
        for sn in reader.graph["nodes"]:
            reader.node(sn)
        outputs = reader.graph_outputs()
        vals = tuple(o.meta.get("val") for o in outputs)
        single = reader.graph.get("is_single_tensor_return") and len(vals) == 1
        reader.add(PNode("output", "output", "output", meta={"val": vals[0] if single else vals}))
        specs, kinds = reader.specs()
        state = _tensors(data, loader.CONSTANTS_CONFIG, "data/constants")
        state.update(_tensors(data, loader.WEIGHTS_CONFIG, "data/weights"))
    except NotUnderstood:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # malformed: torch's error
        raise NotUnderstood(f"{type(exc).__name__}: {exc}") from None
    return Program(reader.order, specs, kinds, outputs, state)


_LAYOUT_OPS = {
    "aten.permute.default": lambda a: np.transpose(a["self"], [int(d) for d in a["dims"]]),
    "aten.t.default": lambda a: a["self"].T if a["self"].ndim == 2 else a["self"],
    "aten.transpose.int": lambda a: np.swapaxes(a["self"], int(a["dim0"]), int(a["dim1"])),
    "aten.reshape.default": lambda a: np.reshape(a["self"], [int(d) for d in a["shape"]]),
    "aten.unsqueeze.default": lambda a: np.expand_dims(a["self"], int(a["dim"]) % (a["self"].ndim + 1)),
    "aten.detach.default": lambda a: a["self"],
    "aten.alias.default": lambda a: a["self"],
    "aten.lift_fresh_copy.default": lambda a: a["self"],
    "aten.clone.default": lambda a: a["self"],
}


def evaluate(node: PNode, consts: dict[str, Any]) -> Any:
    """A constant node, in numpy: only the layout ops torch computes exactly the same way (the
    values are moved, never computed); anything else is `NotUnderstood` (torch's route evaluates it)."""
    fn = _LAYOUT_OPS.get(node.key)
    args = {k: consts[v.name] if isinstance(v, PNode) else v for k, v in node.bound.items()}
    if fn is None or not isinstance(args.get("self"), np.ndarray) or args["self"].ndim > 8:
        raise NotUnderstood(f"{node.key} of constants")
    if node.key == "aten.t.default" and args["self"].ndim > 2:
        raise NotUnderstood("t of a tensor of rank > 2")
    try:
        return np.array(fn(args), order="C")
    except Exception as exc:
        raise NotUnderstood(f"{node.key} of constants: {exc}") from None


def installed_torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def import_members(path: str, root: str, data: dict[str, bytes], *, name: str, sha256: str) -> Graph:
    """The IR of a checked archive, read without torch (`NotUnderstood` if it cannot be)."""
    from snnc.compiler.frontends.torch import loader
    from snnc.compiler.frontends.torch.convert import import_graph

    check_plain_tensors(data[loader.SAMPLE_INPUTS])
    program = program_from_archive(data)
    return import_graph(program, path, name=name, meta={"sha256": sha256, "torch_version": installed_torch_version()},
                        evaluate=evaluate)
