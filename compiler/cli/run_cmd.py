"""`snnc run ARTEFACT INPUT.npy`: bit-exact simulation of an artefact (uses snnc.runtime only).

The samples are simulated a chunk at a time and each chunk's results go straight to disk, so
memory stays bounded however many samples INPUT.npy holds (20,000 LeNet samples: 3 GB peak
when every result was kept, 360 MB now, most of it the process and numba). `--out` is still one
ordinary `.npz`, written atomically: each member is spooled to an anonymous temporary file next
to it (gone even if the process is killed) and copied into the archive at the end. Traces (`--trace`) grow with samples x T x
neurons; they are refused, before the simulation, when they would exceed `MAX_TRACE_BYTES`.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import click

import numpy as np

from snnc.compiler.atomic import atomic_write
from snnc.compiler.cli.common import handle_user_errors
from snnc.compiler.cli.options import OutputFile, backend_option, format_option
from snnc.runtime import InputError, load, simulate
from snnc.runtime.encode import input_clip_warning
from snnc.runtime.npyio import load_input_npy, result_arrays

SHOW = 20
CHUNK_BYTES = 16 << 20  # results of one chunk of samples held in memory at once
PROBE = 16  # samples of the first chunk, which measures the results' size per sample
MAX_TRACE_BYTES = 4 << 30  # --trace: the most spike and membrane traces written for one run


@click.command("run")
@click.argument("artefact", type=click.Path(dir_okay=False))
@click.argument("input_npy", metavar="INPUT.npy", type=click.Path(dir_okay=False))
@click.option("--timesteps", "-T", type=click.IntRange(min=1), default=None,
              help="Timesteps to simulate (default: the T of the artefact's golden vectors).")
@click.option("--out", "out", type=OutputFile(), default=None,
              help="Write counts per layer, logits and predictions (and traces) to this .npz.")
@click.option("--trace", is_flag=True, help="Also record per-layer spikes and membranes (B, T, ...) in --out.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Samples simulated at once.")
@backend_option
@format_option
@handle_user_errors
def run(artefact: str, input_npy: str, timesteps: int | None, out: str | None, trace: bool,
        batch_size: int | None, backend: str, fmt: str = "text") -> None:
    """Simulate ARTEFACT on INPUT.npy ((B, *input_shape) or one sample) and print the outputs."""
    art = load(artefact)
    if timesteps is None:
        if art.golden is None:
            raise InputError("--timesteps: required (the artefact has no golden vectors to take T from)")
        timesteps = art.golden.timesteps
    x = load_input_npy(input_npy, art.input)
    if (clipped := input_clip_warning(art.input, x, input_npy)) is not None:
        click.echo(f"warning: {clipped}", err=True)
    n = len(x)
    summary = _Summary()
    spool = _NpzSpool(n, Path(out).parent if out else None) if out else None
    try:
        start, chunk = 0, min(n, PROBE)
        while start < n:
            res = simulate(art, x[start:start + chunk], timesteps, trace=trace, batch_size=batch_size, backend=backend)
            arrays = result_arrays(res)
            if start == 0:
                per_sample = _per_sample_bytes(arrays, chunk)
                if trace:
                    _check_trace_size(arrays, chunk, n, timesteps)
            summary.add(res)
            if spool is not None:
                spool.add(arrays)
            start += chunk
            chunk = max(batch_size or 1, CHUNK_BYTES // max(1, per_sample))
        if fmt == "text":
            summary.show(n, timesteps)
        if spool is not None:
            with atomic_write(out) as fh:  # a kill leaves the earlier result, never a truncated .npz
                spool.write(fh)
            if fmt == "text":
                click.echo(f"wrote {out}")
        if fmt == "json":
            click.echo(json.dumps(summary.document(artefact, input_npy, n, timesteps, out), indent=2))
    finally:
        if spool is not None:
            spool.close()


def _per_sample_bytes(arrays: dict[str, np.ndarray], samples: int) -> int:
    return -(-sum(a.nbytes for a in arrays.values() if a.ndim) // max(1, samples))


def _check_trace_size(arrays: dict[str, np.ndarray], samples: int, n: int, timesteps: int) -> None:
    per_sample = sum(a.nbytes for k, a in arrays.items() if k.startswith(("spikes/", "membranes/"))) / max(1, samples)
    total = int(per_sample * n)
    if total > MAX_TRACE_BYTES:
        raise InputError(
            f"--trace: the spike and membrane traces of {n:,} samples at T={timesteps} would take "
            f"{_size(total)} ({_size(int(per_sample))} per sample; limit {_size(MAX_TRACE_BYTES)}); "
            "trace fewer samples, or run without --trace (counts, logits and predictions have no limit)")


def _size(b: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b} bytes"


class _Summary:
    """What the command prints: totals over every sample, details of the first SHOW."""

    def __init__(self) -> None:
        self.layer = None
        self.neurons = 0
        self.spikes = 0
        self.rows: list[str] = []
        self.per_sample: list[int] = []  # output spikes of every sample (--format json)
        self.predictions: list[int] | None = None

    def add(self, res) -> None:
        counts = res.output_counts.reshape(len(res.output_counts), -1)
        self.layer, self.neurons = res.output_layer, counts.shape[1]
        self.spikes += int(counts.sum())
        self.per_sample += [int(c) for c in counts.sum(axis=1)]
        if res.predictions is not None:
            self.predictions = (self.predictions or []) + [int(p) for p in res.predictions]
        for i in range(min(len(counts), SHOW - len(self.rows))):
            pred = f"prediction {int(res.predictions[i])}  " if res.predictions is not None else ""
            self.rows.append(f"  sample {len(self.rows)}: {pred}spikes {int(counts[i].sum())}, "
                             f"most active neuron {int(counts[i].argmax())}")

    def show(self, n: int, timesteps: int) -> None:
        click.echo(f"{n} sample(s), T={timesteps}, output layer {self.layer!r} "
                   f"({self.neurons} neurons, {self.spikes} spikes)")
        for row in self.rows:
            click.echo(row)
        if n > SHOW:
            click.echo(f"  ... {n - SHOW} more")

    def document(self, artefact: str, input_npy: str, n: int, timesteps: int, out: str | None) -> dict:
        """`snnc run --format json` (docs/inspect.md, "run"): every sample's prediction and spikes."""
        return {"schema": "snnc-run/1", "artefact": artefact, "input": input_npy, "samples": n,
                "timesteps": timesteps, "output_layer": self.layer, "output_neurons": self.neurons,
                "spikes": self.spikes, "output_spikes": self.per_sample, "predictions": self.predictions,
                "out": out}


