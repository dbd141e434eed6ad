"""Load and validate a hardware spec YAML file into a frozen `HardwareSpec`.

Errors name the file, the line and the field: unknown keys, wrong types, missing fields, values
outside their domain, and a channel-limit table that contradicts the synapse-row budget
(`limit == floor(synapse_row_bits / (k*k*bits))` must hold for every entry).

What the loader trusts: nothing in the file. It reads at most `MAX_SPEC_BYTES` (a spec is a few
KB; `/dev/zero` is refused, not read until memory runs out), parses with PyYAML's safe loader
only (no Python tags: `!!python/...` is an error, never a call), builds values one node at a time
(an empty value, a list used as a key, `!!int "abc"`, a 5,000-digit integer or nesting deeper
than `MAX_DEPTH` are each one `SpecError` naming the line and field), and keeps only what the
schema defines.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from snnc.hwspec.errors import SpecError
from snnc.hwspec.spec import HardwareSpec, freeze_table

FORMAT = "snnc-hwspec"
FORMAT_VERSION = 1
TOP_KEYS = {"format", "format_version", "name", "revision", "description", "parameters"}
PARAM_KEYS = {"value", "status", "note"}
STATUSES = ("published", "assumed")
MAX_SPEC_BYTES = 1 << 20  # hw_v1.yaml is 4 KB
MAX_DEPTH = 32  # the schema needs 5 levels
MAX_INT_DIGITS = 30  # every integer in the schema is far smaller


@dataclass(frozen=True)
class _Field:
    kind: str  # int | bool | str | list_int | list_str | table
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


# The schema: every parameter a spec must give, its type and domain.
from snnc.runtime.packing import MAX_WEIGHT_BITS  # noqa: E402  (the one place the weight-width limit lives)

SCHEMA: dict[str, _Field] = {
    "synapse_row_bits": _Field("int", minimum=1, maximum=1 << 24),
    "conv_in_channels_limit": _Field("table"),
    "weight_bits": _Field("list_int", minimum=1, maximum=MAX_WEIGHT_BITS),
    "conv_requires_relu": _Field("bool"),
    "host_layers": _Field("list_str", choices=("final_linear", "softmax")),
    "core_layer_types": _Field("list_str", choices=("conv", "linear", "avgpool", "add", "concat", "flatten", "maxpool")),
    "weight_encoding": _Field("str", choices=("symmetric", "full")),
    "per_channel_threshold": _Field("bool"),
    "membrane_bits": _Field("int", minimum=2, maximum=62),
    "overflow": _Field("str", choices=("saturate", "wrap")),
    "fire_condition": _Field("str", choices=("ge", "gt")),
    "threshold_bits": _Field("int", minimum=1, maximum=62),
    "bias_bits": _Field("int", minimum=1, maximum=62),
    "reset_modes": _Field("list_str", choices=("zero", "subtract")),
    "initial_membrane": _Field("list_str", choices=("zero", "half")),
    "input_encodings": _Field("list_str", choices=("current", "rate", "poisson", "population", "ttfs")),
    "input_bits": _Field("int", minimum=1, maximum=16),
}

# Optional parameters: a spec may leave them out (no limit).
OPTIONAL: dict[str, _Field] = {
    "max_neurons": _Field("int", minimum=1, maximum=1 << 40),  # IF neurons on the core, all layers
    "max_weight_memory_bits": _Field("int", minimum=1, maximum=1 << 50),  # packed synaptic weights, all layers
    "fused_residual": _Field("bool"),  # absent: false (a residual add reads spiking layers only)
}

SHIPPED = {"hw_v1": "hw_v1.yaml"}


def shipped_specs() -> list[str]:
    return sorted(SHIPPED)


def resolve(spec: str | Path) -> Path:
    """A path, or the name of a shipped spec (`hw_v1`)."""
    p = Path(spec)
    if p.exists():
        return p
    name = str(spec)
    if name in SHIPPED:
        return Path(str(resources.files("snnc.hwspec").joinpath(SHIPPED[name])))
    raise SpecError(
        f"no such spec file, and not a shipped spec name (shipped: {', '.join(shipped_specs())})",
        path=str(spec),
    )


def load_spec(spec: str | Path) -> HardwareSpec:
    path = resolve(spec)
    if path.is_dir():
        raise SpecError("is a directory, not a spec file", path=str(path))
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES:,} bytes; a hardware spec is a small YAML file", path=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<string>") -> HardwareSpec:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES:,} characters; a hardware spec is a small YAML file", path=source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML: {' '.join(str(problem).split())}", path=source, line=line) from None
    except RecursionError:
        raise SpecError(f"nested too deeply (a spec needs at most {MAX_DEPTH} levels)", path=source) from None
    v = _Validator(source)
    if root is None:
        raise SpecError("empty file; expected a YAML mapping", path=source, line=1)
    _check_depth(root, source)
    if not isinstance(root, yaml.MappingNode):
        raise SpecError("the spec must be a YAML mapping", path=source, line=1)
    top = v.mapping(root, "", TOP_KEYS, required=TOP_KEYS - {"description"})
    fmt = v.scalar(top["format"], "format", str)
    if fmt != FORMAT:
        v.fail(top["format"], "format", f"expected '{FORMAT}', got '{fmt}'")
    ver = v.scalar(top["format_version"], "format_version", int)
    if ver != FORMAT_VERSION:
        v.fail(top["format_version"], "format_version", f"unsupported version {ver} (this snnc reads {FORMAT_VERSION})")
    name = v.scalar(top["name"], "name", str)
    revision = str(v.scalar(top["revision"], "revision", (str, int, float)))
    description = v.scalar(top["description"], "description", str) if "description" in top else ""

    params_node = top["parameters"]
    entries = v.mapping(params_node, "parameters", set(SCHEMA) | set(OPTIONAL), required=set(SCHEMA))
    values: dict[str, Any] = {}
    status: dict[str, str] = {}
    notes: dict[str, str] = {}
    for key, node in entries.items():
        fname = f"parameters.{key}"
        entry = v.mapping(node, fname, PARAM_KEYS, required={"value", "status"})
        st = v.scalar(entry["status"], f"{fname}.status", str)
        if st not in STATUSES:
            v.fail(entry["status"], f"{fname}.status", f"must be one of {', '.join(STATUSES)}, got '{st}'")
        status[key] = st
        if "note" in entry:
            notes[key] = v.scalar(entry["note"], f"{fname}.note", str)
        values[key] = v.value(entry["value"], f"{fname}.value", SCHEMA.get(key) or OPTIONAL[key])

    _check_table(v, values, entries)
    table = values["conv_in_channels_limit"]
    document = v.construct(root, "")  # every node was validated above: plain dicts, lists, scalars
    return HardwareSpec(
        name=name,
        revision=revision,
        description=description,
        source=source,
        synapse_row_bits=values["synapse_row_bits"],
        conv_in_channels_limit=freeze_table(table),
        weight_bits=tuple(values["weight_bits"]),
        conv_requires_relu=values["conv_requires_relu"],
        host_layers=tuple(values["host_layers"]),
        core_layer_types=tuple(values["core_layer_types"]),
        weight_encoding=values["weight_encoding"],
        per_channel_threshold=values["per_channel_threshold"],
        membrane_bits=values["membrane_bits"],
        overflow=values["overflow"],
        fire_condition=values["fire_condition"],
        threshold_bits=values["threshold_bits"],
        bias_bits=values["bias_bits"],
        reset_modes=tuple(values["reset_modes"]),
        initial_membrane=tuple(values["initial_membrane"]),
        input_encodings=tuple(values["input_encodings"]),
        input_bits=values["input_bits"],
        max_neurons=values.get("max_neurons"),
        max_weight_memory_bits=values.get("max_weight_memory_bits"),
        fused_residual=values.get("fused_residual", False),
        parameter_status=status,
        parameter_notes=notes,
        document=document,
    )


def _check_table(v: "_Validator", values: dict[str, Any], entries: dict[str, yaml.Node]) -> None:
    """Every table entry must equal floor(budget / (k*k*bits)), and its bit columns must be allowed."""
    budget = values["synapse_row_bits"]
    allowed = set(values["weight_bits"])
    node = entries["conv_in_channels_limit"]
    for k, row in values["conv_in_channels_limit"].items():
        for bits, limit in row.items():
            where = f"parameters.conv_in_channels_limit.value.{k}.{bits}"
            if bits not in allowed:
                v.fail(v.table_nodes.get((k, bits), node), where, f"bit width {bits} is not in parameters.weight_bits {sorted(allowed)}")
            expected = budget // (k * k * bits)
            if limit != expected:
                v.fail(
                    v.table_nodes.get((k, bits), node),
                    where,
                    f"limit {limit} contradicts the synapse-row budget: "
                    f"floor({budget} / ({k}*{k}*{bits})) = {expected}",
                )


def _check_depth(root: yaml.Node, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (iteratively: no recursion on hostile input)."""
    stack = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", path=source, line=node.start_mark.line + 1)
        if id(node) in seen:  # an alias: its subtree is walked once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for kv in node.value for n in kv)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)


