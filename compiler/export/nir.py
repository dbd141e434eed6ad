"""An artefact as a NIR graph (Neuromorphic Intermediate Representation) and back (docs/nir.md).

    graph = to_nir(artefact)            # nir.NIRGraph: NIR primitives + exact integers in metadata
    art = from_nir(graph)               # the same Artefact: save(art) is byte-identical to the .snn
    write_nir("m.snn", "m.nir")         # snnc export m.snn --nir m.nir
    import_nir("m.nir", "m2.snn")       # snnc export --from-nir m.nir --out m2.snn

Each layer kind is one entry of `KINDS` (an exporter that adds the layer's NIR nodes and an
importer that reads them back); a new layer kind is one more entry. The NIR nodes carry what NIR
can say (integer weights as float32 arrays, IF neurons with r = 1 and v_threshold = theta, conv
and linear biases, pooling windows, add multipliers as Scale nodes); the `snnc` entry of each
node's metadata carries the exact integers and everything NIR cannot say (bits, reset by
subtraction, initial membrane, membrane width, overflow, fire condition, input quantization and
encoding), and the graph's metadata carries the target, the hardware spec, the provenance, the
layer order and the golden vectors. The importer reads both and refuses a graph in which they
disagree, naming the node.

The `nir` package is an optional dependency (pip install nir); this module imports it only when
called.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from snnc.compiler.errors import SnncError
from snnc.runtime.errors import ArtefactError
from snnc.runtime.model import (
    Add, Artefact, AvgPool, Concat, Conv, Flatten, Golden, HostLinear, InputSpec, Linear, Neuron, Target,
)

CONVENTION = "snnc-nir"  # graph.metadata["snnc"]["convention"]
CONVENTION_VERSION = 1
META = "snnc"  # the key of snnc's entry in every node's and the graph's metadata
INPUT = "input"  # the NIR Input node: x_int, the quantized integer input
RATE = "input.rate"  # the rate encoder (an IF node) when input.encoding is "rate"
OUTPUT = "output"
TARGET_STRINGS = ("overflow", "fire", "weight_encoding")  # the other Target fields are integers
FLOAT32_EXACT = 1 << 24  # every integer of at most this magnitude is exact in float32


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise SnncError("NIR export and import need the optional package nir: pip install nir") from None
    return nir


# ---------------------------------------------------------------- numbers

def _exact_float(values: Any) -> np.ndarray:
    """Integers as a float array for NIR readers: float32 when every value is exact in it, else
    float64 (exact up to 2^53; the metadata holds the integers in any case)."""
    v = np.asarray(values, dtype=np.int64)
    return v.astype(np.float32 if not v.size or int(np.abs(v).max()) <= FLOAT32_EXACT else np.float64)


def _per_channel(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """One value per tensor or per output channel (axis 0), spread over the whole `shape`."""
    v = _exact_float(values)
    return np.ascontiguousarray(np.broadcast_to(v.reshape((-1,) + (1,) * (len(shape) - 1)), shape))


def _bad(node: str, message: str) -> SnncError:
    return SnncError(f"NIR node {node!r}: {message}")


def _int_array(value: Any, node: str, field: str) -> np.ndarray:
    """A NIR array that must hold integers (any numeric dtype), as int64."""
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":
        raise _bad(node, f"{field}: expected numbers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise _bad(node, f"{field}: expected integer values (snnc weights and parameters are integers)")
        if a.size and float(np.abs(a).max()) >= 2.0 ** 63:
            raise _bad(node, f"{field}: values outside int64")
    return a.astype(np.int64)


def _same(nir_values: Any, exact: Any, shape: tuple[int, ...] | None, node: str, field: str, meta_field: str) -> None:
    """The NIR field must say what the exact metadata says (as written by the exporter)."""
    want = _exact_float(exact) if shape is None else _per_channel(exact, shape)
    got = np.asarray(nir_values)
    if got.shape != want.shape or got.dtype.kind not in "iuf" \
            or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
        raise _bad(node, f"{field} does not match the metadata's exact {meta_field} "
                         f"(edit both, or neither; docs/nir.md)")


# ---------------------------------------------------------------- metadata values
# In memory they are Python values and numpy arrays; read back from a .nir file (HDF5) they are
# numpy scalars, arrays and str. These accept both.

def _m(meta: dict, key: str, node: str) -> Any:
    if key not in meta:
        raise _bad(node, f"metadata {META}.{key} is missing")
    return meta[key]


def _m_str(meta: dict, key: str, node: str) -> str:
    v = _m(meta, key, node)
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if not isinstance(v, str):
        raise _bad(node, f"metadata {META}.{key}: expected a string, got {v!r}")
    return v


def _m_int(meta: dict, key: str, node: str) -> int:
    v = _m(meta, key, node)
    a = np.asarray(v)
    if a.shape != () or a.dtype.kind not in "iu" or isinstance(v, (bool, np.bool_)):
        raise _bad(node, f"metadata {META}.{key}: expected an integer, got {v!r}")
    return int(a)


def _m_float(meta: dict, key: str, node: str) -> float:
    v = _m(meta, key, node)
    a = np.asarray(v)
    if a.shape != () or a.dtype.kind not in "iuf" or isinstance(v, (bool, np.bool_)):
        raise _bad(node, f"metadata {META}.{key}: expected a number, got {v!r}")
    return float(a)


def _m_bool(meta: dict, key: str, node: str) -> bool:
    v = _m(meta, key, node)
    if not isinstance(v, (bool, np.bool_)):
        raise _bad(node, f"metadata {META}.{key}: expected true or false, got {v!r}")
    return bool(v)


def _m_ints(meta: dict, key: str, node: str) -> list[int]:
    a = np.asarray(_m(meta, key, node))
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise _bad(node, f"metadata {META}.{key}: expected a list of integers, got {a!r}")
    return [int(v) for v in a]


def _m_json(meta: dict, key: str, node: str) -> Any:
    try:
        return json.loads(_m_str(meta, key, node))
    except ValueError as exc:
        raise _bad(node, f"metadata {META}.{key}: not valid JSON ({exc})") from None


def _m_dict(meta: dict, key: str, node: str) -> dict:
    v = _m(meta, key, node)
    if not isinstance(v, dict):
        raise _bad(node, f"metadata {META}.{key}: expected a group, got {type(v).__name__}")
    return v


# ---------------------------------------------------------------- export

class _Export:
    """The graph being built: nodes, edges, and which NIR node holds each tensor."""

    def __init__(self, art: Artefact):
        self.nir = _nir()
        self.art = art
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.shapes: dict[str, tuple[int, ...]] = {INPUT: art.input.shape}
        self.shapes.update({layer.name: layer.output_shape for layer in art.layers})
        self.tail = {INPUT: RATE if art.input.encoding == "rate" else INPUT}

    def add(self, name: str, node: Any, **meta: Any) -> str:
        if name in self.nodes:
            raise SnncError(f"NIR export: node name {name!r} is used twice (a layer is named like another "
                            f"layer's helper node; rename one of them)")
        node.metadata = {META: meta}
        self.nodes[name] = node
        return name

    def edge(self, src: str, dst: str) -> None:
        self.edges.append((src, dst))

    def source(self, tensor: str) -> str:
        """The NIR node whose output is the tensor `tensor` (a layer name or "input")."""
        return self.tail.get(tensor, tensor)

    def neuron(self, layer: Any, synapse: str | None, *, with_bias_in_synapse: bool) -> None:
        """The IF node `layer.name` (r = 1, v_threshold = theta, v_reset = 0), fed by `synapse`
        (None: the caller adds the edges)."""
        n, t, shape = layer.neuron, self.art.target, layer.output_shape
        self.add(layer.name, self.nir.IF(r=np.ones(shape, np.float32), v_threshold=_per_channel(n.threshold, shape),
                                         v_reset=np.zeros(shape, np.float32)),
                 kind=layer.kind, threshold=np.asarray(n.threshold, np.int64), bias=np.asarray(n.bias, np.int64),
                 bias_in_nir=with_bias_in_synapse, reset=n.reset, v_init=n.v_init, membrane_bits=t.membrane_bits,
                 overflow=t.overflow, fire=t.fire, **_kind_extras(layer, t))
        if synapse is not None:
            self.edge(synapse, layer.name)


def _kind_extras(layer: Any, t: Target) -> dict:
    if isinstance(layer, (Conv, Linear)):
        out = {"bits": layer.bits, "weight_encoding": t.weight_encoding}
        if isinstance(layer, Conv):
            out["padding"] = np.asarray(layer.padding, np.int64)
            out["groups"] = layer.groups
        return out
    return {}


def _refuse_without_neuron(layer: Any) -> None:
    if getattr(layer, "neuron", None) is None:
        raise SnncError(f"layer {layer.name!r}: a {layer.kind} layer without neurons has no NIR mapping "
                        f"(only a conv may be synaptic; docs/nir.md)")


def _dense(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped conv's weight (O, C_in/g, kh, kw) as the equal ungrouped one (O, C_in, kh, kw):
    zero outside each output channel's group (nir cannot type a grouped Conv2d: it takes C_in
    from weight.shape[1]). groups stays in the metadata."""
    o, cg = weight.shape[:2]
    dense = np.zeros((o, cg * groups) + weight.shape[2:], np.float32)
    per = o // groups
    for q in range(groups):
        dense[q * per:(q + 1) * per, q * cg:(q + 1) * cg] = weight[q * per:(q + 1) * per]
    return dense