class _NpzSpool:
    """The `.npz` that `np.savez(**result_arrays(res))` writes for all n samples, built one chunk
    of samples at a time: each member's rows go to an anonymous temporary file (in the output's
    directory, so on its disk), and `write` copies them into the archive as `.npy` members."""

    def __init__(self, n: int, directory: Path | None):
        self.n = n
        self.dir = str(directory) if directory and str(directory) else "."
        self.members: dict[str, tuple[object, np.dtype, tuple, int]] = {}  # name -> (file, dtype, tail, rows)
        self.scalars: dict[str, np.ndarray] = {}
        self.order: list[str] = []  # the members in the order np.savez would write them

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        for name, a in arrays.items():
            a = np.asarray(a)
            if name not in self.order:
                self.order.append(name)
            if a.ndim == 0:
                self.scalars.setdefault(name, a)
                continue
            entry = self.members.get(name)
            if entry is None:
                entry = (tempfile.TemporaryFile(dir=self.dir, prefix=".snnc-run-"), a.dtype, a.shape[1:], 0)
            f, dtype, tail, rows = entry
            if a.dtype != dtype or a.shape[1:] != tail:  # pragma: no cover - the runtime's results are uniform
                raise RuntimeError(f"result {name}: chunk of {a.dtype} {a.shape} after {dtype} (B, {tail})")
            f.write(memoryview(np.ascontiguousarray(a)).cast("B"))
            self.members[name] = (f, dtype, tail, rows + a.shape[0])

    def write(self, fh) -> None:
        with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in self.order:
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    if name in self.scalars:
                        np.lib.format.write_array(member, self.scalars[name], allow_pickle=False)
                        continue
                    f, dtype, tail, rows = self.members[name]
                    assert rows == self.n, (name, rows, self.n)
                    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                              "shape": (rows, *tail)}
                    try:
                        np.lib.format.write_array_header_1_0(member, header)
                    except ValueError:  # a header too long for format 1.0 (np.save does the same)
                        np.lib.format.write_array_header_2_0(member, header)
                    f.seek(0)
                    shutil.copyfileobj(f, member, 16 << 20)

    def close(self) -> None:
        for f, *_ in self.members.values():
            f.close()
        self.members.clear()