class _Validator:
    """Walks yaml nodes, converting to Python values with line-numbered errors."""

    def __init__(self, source: str):
        self.source = source
        self.table_nodes: dict[tuple[int, int], yaml.Node] = {}

    def fail(self, node: yaml.Node, field: str, msg: str) -> None:
        raise SpecError(msg, path=self.source, line=node.start_mark.line + 1, field=field or None)

    def construct(self, node: yaml.Node, field: str) -> Any:
        """The Python value of a node, with PyYAML's safe constructors only; any failure is a
        SpecError naming the line and field."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            digits = node.value.replace("_", "").lstrip("+-")
            if len(digits) > MAX_INT_DIGITS:
                self.fail(node, field, f"integer of {len(digits)} digits is out of range")
        try:
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.fail(node, field, " ".join(str(problem).split()))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            self.fail(node, field, f"invalid value {node.value!r}"[:200] if isinstance(node, yaml.ScalarNode)
                      else f"invalid value ({type(exc).__name__})")

    def mapping(self, node: yaml.Node, field: str, allowed: set[str], required: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, field, f"expected a mapping, got {_kind(node)}")
        out: dict[str, yaml.Node] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
                what = _kind(knode) if not isinstance(knode, yaml.ScalarNode) else f"{knode.value!r}"
                self.fail(knode, field or "<top level>", f"keys must be plain names, got {what}")
            key = knode.value
            sub = f"{field}.{key}" if field else key
            if key not in allowed:
                self.fail(knode, sub, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
            if key in out:
                self.fail(knode, sub, "duplicate key")
            out[key] = vnode
        missing = sorted(required - set(out))
        if missing:
            self.fail(node, field, f"missing required field(s): {', '.join(missing)}")
        return out

    def scalar(self, node: yaml.Node, field: str, types: type | tuple[type, ...]) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, field, f"expected a scalar, got {_kind(node)}")
        value = self.construct(node, field)
        tys = types if isinstance(types, tuple) else (types,)
        if value is None:
            self.fail(node, field, f"empty value; expected {_names(tys)}")
        if isinstance(value, bool) and bool not in tys:
            self.fail(node, field, f"expected {_names(tys)}, got a boolean")
        if not isinstance(value, tys):
            self.fail(node, field, f"expected {_names(tys)}, got {type(value).__name__} {value!r}")
        return value

    def _int(self, node: yaml.Node, field: str, f: _Field) -> int:
        value = self.scalar(node, field, int)
        if f.minimum is not None and value < f.minimum:
            self.fail(node, field, f"must be >= {f.minimum}, got {value}")
        if f.maximum is not None and value > f.maximum:
            self.fail(node, field, f"must be <= {f.maximum}, got {value}")
        return value

    def _choice(self, node: yaml.Node, field: str, value: Any, f: _Field) -> Any:
        if f.choices and value not in f.choices:
            self.fail(node, field, f"must be one of {', '.join(map(str, f.choices))}, got '{value}'")
        return value

    def _list(self, node: yaml.Node, field: str, item: Callable[[yaml.Node, str], Any]) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, field, f"expected a list, got {_kind(node)}")
        if not node.value:
            self.fail(node, field, "must not be empty")
        items = [item(n, f"{field}[{i}]") for i, n in enumerate(node.value)]
        if len(set(items)) != len(items):
            self.fail(node, field, "contains duplicates")
        return items

    def value(self, node: yaml.Node, field: str, f: _Field) -> Any:
        if f.kind == "int":
            return self._int(node, field, f)
        if f.kind == "bool":
            return self.scalar(node, field, bool)
        if f.kind == "str":
            return self._choice(node, field, self.scalar(node, field, str), f)
        if f.kind == "list_int":
            return self._list(node, field, lambda n, s: self._int(n, s, f))
        if f.kind == "list_str":
            return self._list(node, field, lambda n, s: self._choice(n, s, self.scalar(n, s, str), f))
        if f.kind == "table":
            return self._table(node, field)
        raise AssertionError(f"schema kind {f.kind}")  # pragma: no cover - schema is static

    def _table(self, node: yaml.Node, field: str) -> dict[int, dict[int, int]]:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.fail(node, field, "expected a non-empty mapping kernel_size -> {bits: limit}")
        table: dict[int, dict[int, int]] = {}
        positive = _Field("int", minimum=1)
        for knode, rnode in node.value:
            k = self.scalar(knode, f"{field}.<kernel>", int)
            if k < 1:
                self.fail(knode, f"{field}.{k}", "kernel size must be >= 1")
            if k in table:
                self.fail(knode, f"{field}.{k}", "duplicate kernel size")
            if not isinstance(rnode, yaml.MappingNode) or not rnode.value:
                self.fail(rnode, f"{field}.{k}", "expected a non-empty mapping bits -> limit")
            row: dict[int, int] = {}
            for bnode, lnode in rnode.value:
                b = self.scalar(bnode, f"{field}.{k}.<bits>", int)
                if b in row:
                    self.fail(bnode, f"{field}.{k}.{b}", "duplicate bit width")
                row[b] = self._int(lnode, f"{field}.{k}.{b}", positive)
                self.table_nodes[(k, b)] = lnode
            table[k] = row
        return table


def _kind(node: yaml.Node) -> str:
    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "a scalar")


def _names(tys: tuple[type, ...]) -> str:
    return " or ".join({int: "an integer", str: "a string", bool: "a boolean", float: "a number"}.get(t, t.__name__) for t in tys)