def _grouped(dense: np.ndarray, groups: int, node: str) -> np.ndarray:
    """The inverse of `_dense`; refuses a weight that is not zero outside the groups."""
    if dense.ndim != 4 or groups < 1 or dense.shape[0] % groups or dense.shape[1] % groups:
        raise _bad(node, f"weight {list(dense.shape)} cannot hold {groups} groups")
    o, c = dense.shape[:2]
    per, cg = o // groups, c // groups
    out = np.zeros((o, cg) + dense.shape[2:], np.int64)
    rest = dense.copy()
    for q in range(groups):
        out[q * per:(q + 1) * per] = dense[q * per:(q + 1) * per, q * cg:(q + 1) * cg]
        rest[q * per:(q + 1) * per, q * cg:(q + 1) * cg] = 0
    if np.any(rest):
        raise _bad(node, f"weight has non-zero values outside its {groups} groups (metadata groups)")
    return out


def _export_conv(layer: Conv, out: _Export) -> None:
    """conv -> IF: a Conv2d `L.conv` (with the neurons' bias) feeding the IF node `L`. A synaptic
    conv (no neurons: it carries its integer current to an add) is the Conv2d alone, named `L`."""
    top, left, bottom, right = layer.padding
    if layer.dilated:
        raise SnncError(f"layer {layer.name!r}: input_dilation {list(layer.input_dilation)} (a transposed convolution); "
                        "NIR's Conv2d has no input dilation, so this layer cannot be exported (docs/nir.md)")
    if (top, left) != (bottom, right):
        raise SnncError(f"layer {layer.name!r}: padding {list(layer.padding)} (top, left, bottom, right) is "
                        f"asymmetric; NIR's Conv2d pads both sides alike, so this layer cannot be exported (docs/nir.md)")
    src = layer.inputs[0]
    synaptic = layer.neuron is None
    conv = out.nir.Conv2d(
        input_shape=tuple(out.shapes[src][1:]), weight=_dense(layer.weight, layer.groups), stride=tuple(layer.stride),
        padding=(top, left), dilation=(1, 1), groups=1,
        bias=np.zeros(layer.weight.shape[0], np.float32) if synaptic else _exact_float(layer.neuron.bias))
    if synaptic:
        out.add(layer.name, conv, kind="conv", synaptic=True, **_kind_extras(layer, out.art.target))
        out.edge(out.source(src), layer.name)
        return
    syn = out.add(f"{layer.name}.conv", conv, layer=layer.name, role="synapse")
    out.edge(out.source(src), syn)
    out.neuron(layer, syn, with_bias_in_synapse=True)


