"""Artefact <-> (manifest dict, member blobs). The zip container itself is in artefact_io.py.

Also the two definitions outsiders must reproduce exactly (docs/artefact.md): the canonical JSON
that the hardware spec's hash is taken over, and the member names the format defines.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import math
import re
from typing import Any, Callable

import numpy as np

from snnc.runtime.errors import ArtefactError
from snnc.runtime.model import (
    FORMAT_NAME, FORMAT_VERSION, Add, Artefact, AvgPool, Concat, Conv, Flatten, Golden, HostLinear, HostOp,
    InputSpec, Linear, MaxPool, Neuron, Target,
)
from snnc.runtime.packing import pack, unpack

Members = dict[str, bytes]

# ---------------------------------------------------------------- canonical JSON (docs/artefact.md)

MAX_CANONICAL_DEPTH = 64


def _check_canonical(obj: Any, path: str, depth: int = 0) -> None:
    """Only what the canonical form defines: objects with string keys, arrays, strings, integers,
    finite floats, true, false, null."""
    if depth > MAX_CANONICAL_DEPTH:
        raise ArtefactError(f"{path}: nested deeper than {MAX_CANONICAL_DEPTH} levels")
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ArtefactError(f"{path}: key {key!r} is not a string (canonical JSON has string keys only)")
            _check_canonical(value, f"{path}.{key}", depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_canonical(value, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise ArtefactError(f"{path}: {obj} is not a finite number")
    elif not (obj is None or isinstance(obj, (str, int, bool))):  # bool is an int subclass: fine
        raise ArtefactError(f"{path}: {type(obj).__name__} is not a JSON value")


def canonical_json(obj: Any, what: str = "value") -> bytes:
    """The canonical JSON of `obj` (docs/artefact.md, "Canonical JSON"): keys sorted by code point,
    no whitespace, ASCII only (\\uXXXX escapes), integers in plain decimal, floats in the shortest
    round-trip form (Python's repr). Raises ArtefactError naming `what` for anything else."""
    _check_canonical(obj, what)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def spec_sha256(spec: Any) -> str:
    """sha256 (lowercase hex) of the hardware spec's canonical JSON; the one implementation
    (snnc.hwspec uses it too)."""
    return hashlib.sha256(canonical_json(spec, "hardware_spec")).hexdigest()


# ---------------------------------------------------------------- member names the format defines

LAYER_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
MEMBER_RE = re.compile(
    rf"^(?:manifest\.json|manifest\.sha256|weights/{LAYER_NAME}\.bin|host/{LAYER_NAME}\.(?:weight|bias|const)\.bin"
    rf"|golden/(?:inputs|predictions)\.npy|golden/(?:counts|spikes)/{LAYER_NAME}\.npy)$"
)
GOLDEN_INPUTS = "golden/inputs.npy"
GOLDEN_PREDICTIONS = "golden/predictions.npy"


def weight_member(layer: str) -> str:
    return f"weights/{layer}.bin"


def host_member(layer: str, part: str) -> str:
    return f"host/{layer}.{part}.bin"


def golden_member(kind: str, layer: str) -> str:
    return f"golden/{kind}/{layer}.npy"


def defined_members(manifest: dict) -> dict[str, str]:
    """member name -> the manifest field that names it, for every member a (schema-valid) manifest
    defines besides manifest.json and manifest.sha256. Raises ArtefactError if a field names a
    member other than the one the format fixes for it."""
    out: dict[str, str] = {}

    def add(name: str, expected: str, field: str) -> None:
        if name != expected:
            raise ArtefactError(f"{field}: {name!r} must be {expected!r}")
        if name in out:
            raise ArtefactError(f"{field}: {name!r} is also named by {out[name]}")
        out[name] = field

    for i, d in enumerate(manifest["layers"]):
        where = f"layers[{i}]"
        if d["kind"] in ("conv", "linear"):
            add(d["weight"]["member"], weight_member(d["name"]), f"{where}.weight.member")
        elif d["kind"] == "host_linear":
            add(d["weight"]["member"], host_member(d["name"], "weight"), f"{where}.weight.member")
            add(d["bias"]["member"], host_member(d["name"], "bias"), f"{where}.bias.member")
        elif d["kind"] == "host_op":
            for part, f in d["params"].items():
                add(f["member"], host_member(d["name"], part), f"{where}.params.{part}.member")
    g = manifest.get("golden")
    if g is not None:
        add(g["inputs"], GOLDEN_INPUTS, "golden.inputs")
        if g["predictions"] is not None:
            add(g["predictions"], GOLDEN_PREDICTIONS, "golden.predictions")
        for kind in ("counts", "spikes"):
            for layer, name in g[kind].items():
                add(name, golden_member(kind, layer), f"golden.{kind}[{layer!r}]")
    return out


# ---------------------------------------------------------------- .npy members

NPY_MAX_HEADER = 4096


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes, member: str) -> np.ndarray:
    """Parse a .npy member without pickle and without allocating before the size is known: the
    header's shape and dtype must account for exactly the bytes that follow it."""
    def bad(msg: str) -> ArtefactError:
        return ArtefactError(f"{member}: not a valid .npy array ({msg})")

    if blob[:6] != b"\x93NUMPY" or len(blob) < 10:
        raise bad("no .npy magic")
    major = blob[6]
    if major == 1:
        hlen, start = int.from_bytes(blob[8:10], "little"), 10
    elif major in (2, 3):
        hlen, start = int.from_bytes(blob[8:12], "little"), 12
    else:
        raise bad(f"unknown version {major}")
    if hlen > NPY_MAX_HEADER or start + hlen > len(blob):
        raise bad("header too long or truncated")
    try:
        header = ast.literal_eval(blob[start:start + hlen].decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise bad("unreadable header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise bad("header must have exactly descr, fortran_order, shape")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if (not isinstance(shape, tuple) or len(shape) > 8
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 40 for d in shape)):
        raise bad(f"shape {shape!r}")
    if not isinstance(fortran, bool) or not isinstance(descr, str):
        raise bad("fortran_order or descr")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise bad(f"dtype {descr!r}") from None
    if dtype.kind not in "iufb" or dtype.fields is not None or dtype.subdtype is not None:
        raise ArtefactError(f"{member}: dtype {dtype} is not numeric")
    data = memoryview(blob)[start + hlen:]
    need = math.prod(shape) * dtype.itemsize
    if len(data) != need:
        raise bad(f"{len(data)} data bytes, the header's {list(shape)} x {dtype} needs {need}")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr


