"""Compare the per-layer traces of two runs and find the first place they differ (`snnc diff`).

Needs numpy only, so a hardware team can compare an RTL simulation's dump with the golden model
without the compiler:

    from snnc.runtime.diff import first_difference, load_trace
    report = first_difference("golden.snn", "rtl_dump.npz")   # or Trace objects, or dicts of arrays
    print(report.to_text()); report.identical

A trace is what one run recorded, in the runtime's external layout (docs/diff.md):
`spikes/<layer>` (B, T, *shape) 0/1, `membranes/<layer>` (B, T, *shape) integer (V after reset),
`counts/<layer>` (B, *shape) integer, `predictions` (B,), `timesteps`. It comes from a
`snnc run --trace --out X.npz` file, from an artefact's golden vectors, from a `SimResult`, or
from an external dump written in the same layout.

"First" is defined once (`first_difference`): the earliest layer in the artefact's layer order
(the order layers first appear in A when no artefact is known) with any differing value; in that
layer the earliest timestep at which spikes or membranes differ, then the lowest sample, then the
lowest neuron in C order of the layer's shape (a spike before a membrane at the same place); when
the layer's spikes and membranes agree at every step, its first differing count (sample, then
neuron); predictions come after every layer. Layer-major is deliberate: a layer's step t depends
only on earlier layers' steps <= t, so the earliest layer that differs while every layer before it
agrees at every step is the one that computed differently.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from snnc.runtime.errors import InputError

TIMED = ("spikes", "membranes")  # time-resolved quantities, in the order they are compared
QUANTITIES = ("spikes", "membranes", "counts")
IGNORED_KEYS = ("logits", "probabilities", "output_counts")  # in `snnc run --out`, not compared
PREDICTIONS = "predictions"
DIGEST = "counts digest"  # a layer whose counts one side (an artefact) holds as a SHA-256 only


@dataclass
class Trace:
    """One run's recorded values, per layer, validated (dtypes, 0/1 spikes, consistent B and T).

    layers: layer names in the order they first appear (the artefact's order for an artefact)."""

    name: str
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    membranes: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    timesteps: int | None = None
    samples: int | None = None
    layers: tuple[str, ...] = ()
    artefact: Any = None  # the Artefact when the trace came from one
    digests: dict[str, str] = field(default_factory=dict)  # golden count digests of an artefact (docs/artefact.md)

    def quantity(self, q: str) -> dict[str, np.ndarray]:
        return {"spikes": self.spikes, "membranes": self.membranes, "counts": self.counts}[q]

    def has(self, layer: str) -> bool:
        return any(layer in self.quantity(q) for q in QUANTITIES) or layer in self.digests


@dataclass(frozen=True)
class Difference:
    """One differing value. timestep is None for counts and predictions; neuron is the index in
    the layer's shape (C order), `flat` the same as one index; `also` the other time-resolved
    quantities at the same place as (quantity, a, b)."""

    layer: str
    quantity: str
    timestep: int | None
    sample: int | None  # None (and flat None) for a DIGEST difference: a and b are the two SHA-256s
    neuron: tuple[int, ...]
    flat: int | None
    a: int | str
    b: int | str
    also: tuple[tuple[str, int, int], ...] = ()

    def where(self) -> str:
        if self.quantity == DIGEST:
            return "an unknown sample and neuron (one side holds only a SHA-256 of the layer's counts)"
        t = f"timestep {self.timestep}" if self.timestep is not None else "all timesteps"
        n = f", neuron {list(self.neuron)} (flat {self.flat})" if self.neuron else ""
        return f"{t}, sample {self.sample}{n}"

    def __str__(self) -> str:
        extra = "".join(f" ({q}: A={a} B={b})" for q, a, b in self.also)
        return f"layer {self.layer!r} {self.quantity} differ at {self.where()}: A={self.a} B={self.b}{extra}"

    def to_dict(self) -> dict:
        return {"layer": self.layer, "quantity": self.quantity, "timestep": self.timestep, "sample": self.sample,
                "neuron": list(self.neuron), "flat": self.flat, "a": self.a, "b": self.b,
                "also": [{"quantity": q, "a": a, "b": b} for q, a, b in self.also]}


@dataclass
class LayerDiff:
    """Per layer: values compared and differing per quantity, the layer's first difference, and
    notes (a quantity present on one side only, a shape that does not match)."""

    layer: str
    compared: dict[str, int] = field(default_factory=dict)
    differing: dict[str, int] = field(default_factory=dict)
    first: Difference | None = None
    missing_in: str | None = None  # "A" or "B": the layer has no values on that side
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"layer": self.layer, "compared": dict(self.compared), "differing": dict(self.differing),
                "first": self.first.to_dict() if self.first else None, "missing_in": self.missing_in,
                "notes": list(self.notes)}