def _export_linear(layer: Linear, out: _Export) -> None:
    _refuse_without_neuron(layer)
    syn = out.add(f"{layer.name}.linear", out.nir.Affine(weight=layer.weight.astype(np.float32),
                                                          bias=_exact_float(layer.neuron.bias)),
                  layer=layer.name, role="synapse")
    out.edge(out.source(layer.inputs[0]), syn)
    out.neuron(layer, syn, with_bias_in_synapse=True)


def _export_avgpool(layer: AvgPool, out: _Export) -> None:
    syn = out.add(f"{layer.name}.pool", out.nir.SumPool2d(kernel_size=np.asarray(layer.kernel, np.int64),
                                                           stride=np.asarray(layer.stride, np.int64),
                                                           padding=np.zeros(2, np.int64)),
                  layer=layer.name, role="synapse")
    out.edge(out.source(layer.inputs[0]), syn)
    out.neuron(layer, syn, with_bias_in_synapse=False)


def _export_add(layer: Add, out: _Export) -> None:
    """add -> IF: one Scale node `L.in<k>` per input entry (its multiplier, spread over the
    input's shape: one value, or one per channel), all feeding the IF node `L`. An entry listed
    twice is two Scale nodes, so NIR's sum of incoming edges is the add's sum."""
    for k, (src, m) in enumerate(zip(layer.inputs, layer.multipliers)):
        per_channel = isinstance(m, tuple)
        scale = out.add(f"{layer.name}.in{k}", out.nir.Scale(scale=_per_channel(m if per_channel else [m], out.shapes[src])),
                        layer=layer.name, role="multiplier", index=k, per_channel=per_channel)
        out.edge(out.source(src), scale)
        out.edge(scale, layer.name)
    out.neuron(layer, None, with_bias_in_synapse=False)


def _export_concat(layer: Concat, out: _Export) -> None:
    """Concat as a sum of placements: each input through a 0/1 Conv2d 1x1 (or Linear, when flat)
    that puts its channels at their offset, summed into an identity Scale named after the layer."""
    total = layer.output_shape[0]
    offset = 0
    for k, src in enumerate(layer.inputs):
        shape = out.shapes[src]
        place = np.zeros((total, shape[0]), np.float32)
        place[offset + np.arange(shape[0]), np.arange(shape[0])] = 1.0
        if len(shape) == 3:
            node = out.nir.Conv2d(input_shape=tuple(shape[1:]), weight=place[:, :, None, None], stride=(1, 1),
                                  padding=(0, 0), dilation=(1, 1), groups=1, bias=np.zeros(total, np.float32))
        else:
            node = out.nir.Linear(weight=place)
        name = out.add(f"{layer.name}.in{k}", node, layer=layer.name, role="placement", index=k, offset=offset)
        out.edge(out.source(src), name)
        out.edge(name, layer.name)
        offset += shape[0]
    out.add(layer.name, out.nir.Scale(scale=np.ones(layer.output_shape, np.float32)), kind="concat")


def _export_flatten(layer: Flatten, out: _Export) -> None:
    src = layer.inputs[0]
    out.add(layer.name, out.nir.Flatten(input_type={"input": np.asarray(out.shapes[src])}, start_dim=0, end_dim=-1),
            kind="flatten")
    out.edge(out.source(src), layer.name)