# ---------------------------------------------------------------- encoding (Artefact -> manifest)

def _neuron(n: Neuron | None) -> dict | None:
    if n is None:  # a synaptic conv
        return None
    return {"threshold": list(n.threshold), "bias": list(n.bias), "reset": n.reset, "v_init": n.v_init}


def _weight(layer, enc: str, members: Members) -> dict:
    member = weight_member(layer.name)
    members[member] = pack(layer.weight, layer.bits, enc, f"layer {layer.name!r}: weight")
    return {"bits": layer.bits, "shape": list(layer.weight.shape), "member": member}


def _float(arr: np.ndarray, member: str, members: Members) -> dict:
    members[member] = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    return {"dtype": "<f4", "shape": list(arr.shape), "member": member}


ENCODE: dict[type, Callable[[Any, str, Members], dict]] = {
    Conv: lambda l, e, m: {"weight": _weight(l, e, m), "stride": list(l.stride), "padding": list(l.padding),
                           "groups": l.groups, "neuron": _neuron(l.neuron),
                           # written only when not [1, 1]: undilated convs keep the bytes they always had
                           **({"input_dilation": list(l.input_dilation)} if l.dilated else {})},
    Linear: lambda l, e, m: {"weight": _weight(l, e, m), "neuron": _neuron(l.neuron)},
    AvgPool: lambda l, e, m: {"kernel": list(l.kernel), "stride": list(l.stride), "neuron": _neuron(l.neuron)},
    MaxPool: lambda l, e, m: {"kernel": list(l.kernel), "stride": list(l.stride)},
    Add: lambda l, e, m: {"multipliers": [list(v) if isinstance(v, tuple) else v for v in l.multipliers],
                          "neuron": _neuron(l.neuron)},
    Concat: lambda l, e, m: {},
    Flatten: lambda l, e, m: {},
    HostOp: lambda l, e, m: {"op": l.op, "attrs": dict(l.attrs), "input_scales": list(l.input_scales),
                             "params": {k: _float(v, host_member(l.name, k), m) for k, v in sorted(l.params.items())}},
    HostLinear: lambda l, e, m: {"weight": _float(l.weight, host_member(l.name, "weight"), m),
                                 "bias": _float(l.bias, host_member(l.name, "bias"), m), "input_scale": l.input_scale,
                                 **({"softmax": True} if l.softmax else {})},  # written only when set
}


def count_dtype(timesteps: int) -> np.dtype:
    """The dtype golden spike counts are written in: the smallest unsigned integer holding T
    (uint8 for T <= 255, else uint16: T <= 4096). Readers take any integer dtype (int64 before)."""
    return np.dtype(np.uint8 if timesteps <= 0xFF else "<u2")