@dataclass
class Report:
    """The result of `first_difference`. identical: every compared value equal and no structural
    problem (missing layer, different T or batch, mismatched shape)."""

    a: str
    b: str
    layers: list[LayerDiff]
    first: Difference | None
    problems: list[str]
    timesteps: tuple[int | None, int | None]
    samples: tuple[int | None, int | None]

    @property
    def identical(self) -> bool:
        return self.first is None and not self.problems

    @property
    def compared(self) -> int:
        return sum(sum(ld.compared.values()) for ld in self.layers)

    @property
    def differing(self) -> int:
        return sum(sum(ld.differing.values()) for ld in self.layers)

    def headline(self) -> str:
        if self.first is not None:
            return f"first difference: {self.first}"
        if self.problems:
            n = len(self.problems)
            return f"no compared value differs, but the traces do not match: {n} problem{'s' if n > 1 else ''} (below)"
        return f"identical: {self.compared} values compared in {sum(1 for ld in self.layers if ld.compared)} layer(s)"

    def to_text(self) -> str:
        lines = [self.headline(), f"A: {self.a}", f"B: {self.b}"]
        lines += [f"problem: {p}" for p in self.problems]
        rows = [("layer", "compared", "values", "differing", "first (t, sample, neuron)")]
        for ld in self.layers:
            if ld.missing_in:
                rows.append((ld.layer, f"missing in {ld.missing_in}", "-", "-", "-"))
                continue
            first = "-"
            if ld.first is not None and ld.first.quantity == DIGEST:
                first = "(digest differs)"
            elif ld.first is not None:
                t = "-" if ld.first.timestep is None else str(ld.first.timestep)
                first = f"({t}, {ld.first.sample}, {list(ld.first.neuron)})"
            rows.append((ld.layer, "+".join(ld.compared) or "nothing", str(sum(ld.compared.values())),
                         str(sum(ld.differing.values())), first))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        notes: dict[str, list[str]] = {}
        for ld in self.layers:
            for n in ld.notes:
                notes.setdefault(n, []).append(ld.layer)
        lines += [f"note: {n}: {', '.join(names)}" for n, names in notes.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"identical": self.identical, "a": self.a, "b": self.b,
                "first": self.first.to_dict() if self.first else None, "problems": list(self.problems),
                "timesteps": {"a": self.timesteps[0], "b": self.timesteps[1]},
                "samples": {"a": self.samples[0], "b": self.samples[1]},
                "compared": self.compared, "differing": self.differing,
                "layers": [ld.to_dict() for ld in self.layers]}


# --- reading traces --------------------------------------------------------------------------