def _export_host_linear(layer: HostLinear, out: _Export) -> None:
    src = out.source(layer.inputs[0])
    if layer.input_scale != 1.0:
        src_shape = out.shapes[layer.inputs[0]]
        scale = out.add(f"{layer.name}.scale", out.nir.Scale(scale=np.full(src_shape, layer.input_scale, np.float64)),
                        layer=layer.name, role="input_scale")
        out.edge(src, scale)
        src = scale
    out.add(layer.name, out.nir.Affine(weight=np.asarray(layer.weight, np.float32), bias=np.asarray(layer.bias, np.float32)),
            kind="host_linear", placement="host", input_scale=layer.input_scale, softmax=layer.softmax,
            readout="logits = mean over the T steps of this node's output")
    out.edge(src, layer.name)


def _export_input(out: _Export) -> None:
    i, t = out.art.input, out.art.target
    if i.encoding not in ("current", "rate"):
        raise SnncError(f"input encoding {i.encoding!r}: snnc has no NIR mapping for it (its spike generator is not a "
                        "NIR node); compile with --input-encoding current or rate to export")
    out.add(INPUT, out.nir.Input(input_type={"input": np.asarray(i.shape)}), role="input", encoding=i.encoding,
            lo=i.lo, hi=i.hi, scale=i.scale, rate_init=i.rate_init, layout=i.layout, input_bits=t.input_bits,
            quantization="x_int = clip(rint(x / scale), lo, hi); NIR readers take x_int")
    if i.encoding == "rate":
        # a <- a + x_int; a >= hi: spike, a <- a - hi  ==  IF(r=1, theta=hi), reset by subtraction, fire ge
        shape = i.shape
        out.add(RATE, out.nir.IF(r=np.ones(shape, np.float32), v_threshold=np.full(shape, float(i.hi), np.float64),
                                 v_reset=np.zeros(shape, np.float32)),
                role="rate_encoder", threshold=i.hi, reset="subtract", fire="ge", v_init=i.rate_init)
        out.edge(INPUT, RATE)


# ---------------------------------------------------------------- import

class _Import:
    """Reads a graph written by `to_nir`; every error names the NIR node."""

    def __init__(self, graph: Any, where: str):
        self.nir = _nir()
        self.graph, self.where = graph, where
        self.nodes: dict[str, Any] = dict(graph.nodes)
        self.edges = [(str(a), str(b)) for a, b in graph.edges]
        self.claimed: set[str] = set()
        self.layers: list[str] = []
        self.input: InputSpec | None = None
        self.target: Target | None = None

    def node(self, name: str, cls: Any, what: str) -> Any:
        if name not in self.nodes:
            raise _bad(name, f"is missing ({what})")
        node = self.nodes[name]
        classes = cls if isinstance(cls, tuple) else (cls,)
        if not isinstance(node, classes):
            raise _bad(name, f"is a {type(node).__name__}, expected {' or '.join(c.__name__ for c in classes)} ({what})")
        self.claimed.add(name)
        return node

    def meta(self, name: str) -> dict:
        meta = getattr(self.nodes[name], "metadata", None)
        if not isinstance(meta, dict) or not isinstance(meta.get(META), dict):
            raise _bad(name, f"has no metadata {META!r} (not written by snnc export --nir)")
        return meta[META]

    def preds(self, name: str, count: int | None = 1) -> list[str]:
        found = [a for a, b in self.edges if b == name]
        if count is not None and len(found) != count:
            raise _bad(name, f"has {len(found)} incoming edge(s), expected {count}: {found}")
        return found

    def helper(self, name: str, layer: str, role: str, cls: Any) -> tuple[Any, dict]:
        node = self.node(name, cls, f"the {role} of layer {layer!r}")
        meta = self.meta(name)
        if _m_str(meta, "layer", name) != layer or _m_str(meta, "role", name) != role:
            raise _bad(name, f"metadata says layer {meta.get('layer')!r} role {meta.get('role')!r}, "
                             f"expected layer {layer!r} role {role!r}")
        return node, meta

    def tensor(self, node: str, consumer: str) -> str:
        """The tensor (a layer name or "input") that NIR node `node` outputs."""
        if node in (INPUT, RATE) and self.input is not None:
            if node == (RATE if self.input.encoding == "rate" else INPUT):
                return INPUT
        if node in self.layers:
            return node
        raise _bad(consumer, f"reads {node!r}, which is neither the input nor an earlier layer")

    def source(self, name: str) -> str:
        return self.tensor(self.preds(name)[0], name)

    def neuron(self, name: str, meta: dict, node: Any, synapse_bias: Any = None) -> Neuron:
        """The Neuron of IF node `name`, checking that its NIR fields say what the metadata says."""
        threshold = _m_ints(meta, "threshold", name)
        bias = _m_ints(meta, "bias", name)
        shape = tuple(np.asarray(node.r).shape)
        if not np.array_equal(np.asarray(node.r, np.float64), np.ones(shape)):
            raise _bad(name, "r must be 1 everywhere (snnc neurons integrate the current unscaled)")
        if np.any(np.asarray(node.v_reset, np.float64) != 0):
            raise _bad(name, "v_reset must be 0 (snnc resets to zero or by subtraction; see metadata reset)")
        if len(threshold) not in (1, shape[0]):
            raise _bad(name, f"metadata {META}.threshold has {len(threshold)} values; expected 1 or {shape[0]}")
        _same(node.v_threshold, threshold, shape, name, "v_threshold", "threshold")
        if synapse_bias is not None:
            _same(synapse_bias[1], bias, None, synapse_bias[0], "bias", f"bias (node {name!r})")
        t = self.target
        for key in ("membrane_bits", "overflow", "fire"):
            value = _m(meta, key, name)
            if (_m_int(meta, key, name) if key == "membrane_bits" else _m_str(meta, key, name)) != getattr(t, key):
                raise _bad(name, f"metadata {META}.{key} = {value!r} but the graph's target says {getattr(t, key)!r}")
        return Neuron(threshold, bias, _m_str(meta, "reset", name), _m_str(meta, "v_init", name))


