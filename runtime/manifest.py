"""Artefact <-> (manifest dict, member blobs). The zip container itself is in artefact_io.py."""
from __future__ import annotations

import hashlib
import io
import json
from typing import Any, Callable

import numpy as np

from snnc.runtime.errors import ArtefactError
from snnc.runtime.model import (
    FORMAT_NAME, FORMAT_VERSION, Add, Artefact, AvgPool, Concat, Conv, Flatten, Golden, HostLinear,
    InputSpec, Linear, Neuron, Target,
)
from snnc.runtime.packing import pack, unpack

Members = dict[str, bytes]


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def spec_sha256(spec: Any) -> str:
    """sha256 of the hardware spec's canonical JSON (sorted keys, no spaces)."""
    try:
        return hashlib.sha256(canonical_json(spec)).hexdigest()
    except (TypeError, ValueError) as exc:
        raise ArtefactError(f"hardware_spec: not JSON-serialisable ({exc})") from None


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes, member: str) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt member
        raise ArtefactError(f"{member}: not a valid .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iufb":
        raise ArtefactError(f"{member}: dtype {getattr(arr, 'dtype', '?')} is not numeric")
    return arr


# ---------------------------------------------------------------- encoding (Artefact -> manifest)

def _neuron(n: Neuron) -> dict:
    return {"threshold": list(n.threshold), "bias": list(n.bias), "reset": n.reset, "v_init": n.v_init}


def _weight(layer, enc: str, members: Members) -> dict:
    member = f"weights/{layer.name}.bin"
    members[member] = pack(layer.weight, layer.bits, enc, f"layer {layer.name!r}: weight")
    return {"bits": layer.bits, "shape": list(layer.weight.shape), "member": member}


def _float(arr: np.ndarray, member: str, members: Members) -> dict:
    members[member] = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    return {"dtype": "<f4", "shape": list(arr.shape), "member": member}


ENCODE: dict[type, Callable[[Any, str, Members], dict]] = {
    Conv: lambda l, e, m: {"weight": _weight(l, e, m), "stride": list(l.stride), "padding": list(l.padding),
                           "groups": l.groups, "neuron": _neuron(l.neuron)},
    Linear: lambda l, e, m: {"weight": _weight(l, e, m), "neuron": _neuron(l.neuron)},
    AvgPool: lambda l, e, m: {"kernel": list(l.kernel), "stride": list(l.stride), "neuron": _neuron(l.neuron)},
    Add: lambda l, e, m: {"multipliers": list(l.multipliers), "neuron": _neuron(l.neuron)},
    Concat: lambda l, e, m: {},
    Flatten: lambda l, e, m: {},
    HostLinear: lambda l, e, m: {"weight": _float(l.weight, f"host/{l.name}.weight.bin", m),
                                 "bias": _float(l.bias, f"host/{l.name}.bias.bin", m), "input_scale": l.input_scale},
}


def _golden(g: Golden, members: Members) -> dict:
    members["golden/inputs.npy"] = npy_bytes(g.inputs)
    out: dict[str, Any] = {"timesteps": g.timesteps, "inputs": "golden/inputs.npy", "counts": {},
                           "predictions": None, "spikes": {}}
    for name, arr in g.counts.items():
        out["counts"][name] = f"golden/counts/{name}.npy"
        members[out["counts"][name]] = npy_bytes(arr)
    if g.predictions is not None:
        out["predictions"] = "golden/predictions.npy"
        members["golden/predictions.npy"] = npy_bytes(g.predictions)
    for name, arr in (g.spikes or {}).items():
        out["spikes"][name] = f"golden/spikes/{name}.npy"
        members[out["spikes"][name]] = npy_bytes(arr)
    return out


def to_manifest(a: Artefact) -> tuple[dict, Members]:
    """The manifest (with checksums of every member) and the members' bytes."""
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
                  "scale": i.scale, "rate_init": i.rate_init},
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

def _member(members: Members, name: str, where: str) -> bytes:
    if name not in members:
        raise ArtefactError(f"{where}: member {name!r} is missing")
    return members[name]


def _get_weight(d: dict, enc: str, members: Members, where: str) -> dict:
    w = d["weight"]
    count = int(np.prod(w["shape"]))
    values = unpack(_member(members, w["member"], where), count, w["bits"], enc, f"{where}: weight ({w['member']})")
    return {"weight": values.reshape(w["shape"]), "bits": w["bits"]}


def _get_float(f: dict, members: Members, where: str) -> np.ndarray:
    blob = _member(members, f["member"], where)
    count = int(np.prod(f["shape"]))
    if len(blob) != 4 * count:
        raise ArtefactError(f"{where}: {f['member']} has {len(blob)} bytes, expected {4 * count} (float32 {f['shape']})")
    return np.frombuffer(blob, dtype="<f4").reshape(f["shape"])


def _get_neuron(d: dict) -> dict:
    n = d["neuron"]
    return {"neuron": Neuron(n["threshold"], n["bias"], n["reset"], n["v_init"])}


DECODE: dict[str, Callable[[dict, str, Members, str], dict]] = {
    "conv": lambda d, e, m, w: {**_get_weight(d, e, m, w), "stride": d["stride"], "padding": d["padding"],
                                "groups": d["groups"], **_get_neuron(d)},
    "linear": lambda d, e, m, w: {**_get_weight(d, e, m, w), **_get_neuron(d)},
    "avgpool": lambda d, e, m, w: {"kernel": d["kernel"], "stride": d["stride"], **_get_neuron(d)},
    "add": lambda d, e, m, w: {"multipliers": d["multipliers"], **_get_neuron(d)},
    "concat": lambda d, e, m, w: {},
    "flatten": lambda d, e, m, w: {},
    "host_linear": lambda d, e, m, w: {"weight": _get_float(d["weight"], m, w), "bias": _get_float(d["bias"], m, w),
                                       "input_scale": d["input_scale"]},
}
KIND_TYPES = {"conv": Conv, "linear": Linear, "avgpool": AvgPool, "add": Add, "concat": Concat,
              "flatten": Flatten, "host_linear": HostLinear}


def _read_golden(g: dict, members: Members) -> Golden:
    def arr(name: str) -> np.ndarray:
        return npy_load(_member(members, name, "golden"), name)

    return Golden(
        inputs=arr(g["inputs"]), timesteps=g["timesteps"],
        counts={k: arr(v) for k, v in g["counts"].items()},
        predictions=arr(g["predictions"]) if g["predictions"] is not None else None,
        spikes={k: arr(v) for k, v in g["spikes"].items()} or None,
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