def counts_digest(counts: np.ndarray, timesteps: int) -> str | None:
    """golden.digests' value for a layer: SHA-256 (lowercase hex) of its counts (B, *output_shape) in C
    order, each count in `count_dtype(T)` (uint8, or little-endian uint16 for T > 255); None when a
    count lies outside [0, T], which no simulation gives (docs/artefact.md)."""
    counts = np.asarray(counts)
    if counts.size and (int(counts.min()) < 0 or int(counts.max()) > timesteps):
        return None
    return hashlib.sha256(np.ascontiguousarray(counts, dtype=count_dtype(timesteps)).tobytes()).hexdigest()


def _counts_npy(arr: np.ndarray, timesteps: int) -> bytes:
    """A count array as .npy in `count_dtype(T)`; counts outside [0, T] (no simulation gives them:
    a neuron fires at most once a step) stay int64, so that writing never changes a value."""
    dtype = count_dtype(timesteps)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > timesteps):
        dtype = np.dtype(np.int64)
    return npy_bytes(arr.astype(dtype))


def _golden(g: Golden, members: Members) -> dict:
    members[GOLDEN_INPUTS] = npy_bytes(g.inputs)
    out: dict[str, Any] = {"timesteps": g.timesteps, "inputs": GOLDEN_INPUTS, "counts": {},
                           "predictions": None, "spikes": {}}
    for name, arr in g.counts.items():
        out["counts"][name] = golden_member("counts", name)
        members[out["counts"][name]] = _counts_npy(arr, g.timesteps)
    if g.predictions is not None:
        out["predictions"] = GOLDEN_PREDICTIONS
        members[GOLDEN_PREDICTIONS] = npy_bytes(g.predictions)
    for name, arr in (g.spikes or {}).items():
        out["spikes"][name] = golden_member("spikes", name)
        members[out["spikes"][name]] = npy_bytes(arr)
    if g.digests:  # written only when some layer's counts are a digest: other artefacts keep their bytes
        out["digests"] = dict(g.digests)
    return out


def to_manifest(a: Artefact) -> tuple[dict, Members]:
    """The manifest (with checksums of every member) and the members' bytes (without manifest.json
    and manifest.sha256, which `artefact_io.save` adds)."""
    members: Members = {}
    layers = []
    for layer in a.layers:
        entry = {"name": layer.name, "kind": layer.kind, "inputs": list(layer.inputs),
                 "output_shape": list(layer.output_shape), "placement": layer.placement}
        entry.update(ENCODE[type(layer)](layer, a.target.weight_encoding, members))
        layers.append(entry)
    t, i = a.target, a.input
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "target": {k: getattr(t, k) for k in Target.__dataclass_fields__},
        "input": {"shape": list(i.shape), "encoding": i.encoding, "lo": i.lo, "hi": i.hi,
                  "scale": i.scale, "rate_init": i.rate_init,
                  **({"layout": i.layout} if i.layout != "NCHW" else {}),  # the default is not written
                  **({"seed": i.seed} if i.encoding == "poisson" else {}),  # each with its encoding only
                  **({"population": i.population} if i.encoding == "population" else {}),
                  **({"window": i.window} if i.encoding == "ttfs" else {})},
        "layers": layers,
        "hardware_spec": dict(a.hardware_spec),
        "hardware_spec_sha256": spec_sha256(dict(a.hardware_spec)),
        "provenance": dict(a.provenance),
    }
    if a.golden is not None:
        manifest["golden"] = _golden(a.golden, members)
    manifest["checksums"] = {k: hashlib.sha256(v).hexdigest() for k, v in sorted(members.items())}
    return manifest, members


# ---------------------------------------------------------------- decoding (manifest -> Artefact)

def blob_sizes(manifest: dict) -> dict[str, tuple[int, str, str]]:
    """member -> (exact byte size, what, detail) of every weight and host blob, computed from the
    (schema-valid) manifest alone (Python integers: no overflow), so a container can be checked
    before any blob is read."""
    out: dict[str, tuple[int, str, str]] = {}
    for d in manifest["layers"]:
        if d["kind"] in ("conv", "linear"):
            w = d["weight"]
            count = math.prod(w["shape"])
            out[w["member"]] = ((count * w["bits"] + 7) // 8, f"layer {d['name']!r}: weight ({w['member']})",
                                f"{count} values x {w['bits']} bits")
        elif d["kind"] in ("host_linear", "host_op"):
            parts = d["params"] if d["kind"] == "host_op" else {part: d[part] for part in ("weight", "bias")}
            for part, f in parts.items():
                out[f["member"]] = (4 * math.prod(f["shape"]), f"layer {d['name']!r}: {part} ({f['member']})",
                                    f"float32 {f['shape']}")
    return out