def _shape(node: Any, name: str, key: str = "output") -> tuple[int, ...]:
    types = node.output_type if key == "output" else node.input_type
    value = (types or {}).get(key)
    if value is None:
        raise _bad(name, f"has no {key} type")
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def _pair(value: Any, name: str, field: str) -> tuple[int, int]:
    a = _int_array(value, name, field).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size != 2:
        raise _bad(name, f"{field}: expected 2 values, got {a.tolist()}")
    return int(a[0]), int(a[1])


def _import_conv(ctx: _Import, name: str) -> Conv:
    nir = ctx.nir
    node = ctx.node(name, (nir.IF, nir.Conv2d), "a conv layer: its neurons, or the conv itself when synaptic")
    meta = ctx.meta(name)
    if isinstance(node, nir.Conv2d):  # synaptic: no neurons
        if not _m_bool(meta, "synaptic", name):
            raise _bad(name, f"is a Conv2d but metadata {META}.synaptic is not true")
        if np.any(np.asarray(node.bias) != 0):
            raise _bad(name, "bias must be 0 (a synaptic conv has no neurons and no bias)")
        syn, syn_name, neuron, shape = node, name, None, _shape(node, name)
    else:
        syn_name = ctx.preds(name)[0]
        syn, _ = ctx.helper(syn_name, name, "synapse", nir.Conv2d)
        neuron, shape = None, tuple(np.asarray(node.r).shape)
    if _pair(syn.dilation, syn_name, "dilation") != (1, 1):
        raise _bad(syn_name, f"dilation {np.asarray(syn.dilation).tolist()}: snnc convolutions are not dilated")
    if isinstance(syn.padding, str):
        raise _bad(syn_name, f"padding {syn.padding!r}: expected explicit numbers")
    padding = _m_ints(meta, "padding", name)
    if len(padding) != 4 or _pair(syn.padding, syn_name, "padding") != (padding[0], padding[1]) \
            or padding[:2] != padding[2:]:
        raise _bad(syn_name, f"padding {np.asarray(syn.padding).tolist()} does not match the metadata's "
                             f"{META}.padding {padding} of node {name!r}")
    if int(_int_array(syn.groups, syn_name, "groups")) != 1:
        raise _bad(syn_name, f"groups {syn.groups}: snnc writes grouped convolutions as dense ones (metadata groups)")
    groups = _m_int(meta, "groups", name)
    if syn is not node:
        neuron = ctx.neuron(name, meta, node, synapse_bias=(syn_name, syn.bias))
    return Conv(name, [ctx.source(syn_name)], shape,
                weight=_grouped(_int_array(syn.weight, syn_name, "weight"), groups, syn_name),
                bits=_m_int(meta, "bits", name), stride=_pair(syn.stride, syn_name, "stride"), padding=padding,
                groups=groups, neuron=neuron)


def _import_linear(ctx: _Import, name: str) -> Linear:
    nir = ctx.nir
    node = ctx.node(name, nir.IF, "the neurons of a linear layer")
    meta = ctx.meta(name)
    syn_name = ctx.preds(name)[0]
    syn, _ = ctx.helper(syn_name, name, "synapse", nir.Affine)
    neuron = ctx.neuron(name, meta, node, synapse_bias=(syn_name, syn.bias))
    return Linear(name, [ctx.source(syn_name)], tuple(np.asarray(node.r).shape),
                  weight=_int_array(syn.weight, syn_name, "weight"), bits=_m_int(meta, "bits", name), neuron=neuron)


def _import_avgpool(ctx: _Import, name: str) -> AvgPool:
    nir = ctx.nir
    node = ctx.node(name, nir.IF, "the neurons of an avgpool layer")
    meta = ctx.meta(name)
    syn_name = ctx.preds(name)[0]
    syn, _ = ctx.helper(syn_name, name, "synapse", nir.SumPool2d)
    if _pair(syn.padding, syn_name, "padding") != (0, 0):
        raise _bad(syn_name, f"padding {np.asarray(syn.padding).tolist()}: snnc pooling has no padding")
    neuron = ctx.neuron(name, meta, node)
    return AvgPool(name, [ctx.source(syn_name)], tuple(np.asarray(node.r).shape),
                   kernel=_pair(syn.kernel_size, syn_name, "kernel_size"), stride=_pair(syn.stride, syn_name, "stride"),
                   neuron=neuron)