def _int_array(a: Any, where: str, *, min_ndim: int, spikes: bool = False) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iub":
        raise InputError(f"{where}: dtype {a.dtype} must be an integer (or bool) type")
    if a.ndim < min_ndim:
        raise InputError(f"{where}: shape {a.shape} needs at least {min_ndim} axes")
    if spikes and a.size and (a.min() < 0 or a.max() > 1):
        bad = np.argwhere((a < 0) | (a > 1))[0]
        raise InputError(f"{where}: spikes must be 0 or 1, found {a[tuple(bad)]} at {list(map(int, bad))}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > np.iinfo(np.int64).max:
        raise InputError(f"{where}: value {a.max()} does not fit int64")
    return a


def trace_from_arrays(arrays: Mapping[str, Any], name: str = "<arrays>", artefact: Any = None) -> Trace:
    """A trace from a name -> array mapping in the `.npz` layout of docs/diff.md."""
    tr = Trace(name=name, artefact=artefact)
    order: list[str] = []
    unknown = []
    t_key = None
    for key, value in arrays.items():
        q, _, layer = key.partition("/")
        if q in QUANTITIES and layer:
            where = f"{name}: {key}"
            a = _int_array(value, where, min_ndim=3 if q in TIMED else 2, spikes=q == "spikes")
            tr.quantity(q)[layer] = a
            if layer not in order:
                order.append(layer)
        elif key == PREDICTIONS:
            tr.predictions = _int_array(value, f"{name}: {key}", min_ndim=1)
            if tr.predictions.ndim != 1:
                raise InputError(f"{name}: predictions: shape {tr.predictions.shape} must be (B,)")
        elif key == "timesteps":
            v = np.asarray(value)
            if v.shape != () or v.dtype.kind not in "iu" or int(v) < 1:
                raise InputError(f"{name}: timesteps: must be a positive integer scalar, not {v.dtype} {v.shape}")
            t_key = int(v)
        elif key not in IGNORED_KEYS:
            unknown.append(key)
    if unknown:
        raise InputError(f"{name}: unknown key(s) {', '.join(sorted(unknown)[:8])} (known: spikes/<layer>, "
                         "membranes/<layer>, counts/<layer>, predictions, timesteps; see docs/diff.md)")
    tr.layers = tuple(order)
    _settle_sizes(tr, t_key)
    if tr.timesteps is None and (tr.counts or tr.predictions is not None):
        raise InputError(f"{name}: timesteps: required when no spikes/ or membranes/ member gives T "
                         "(counts and predictions depend on it)")
    return tr


def _settle_sizes(tr: Trace, t_key: int | None) -> None:
    """Every array of one trace has the same B (axis 0) and every timed one the same T (axis 1),
    equal to `timesteps` when given."""
    batch: dict[int, str] = {}
    steps: dict[int, str] = {} if t_key is None else {t_key: "timesteps"}
    for q in QUANTITIES:
        for layer, a in tr.quantity(q).items():
            batch.setdefault(a.shape[0], f"{q}/{layer}")
            if q in TIMED:
                steps.setdefault(a.shape[1], f"{q}/{layer}")
    if tr.predictions is not None:
        batch.setdefault(tr.predictions.shape[0], PREDICTIONS)
    if len(batch) > 1:
        raise InputError(f"{tr.name}: arrays disagree on the batch size: "
                         + ", ".join(f"{k} has {b}" for b, k in batch.items()))
    if len(steps) > 1:
        raise InputError(f"{tr.name}: arrays disagree on T (axis 1 of spikes/membranes, or timesteps): "
                         + ", ".join(f"{k} has {t}" for t, k in steps.items()))
    tr.samples = next(iter(batch), None)
    tr.timesteps = next(iter(steps), None)


def trace_from_artefact(art: Any, name: str = "<artefact>") -> Trace:
    """The golden vectors of an artefact as a trace: counts, spikes where stored, predictions."""
    g = art.golden
    if g is None:
        raise InputError(f"{name}: the artefact has no golden vectors to compare")
    arrays: dict[str, Any] = {f"counts/{k}": v for k, v in g.counts.items()}
    arrays.update({f"spikes/{k}": v for k, v in (g.spikes or {}).items()})
    if g.predictions is not None:
        arrays[PREDICTIONS] = g.predictions
    arrays["timesteps"] = np.int64(g.timesteps)
    tr = trace_from_arrays(arrays, name, artefact=art)
    tr.digests = dict(g.digests)
    tr.layers = tuple(layer.name for layer in art.layers if tr.has(layer.name))
    tr.samples = int(np.asarray(g.inputs).shape[0])
    return tr


def trace_from_result(res: Any, name: str = "<result>") -> Trace:
    """A `SimResult` (of `simulate(..., trace=True)` for spikes and membranes) as a trace."""
    arrays: dict[str, Any] = {f"counts/{k}": v for k, v in res.counts.items()}
    arrays.update({f"spikes/{k}": v for k, v in (res.spikes or {}).items()})
    arrays.update({f"membranes/{k}": v for k, v in (res.membranes or {}).items()})
    if res.predictions is not None:
        arrays[PREDICTIONS] = res.predictions
    arrays["timesteps"] = np.int64(res.timesteps)
    return trace_from_arrays(arrays, name)


def load_trace(path: "str | os.PathLike[str]") -> Trace:
    """A trace from an `.snn` artefact (its golden vectors) or an `.npz` (docs/diff.md)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: neither an .snn artefact nor an .npz archive")
    with zipfile.ZipFile(path) as zf:
        is_artefact = "manifest.json" in zf.namelist()
    if is_artefact:
        from snnc.runtime.artefact_io import load

        return trace_from_artefact(load(path), str(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise InputError(f"{path}: not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return trace_from_arrays(arrays, str(path))


def _as_trace(x: Any, default: str) -> Trace:
    if isinstance(x, Trace):
        return x
    if isinstance(x, (str, os.PathLike)):
        return load_trace(x)
    if hasattr(x, "golden") and hasattr(x, "layers"):
        return trace_from_artefact(x, default)
    if hasattr(x, "counts") and hasattr(x, "output_layer"):
        return trace_from_result(x, default)
    if isinstance(x, Mapping):
        return trace_from_arrays(x, default)
    raise InputError(f"{default}: cannot compare a {type(x).__name__} (a path, Trace, Artefact, SimResult or dict of arrays)")


# --- comparing -------------------------------------------------------------------------------

def _layer_order(a: Trace, b: Trace, art: Any) -> list[str]:
    names = [layer.name for layer in art.layers] if art is not None else list(a.layers)
    extra = [n for tr in (a, b) for n in tr.layers if n not in names]
    return [n for n in names if a.has(n) or b.has(n)] + list(dict.fromkeys(extra))


def _neuron_shape(art: Any, layer: str, a: np.ndarray, lead: int) -> tuple[int, ...]:
    if art is not None:
        try:
            return tuple(art.layer(layer).output_shape)
        except KeyError:
            pass
    return tuple(a.shape[lead:])


def _conform(x: np.ndarray, lead: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """x with trailing axes `shape` (a flat trailing axis of the same size is reshaped), else None."""
    tail = x.shape[lead:]
    if tail == shape:
        return x
    if len(tail) == 1 and tail[0] == int(np.prod(shape, dtype=np.int64)):
        return x.reshape(x.shape[:lead] + shape)
    return None


def _value(x: np.ndarray, idx: tuple) -> int:
    return int(x[idx])


def first_difference(a: Any, b: Any, *, artefact: Any = None, all_layers: bool = True) -> Report:
    """Compare two traces (paths, `Trace`s, artefacts, `SimResult`s or dicts of arrays) exactly.

    artefact: gives the layer order and shapes (default: the artefact A or B came from, if any).
    all_layers: a layer with values on one side only is a problem (else only noted).
    Counts and predictions are compared only when both traces have the same T; spikes and
    membranes over the steps and samples both have."""
    ta, tb = _as_trace(a, "A"), _as_trace(b, "B")
    art = artefact if artefact is not None else (ta.artefact if ta.artefact is not None else tb.artefact)
    problems: list[str] = []
    same_t = ta.timesteps == tb.timesteps or ta.timesteps is None or tb.timesteps is None
    if not same_t:
        problems.append(f"different T: A has T={ta.timesteps}, B has T={tb.timesteps}; spikes and membranes "
                        f"compared over the first {min(ta.timesteps, tb.timesteps)} steps, counts and predictions not compared")
    n = None
    if ta.samples is not None and tb.samples is not None:
        n = min(ta.samples, tb.samples)
        if ta.samples != tb.samples:
            problems.append(f"different batch: A has {ta.samples} samples, B has {tb.samples}; the first {n} compared")
    steps = min(t for t in (ta.timesteps, tb.timesteps) if t is not None) if (ta.timesteps or tb.timesteps) else None
    layers: list[LayerDiff] = []
    for name in _layer_order(ta, tb, art):
        ld = LayerDiff(name)
        layers.append(ld)
        if art is not None and name not in {layer.name for layer in art.layers}:
            ld.notes.append(f"not a layer of the artefact ({len(art.layers)} layers)")
            problems.append(f"layer {name!r}: not a layer of the artefact")
        if not ta.has(name) or not tb.has(name):
            ld.missing_in = "B" if ta.has(name) else "A"
            msg = f"layer {name!r}: missing in {ld.missing_in}"
            (problems.append(msg) if all_layers else ld.notes.append(f"missing in {ld.missing_in}, not compared"))
            continue
        _compare_layer(ld, ta, tb, art, steps, n, same_t, problems)
        if name in ta.digests or name in tb.digests:
            ld.notes = [note for note in ld.notes if not note.startswith("counts only in")]
            _compare_digests(ld, ta, tb, same_t)
    first = next((ld.first for ld in layers if ld.first is not None), None)
    if ta.predictions is not None and tb.predictions is not None and same_t:
        host = art.host.name if art is not None and art.host is not None else PREDICTIONS
        ld = LayerDiff(host)
        pa, pb = ta.predictions[:n], tb.predictions[:n]
        d = pa != pb
        ld.compared[PREDICTIONS], ld.differing[PREDICTIONS] = int(pa.size), int(d.sum())
        if d.any():
            s = int(np.argmax(d))
            ld.first = Difference(host, PREDICTIONS, None, s, (), 0, int(pa[s]), int(pb[s]))
            first = first or ld.first
        layers.append(ld)
    elif (ta.predictions is None) != (tb.predictions is None):
        layers.append(LayerDiff(PREDICTIONS, notes=[f"only in {'A' if ta.predictions is not None else 'B'}, not compared"]))
    return Report(a=ta.name, b=tb.name, layers=layers, first=first, problems=problems,
                  timesteps=(ta.timesteps, tb.timesteps), samples=(ta.samples, tb.samples))


def _compare_digests(ld: LayerDiff, ta: Trace, tb: Trace, same_t: bool) -> None:
    """A layer whose counts one side holds as a digest: the other side's counts (of the same T and
    batch) are digested the same way and the strings compared; anything else is not comparable."""
    name = ld.layer
    (dside, dtr), (cside, ctr) = (("A", ta), ("B", tb)) if name in ta.digests else (("B", tb), ("A", ta))
    counts = ctr.counts.get(name)
    why = None
    if name in ctr.digests and same_t and ctr.samples == dtr.samples:  # two artefacts: compare the digests
        size = int(np.prod(ctr.artefact.layer(name).output_shape)) * int(ctr.samples) if ctr.artefact else 0
        ld.compared[DIGEST], ld.differing[DIGEST] = size, int(ta.digests[name] != tb.digests[name])
        if ld.differing[DIGEST] and ld.first is None:
            ld.first = Difference(name, DIGEST, None, None, (), None, ta.digests[name], tb.digests[name])
        return
    if counts is None:
        why = f"{cside} has no counts (only {'a digest' if name in ctr.digests else 'spikes or membranes'})"
    elif not same_t:
        why = "different T"
    elif ctr.samples != dtr.samples:
        why = f"the digest covers {dtr.samples} samples, {cside} has {ctr.samples}"
    if why is not None:
        ld.notes.append(f"counts held as a SHA-256 digest by {dside}, not compared ({why})")
        return
    from snnc.runtime.manifest import counts_digest

    digest = counts_digest(counts, dtr.timesteps)
    ld.compared[DIGEST] = int(counts.size)
    ld.differing[DIGEST] = 0 if digest == dtr.digests[name] else 1
    if ld.differing[DIGEST] and ld.first is None:
        a, b = (dtr.digests[name], digest or "out of [0, T]") if dside == "A" else (digest or "out of [0, T]", dtr.digests[name])
        ld.first = Difference(name, DIGEST, None, None, (), None, a, b)


def _compare_layer(ld: LayerDiff, ta: Trace, tb: Trace, art: Any, steps: int | None, n: int | None,
                   same_t: bool, problems: list[str]) -> None:
    name = ld.layer
    timed: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shape: tuple[int, ...] | None = None
    for q in QUANTITIES:
        xa, xb = ta.quantity(q).get(name), tb.quantity(q).get(name)
        if xa is None or xb is None:
            if xa is not None or xb is not None:
                ld.notes.append(f"{q} only in {'A' if xa is not None else 'B'}, not compared")
            continue
        lead = 2 if q in TIMED else 1
        ref = _neuron_shape(art, name, xa, lead)
        ca, cb = _conform(xa, lead, ref), _conform(xb, lead, ref)
        if ca is None or cb is None:
            side, bad = ("A", xa) if ca is None else ("B", xb)
            msg = (f"{q}: {side} has shape {bad.shape}, expected (B, {'T, ' if lead == 2 else ''}"
                   f"{', '.join(map(str, ref))}){' (the artefact layer shape)' if art is not None else ''}; not compared")
            problems.append(f"layer {name!r} {msg}")
            ld.notes.append(msg)
            continue
        shape = ref
        if q in TIMED:
            timed[q] = (ca[:n, :steps], cb[:n, :steps])
        elif same_t:
            _compare_counts(ld, ca[:n], cb[:n], ref)
        else:
            ld.notes.append("counts not compared (different T)")
    if timed and shape is not None:
        _compare_timed(ld, timed, shape)
    ld.compared = {q: ld.compared[q] for q in QUANTITIES if q in ld.compared}
    ld.differing = {q: ld.differing[q] for q in QUANTITIES if q in ld.differing}


def _compare_counts(ld: LayerDiff, ca: np.ndarray, cb: np.ndarray, shape: tuple[int, ...]) -> None:
    d = ca.astype(np.int64) != cb.astype(np.int64)
    ld.compared["counts"], ld.differing["counts"] = int(d.size), int(d.sum())
    if ld.first is None and d.any():
        flat2 = d.reshape(len(d), -1)
        k = int(np.argmax(flat2))
        s, f = divmod(k, flat2.shape[1])
        neuron = tuple(int(i) for i in np.unravel_index(f, shape))
        ld.first = Difference(ld.layer, "counts", None, s, neuron, f, _value(ca, (s, *neuron)), _value(cb, (s, *neuron)))


def _compare_timed(ld: LayerDiff, timed: dict[str, tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...]) -> None:
    """Step by step (a step's comparison is B x neurons, so memory stays small however long T is)."""
    qs = [q for q in TIMED if q in timed]
    b, t_len = timed[qs[0]][0].shape[:2]
    width = int(np.prod(shape, dtype=np.int64))
    counts = {q: 0 for q in qs}
    first = None
    for t in range(t_len):
        diffs = {}
        for q in qs:
            xa, xb = timed[q]
            d = (xa[:, t].astype(np.int64) != xb[:, t].astype(np.int64)).reshape(b, width)
            counts[q] += int(d.sum())
            diffs[q] = d
        if first is None:
            union = np.logical_or.reduce([diffs[q] for q in qs])
            if union.any():
                k = int(np.argmax(union))
                s, f = divmod(k, width)
                neuron = tuple(int(i) for i in np.unravel_index(f, shape))
                q0 = next(q for q in qs if diffs[q][s, f])
                vals = {q: (_value(timed[q][0], (s, t, *neuron)), _value(timed[q][1], (s, t, *neuron))) for q in qs}
                also = tuple((q, *vals[q]) for q in qs if q != q0)
                first = Difference(ld.layer, q0, t, s, neuron, f, *vals[q0], also=also)
    for q in qs:
        ld.compared[q], ld.differing[q] = int(b * t_len * width), counts[q]
    if first is not None:
        ld.first = first  # a timed difference comes before any count difference of the layer