def _member(members: Members, name: str, where: str) -> bytes:
    if name not in members:
        raise ArtefactError(f"{where}: member {name!r} is missing")
    return members[name]


def _get_weight(d: dict, enc: str, members: Members, where: str) -> dict:
    w = d["weight"]
    count = math.prod(w["shape"])
    values = unpack(_member(members, w["member"], where), count, w["bits"], enc, f"{where}: weight ({w['member']})")
    return {"weight": values.reshape(w["shape"]), "bits": w["bits"]}


def _get_float(f: dict, members: Members, where: str) -> np.ndarray:
    blob = _member(members, f["member"], where)
    count = math.prod(f["shape"])
    if len(blob) != 4 * count:
        raise ArtefactError(f"{where}: {f['member']} has {len(blob)} bytes, expected {4 * count} (float32 {f['shape']})")
    return np.frombuffer(blob, dtype="<f4").reshape(f["shape"])


def _get_neuron(d: dict) -> dict:
    n = d["neuron"]
    if n is None:  # the schema allows null for a conv only
        return {"neuron": None}
    return {"neuron": Neuron(n["threshold"], n["bias"], n["reset"], n["v_init"])}


DECODE: dict[str, Callable[[dict, str, Members, str], dict]] = {
    "conv": lambda d, e, m, w: {**_get_weight(d, e, m, w), "stride": d["stride"], "padding": d["padding"],
                                "groups": d["groups"], "input_dilation": d.get("input_dilation", [1, 1]),
                                **_get_neuron(d)},
    "linear": lambda d, e, m, w: {**_get_weight(d, e, m, w), **_get_neuron(d)},
    "avgpool": lambda d, e, m, w: {"kernel": d["kernel"], "stride": d["stride"], **_get_neuron(d)},
    "maxpool": lambda d, e, m, w: {"kernel": d["kernel"], "stride": d["stride"]},
    "add": lambda d, e, m, w: {"multipliers": d["multipliers"], **_get_neuron(d)},
    "concat": lambda d, e, m, w: {},
    "flatten": lambda d, e, m, w: {},
    "host_op": lambda d, e, m, w: {"op": d["op"], "attrs": d["attrs"], "input_scales": d["input_scales"],
                                   "params": {k: _get_float(f, m, w) for k, f in d["params"].items()}},
    "host_linear": lambda d, e, m, w: {"weight": _get_float(d["weight"], m, w), "bias": _get_float(d["bias"], m, w),
                                       "input_scale": d["input_scale"], "softmax": d.get("softmax", False)},
}
KIND_TYPES = {"conv": Conv, "linear": Linear, "avgpool": AvgPool, "maxpool": MaxPool, "add": Add, "concat": Concat,
              "flatten": Flatten, "host_linear": HostLinear, "host_op": HostOp}


def _read_golden(g: dict, members: Members) -> Golden:
    def arr(name: str) -> np.ndarray:
        return npy_load(_member(members, name, "golden"), name)

    return Golden(
        inputs=arr(g["inputs"]), timesteps=g["timesteps"],
        counts={k: arr(v) for k, v in g["counts"].items()},
        predictions=arr(g["predictions"]) if g["predictions"] is not None else None,
        spikes={k: arr(v) for k, v in g["spikes"].items()} or None,
        digests=g.get("digests", {}),
    )


def from_manifest(manifest: dict, members: Members) -> Artefact:
    """Build (and thereby validate) the Artefact; `manifest` must already satisfy the schema."""
    enc = manifest["target"]["weight_encoding"]
    layers = []
    for d in manifest["layers"]:
        where = f"layer {d['name']!r}"
        cls = KIND_TYPES[d["kind"]]
        if d["placement"] != cls.placement:
            raise ArtefactError(f"{where}: placement: {d['placement']!r} but {d['kind']} layers run on the {cls.placement}")
        layers.append(cls(name=d["name"], inputs=d["inputs"], output_shape=d["output_shape"],
                          **DECODE[d["kind"]](d, enc, members, where)))
    golden = _read_golden(manifest["golden"], members) if "golden" in manifest else None
    return Artefact(
        input=InputSpec(**manifest["input"]), layers=tuple(layers), target=Target(**manifest["target"]),
        hardware_spec=manifest["hardware_spec"], provenance=manifest["provenance"], golden=golden,
    )