def _indexed(ctx: _Import, name: str, role: str, cls: Any) -> list[tuple[str, Any, dict]]:
    """The helper nodes feeding `name`, one per input entry, in the order of their `index`."""
    found = []
    for pred in ctx.preds(name, None):
        node, meta = ctx.helper(pred, name, role, cls)
        found.append((_m_int(meta, "index", pred), pred, node, meta))
    found.sort(key=lambda f: f[0])
    if not found or [f[0] for f in found] != list(range(len(found))):
        raise _bad(name, f"its {role} nodes have indices {[f[0] for f in found]}, expected 0..{len(found) - 1}")
    return [(pred, node, meta) for _, pred, node, meta in found]


def _import_add(ctx: _Import, name: str) -> Add:
    nir = ctx.nir
    node = ctx.node(name, nir.IF, "the neurons of an add layer")
    meta = ctx.meta(name)
    inputs, multipliers = [], []
    for pred, scale, smeta in _indexed(ctx, name, "multiplier", nir.Scale):
        values = _int_array(scale.scale, pred, "scale")
        per_channel = values.reshape(values.shape[0] if values.ndim else 1, -1)[:, 0]
        m: Any = tuple(int(v) for v in per_channel) if _m_bool(smeta, "per_channel", pred) else int(per_channel[0])
        if values.ndim == 0 or not np.array_equal(values, _per_channel(m if isinstance(m, tuple) else [m], values.shape)):
            raise _bad(pred, "scale is not one multiplier per input" + (" channel" if isinstance(m, tuple) else "")
                       + " (metadata per_channel)")
        multipliers.append(m)
        inputs.append(ctx.source(pred))
    return Add(name, inputs, tuple(np.asarray(node.r).shape), multipliers=multipliers, neuron=ctx.neuron(name, meta, node))


def _import_concat(ctx: _Import, name: str) -> Concat:
    nir = ctx.nir
    node = ctx.node(name, nir.Scale, "the output of a concat layer")
    shape = tuple(np.asarray(node.scale).shape)
    if not np.array_equal(np.asarray(node.scale, np.float64), np.ones(shape)):
        raise _bad(name, "scale must be 1 everywhere (a concat only places its inputs)")
    inputs, offset = [], 0
    for pred, place, meta in _indexed(ctx, name, "placement", (nir.Conv2d, nir.Linear)):
        w = _int_array(place.weight, pred, "weight")
        c = w.shape[1] if w.ndim >= 2 else 0
        want = np.zeros((shape[0], c) + ((1, 1) if w.ndim == 4 else ()), np.int64)
        want[(offset + np.arange(c), np.arange(c)) + ((0, 0) if w.ndim == 4 else ())] = 1
        if w.shape != want.shape or not np.array_equal(w, want) or _m_int(meta, "offset", pred) != offset:
            raise _bad(pred, f"weight is not the placement of its input at channel offset {offset}")
        if isinstance(place, nir.Conv2d) and np.any(np.asarray(place.bias) != 0):
            raise _bad(pred, "bias must be 0 (a concat only places its inputs)")
        inputs.append(ctx.source(pred))
        offset += c
    return Concat(name, inputs, shape)


def _import_flatten(ctx: _Import, name: str) -> Flatten:
    node = ctx.node(name, ctx.nir.Flatten, "a flatten layer")
    if int(node.start_dim) != 0 or int(node.end_dim) != -1:
        raise _bad(name, f"start_dim {node.start_dim}, end_dim {node.end_dim}: expected 0 and -1 (all axes of "
                         f"the unbatched tensor)")
    return Flatten(name, [ctx.source(name)], _shape(node, name))


def _import_host_linear(ctx: _Import, name: str) -> HostLinear:
    nir = ctx.nir
    node = ctx.node(name, nir.Affine, "the host layer")
    meta = ctx.meta(name)
    input_scale = _m_float(meta, "input_scale", name)
    pred = ctx.preds(name)[0]
    src_node = pred
    if pred == f"{name}.scale":
        scale, _ = ctx.helper(pred, name, "input_scale", nir.Scale)
        if np.any(np.asarray(scale.scale, np.float64) != input_scale):
            raise _bad(pred, f"scale does not match the metadata's {META}.input_scale {input_scale!r} of node {name!r}")
        src_node = ctx.preds(pred)[0]
        consumer = pred
    elif input_scale != 1.0:
        raise _bad(name, f"metadata {META}.input_scale is {input_scale!r} but no Scale node {name + '.scale'!r} "
                         f"feeds it")
    else:
        consumer = name
    weight = np.asarray(node.weight)
    return HostLinear(name, [ctx.tensor(src_node, consumer)], (int(weight.shape[0]),), weight=weight,
                      bias=np.asarray(node.bias), input_scale=input_scale, softmax=_m_bool(meta, "softmax", name))


def _import_input(ctx: _Import) -> InputSpec:
    nir = ctx.nir
    node = ctx.node(INPUT, nir.Input, "the network input")
    meta = ctx.meta(INPUT)
    spec = InputSpec(shape=_shape(node, INPUT, "input"), encoding=_m_str(meta, "encoding", INPUT),
                     lo=_m_int(meta, "lo", INPUT), hi=_m_int(meta, "hi", INPUT), scale=_m_float(meta, "scale", INPUT),
                     rate_init=_m_str(meta, "rate_init", INPUT), layout=_m_str(meta, "layout", INPUT))
    if _m_int(meta, "input_bits", INPUT) != ctx.target.input_bits:
        raise _bad(INPUT, f"metadata {META}.input_bits disagrees with the graph's target")
    if spec.encoding == "rate":
        enc = ctx.node(RATE, nir.IF, "the rate encoder")
        emeta = ctx.meta(RATE)
        if ctx.preds(RATE) != [INPUT] or _m_int(emeta, "threshold", RATE) != spec.hi \
                or _m_str(emeta, "v_init", RATE) != spec.rate_init:
            raise _bad(RATE, "is not the rate encoder of the input (IF with threshold hi fed by the input)")
        _same(enc.v_threshold, [spec.hi], spec.shape, RATE, "v_threshold", "threshold")
    return spec


@dataclass(frozen=True)
class KindMapping:
    """How one artefact layer kind becomes NIR nodes and back. `export(layer, out)` adds the
    layer's nodes (the one named after the layer outputs its tensor) and their edges;
    `import_(ctx, name)` reads them back into the layer."""

    export: Callable[[Any, _Export], None]
    import_: Callable[[_Import, str], Any]


KINDS: dict[str, KindMapping] = {
    "conv": KindMapping(_export_conv, _import_conv),
    "linear": KindMapping(_export_linear, _import_linear),
    "avgpool": KindMapping(_export_avgpool, _import_avgpool),
    "add": KindMapping(_export_add, _import_add),
    "concat": KindMapping(_export_concat, _import_concat),
    "flatten": KindMapping(_export_flatten, _import_flatten),
    "host_linear": KindMapping(_export_host_linear, _import_host_linear),
}


# ---------------------------------------------------------------- golden vectors (graph metadata)

def _golden_meta(g: Golden) -> dict:
    out: dict[str, Any] = {"timesteps": g.timesteps, "inputs": np.asarray(g.inputs),
                           "inputs_dtype": np.asarray(g.inputs).dtype.str,
                           "counts": {k: np.asarray(v) for k, v in g.counts.items()},
                           "counts_layers": json.dumps(list(g.counts))}
    if g.predictions is not None:
        out["predictions"] = np.asarray(g.predictions)
    if g.spikes is not None:
        out["spikes"] = {k: np.asarray(v) for k, v in g.spikes.items()}
        out["spikes_layers"] = json.dumps(list(g.spikes))
    if g.digests:  # golden count digests (docs/artefact.md), layer -> SHA-256 hex, in the artefact's order
        out["digests"] = json.dumps(dict(g.digests))
    return out


def _golden_from(meta: dict, where: str) -> Golden:
    def ordered(kind: str) -> dict[str, np.ndarray]:
        arrays = _m_dict(meta, kind, where)
        names = _m_json(meta, f"{kind}_layers", where)
        if not isinstance(names, list) or sorted(names) != sorted(arrays):
            raise _bad(where, f"metadata {META}.golden.{kind}_layers does not list the layers of golden.{kind}")
        return {n: np.asarray(arrays[n]) for n in names}

    try:
        dtype = np.dtype(_m_str(meta, "inputs_dtype", where))
    except TypeError as exc:
        raise _bad(where, f"metadata {META}.golden.inputs_dtype: {exc}") from None
    return Golden(inputs=np.asarray(_m(meta, "inputs", where)).astype(dtype), timesteps=_m_int(meta, "timesteps", where),
                  counts=ordered("counts"),
                  predictions=np.asarray(meta["predictions"]) if "predictions" in meta else None,
                  spikes=ordered("spikes") if "spikes" in meta else None,
                  digests=_digests(meta, where))


def _digests(meta: dict, where: str) -> dict[str, str]:
    if "digests" not in meta:
        return {}
    d = _m_json(meta, "digests", where)
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items()):
        raise _bad(where, f"metadata {META}.golden.digests must be a JSON object of layer -> SHA-256 hex string")
    return d


# ---------------------------------------------------------------- the API

def to_nir(artefact: Artefact) -> Any:
    """The artefact as a `nir.NIRGraph` (type-checked by nir); `from_nir` inverts it exactly."""
    out = _Export(artefact)
    _export_input(out)
    for layer in artefact.layers:
        mapping = KINDS.get(layer.kind)
        if mapping is None:
            what = ("the float host part of a hybrid artefact (--host-from) has no NIR form yet; export the model "
                    "compiled without --host-from" if layer.kind == "host_op" else "snnc has no NIR mapping for it")
            raise SnncError(f"layer {layer.name!r}: kind {layer.kind!r}: {what}")
        mapping.export(layer, out)
    last = artefact.layers[-1]
    out.add(OUTPUT, out.nir.Output(output_type={"output": np.asarray(last.output_shape)}), role="output")
    out.edge(last.name, OUTPUT)
    t = artefact.target
    meta: dict[str, Any] = {
        "convention": CONVENTION, "convention_version": CONVENTION_VERSION, "format_version": 1,
        "layers": json.dumps([layer.name for layer in artefact.layers]),
        "target": {k: getattr(t, k) for k in Target.__dataclass_fields__},
        "hardware_spec": json.dumps(dict(artefact.hardware_spec)),
        "provenance": json.dumps(dict(artefact.provenance)),
    }
    if artefact.golden is not None:
        meta["golden"] = _golden_meta(artefact.golden)
    try:
        return out.nir.NIRGraph(nodes=out.nodes, edges=out.edges, metadata={META: meta}, type_check=True)
    except (ValueError, AssertionError, NotImplementedError) as exc:  # pragma: no cover - an exporter bug
        raise SnncError(f"NIR export: nir refused the graph ({exc})") from None


def from_nir(graph: Any, where: str = "NIR graph") -> Artefact:
    """The Artefact a graph written by `to_nir` (or read back from its file) describes."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise SnncError(f"{where}: expected a nir.NIRGraph, got {type(graph).__name__}")
    gmeta = graph.metadata.get(META) if isinstance(graph.metadata, dict) else None
    if not isinstance(gmeta, dict):
        raise SnncError(f"{where}: no {META!r} graph metadata: only graphs written by snnc export --nir can be "
                        f"imported (docs/nir.md)")
    g = "graph"
    if _m_str(gmeta, "convention", g) != CONVENTION or _m_int(gmeta, "convention_version", g) != CONVENTION_VERSION:
        raise SnncError(f"{where}: graph metadata convention {gmeta.get('convention')!r} version "
                        f"{gmeta.get('convention_version')!r}; this snnc reads {CONVENTION!r} {CONVENTION_VERSION}")
    ctx = _Import(graph, where)
    try:
        tmeta = _m_dict(gmeta, "target", g)
        ctx.target = Target(**{k: (_m_str if k in TARGET_STRINGS else _m_int)(tmeta, k, g)
                               for k in Target.__dataclass_fields__})
        names = _m_json(gmeta, "layers", g)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise _bad(g, f"metadata {META}.layers must be the list of layer names")
        ctx.input = _import_input(ctx)
        layers = []
        for name in names:
            kind = _m_str(ctx.meta(name), "kind", name) if name in ctx.nodes else None
            if kind is None:
                raise _bad(name, "is missing (a layer listed in the graph metadata)")
            if kind not in KINDS:
                raise _bad(name, f"kind {kind!r} has no NIR mapping in this snnc")
            try:
                layers.append(KINDS[kind].import_(ctx, name))
            except ArtefactError as exc:
                raise _bad(name, str(exc)) from None
            ctx.layers.append(name)
        for name, node in ctx.nodes.items():
            if name not in ctx.claimed and not isinstance(node, nir.Output):
                raise _bad(name, "is not part of any snnc layer (this importer reads graphs written by "
                                 "snnc export --nir)")
        golden = _golden_from(_m_dict(gmeta, "golden", g), "graph (golden)") if "golden" in gmeta else None
        hardware_spec = _m_json(gmeta, "hardware_spec", g)
        provenance = _m_json(gmeta, "provenance", g)
        return Artefact(input=ctx.input, layers=tuple(layers), target=ctx.target, hardware_spec=hardware_spec,
                        provenance=provenance, golden=golden)
    except SnncError as exc:
        raise SnncError(f"{where}: {exc}") from None
    except ArtefactError as exc:
        raise SnncError(f"{where}: the artefact it describes is invalid (each layer is the NIR node of its name): "
                        f"{exc}") from None


def write_nir(artefact_path: str | Path, out_path: str | Path) -> Path:
    """Load an .snn artefact and write it as a NIR (HDF5) file, atomically. Returns out_path."""
    from snnc.compiler.atomic import check_writable, write_bytes
    from snnc.runtime import load

    out = check_writable(out_path, "--nir")
    graph = to_nir(load(artefact_path))
    buf = io.BytesIO()
    _nir().write(buf, graph)
    return write_bytes(out, buf.getvalue())


def read_nir(path: str | Path) -> Artefact:
    """The artefact a .nir file written by `write_nir` holds."""
    nir = _nir()
    p = Path(path)
    if not p.is_file():
        raise SnncError(f"{p}: no such file")
    try:
        graph = nir.read(str(p))
    except (OSError, ValueError, KeyError, TypeError, AssertionError, AttributeError) as exc:
        raise SnncError(f"{p}: not a readable NIR file ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None
    return from_nir(graph, str(p))


def import_nir(nir_path: str | Path, out_path: str | Path) -> Path:
    """Read a .nir file written by `write_nir` and save the artefact it holds (atomically)."""
    from snnc.compiler.atomic import check_writable
    from snnc.runtime import save

    out = check_writable(out_path, "--out")
    return save(read_nir(nir_path), out)
