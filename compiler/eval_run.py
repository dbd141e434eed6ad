"""`snnc eval` as a library call: one artefact, or a model compiled over a grid of configurations.

    eval_artefact(art, test, timesteps, ...)             -> EvalRun  # the SNN's numbers
    eval_model(graph, hw, bits, options, calib, test, timesteps, sweep=[("bits", [2, 4])], ...)
                                                         -> EvalRun  # float, quantized ANN, SNN per config

`EvalRun.result` is the document `snnc eval --format json` prints (docs/eval.md); `extras` holds
what only the Markdown report draws. Each model configuration is compiled in memory with the
options of `snnc compile` (`CompileOptions`), so the numbers are those of the artefact `compile`
would write.
"""
from __future__ import annotations

import itertools
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from snnc.compiler.backend.build import compile_graph
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.data import Dataset
from snnc.compiler.errors import SnncError
from snnc.compiler.ir.graph import Graph

CORRELATION_SAMPLES = 64
BATCH = 100
E_MAC_PJ, E_AC_PJ = 4.6, 0.9
ENERGY_NOTE = ("Core layers only: the host layer is the same in both networks and is excluded; neuron updates "
               "(threshold compare, reset), memory access and data movement are not modelled.")

Progress = Callable[[Iterator, str], Iterator]


@dataclass
class EvalRun:
    result: dict
    configs: list[dict]
    extras: list = field(default_factory=list)  # per config: ConfigPlots (report) or None

    @property
    def fits(self) -> bool:
        return all(c.get("fits", True) for c in self.configs)


def machine() -> dict:
    import numpy as np

    from snnc.compiler import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "snnc": __version__}


def label(overrides: dict) -> str:
    return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in overrides.items())


def _header(target: str, data: str, timesteps: Sequence[int], e_mac: float, e_ac: float, command: str | None) -> dict:
    from snnc.compiler.energy import ENERGY_SOURCE

    return {"target": target, "data": data, "timesteps": list(timesteps), "command": command, "machine": machine(),
            "energy_model": {"e_mac_pj": e_mac, "e_ac_pj": e_ac, "source": ENERGY_SOURCE, "note": ENERGY_NOTE}}


def device_backend(device: str = "auto"):
    """`snnc eval --device`'s simulator: auto -> "auto" (a CUDA GPU through torch when present, else
    numba or numpy), cpu -> numba when importable else numpy, cuda / cuda:N -> the torch backend on
    that GPU (`runtime.torch_backend.torch_backend`)."""
    from snnc.runtime.backend import numba_available

    if device == "auto":
        return "auto"
    if device == "cpu":
        return "numba" if numba_available() else "numpy"
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        try:
            from snnc.runtime.torch_backend import torch_backend
        except ImportError:
            raise SnncError(f"--device {device}: needs torch (pip install torch)") from None
        return torch_backend(device)
    raise SnncError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")


def config_result(art, acc, e_mac, e_ac, lowered=None, graph=None, test=None, extras=None, backend="auto",
                  diagnosis: bool = True) -> dict:
    """One configuration's numbers; fills `extras` (a ConfigPlots) with what only the report draws.
    diagnosis: run `lag_diagnosis` (False: the caller does, for artefacts compiled per T)."""
    from snnc.compiler.evaluate import activity_summary, ann_layer_values, layer_correlation

    layers, energies = activity_summary(art, acc, e_mac_pj=e_mac, e_ac_pj=e_ac)
    tmax = max(acc.snn_acc)
    res: dict = {"quantized_ann": acc.qann_acc, "snn": acc.snn_acc, "agreement_snn_vs_quantized_ann": acc.agreement}
    # input spikes per image at each T (docs/encodings.md); None for a current-coded input
    res["input_spikes_per_image"] = {t: (float(a.count_sums["input"].sum()) / acc.samples if "input" in a.count_sums
                                         and acc.samples else None) for t, a in acc.activity.items()}
    if lowered is not None:
        reports = {rep.artefact_name: rep for rep in lowered.layers}
        for layer in layers:
            rep = reports.get(layer.name)
            if rep is not None:
                layer.weight_error, layer.scale = rep.weight_error, rep.scale
        n = min(CORRELATION_SAMPLES, acc.samples)
        corr = layer_correlation(art, lowered.qann, ann_layer_values(graph, lowered),
                                 test.take(n, tuple(art.input.shape), layout=art.input.layout), tmax, backend=backend)
        for layer in layers:
            if layer.name in corr:
                layer.correlation = corr[layer.name].r
        res["correlation_samples"] = n
        if extras is not None:
            extras.correlation = corr
        res["diagnosis"] = lag_diagnosis(art, acc, lowered, graph, test, n, corr, tmax, backend) if diagnosis else None
    if extras is not None:
        extras.histograms = {layer.name: acc.activity[tmax].histograms[layer.name] for layer in layers}
    res["layers"] = [layer.to_dict() for layer in layers]
    res["energy"] = {t: e.to_dict() for t, e in energies.items()}
    from snnc.compiler.energy import host_macs

    res["host_macs"] = host_macs(art)  # per image, float, outside the exact contract
    return res


LAG = 0.01  # the SNN "lags" at T when it is more than one point below the quantized ANN


def lag_diagnosis(art, acc, lowered, graph, test, n, corr_tmax, tmax, backend="auto") -> dict | None:
    """At the smallest T where the SNN lags the quantized ANN, the first layer whose firing rates
    depart from the ANN's and the remedies that apply (None when it never lags)."""
    from snnc.compiler.evaluate import ann_layer_values, diagnose, finetune_blocker, layer_correlation

    if acc.qann_acc is None:
        return None
    lagging = [t for t in sorted(acc.snn_acc) if acc.snn_acc[t] < acc.qann_acc - LAG]
    if not lagging:
        return None
    t = lagging[0]
    corr = corr_tmax if t == tmax else layer_correlation(art, lowered.qann, ann_layer_values(graph, lowered),
                                                         test.take(n, tuple(art.input.shape), layout=art.input.layout), t,
                                                         backend=backend)
    d = diagnose(corr, [layer.name for layer in art.layers], t, finetune_blocked=finetune_blocker(art))
    return None if d is None else {**d.to_dict(), "text": d.to_text()}


def _finish(result: dict, configs: list[dict], extras: list, samples: int, float_acc, swept: bool, t0: float) -> EvalRun:
    result.update({"samples": samples, "float": float_acc})
    if swept:
        result["configs"] = configs
    else:
        result.update(configs[0])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return EvalRun(result, configs, extras)


def eval_artefact(art, test: Dataset, timesteps: Sequence[int], *, name: str = "artefact", data: str = "",
                  float_graph: Graph | None = None, limit: int | None = None, e_mac: float = E_MAC_PJ,
                  e_ac: float = E_AC_PJ, report: bool = False, progress: Progress | None = None,
                  command: str | None = None, backend="auto", ray: str | None = None) -> EvalRun:
    """The SNN's accuracy, activity and energy for a compiled artefact (and `float_graph`'s accuracy).
    `backend`: the simulator (`device_backend`); `ray`: a Ray address to split the data over
    (`distributed.Executor`), None to run here."""
    from snnc.compiler.distributed import Executor

    from snnc.compiler.evaluate import evaluate
    from snnc.compiler.report import ConfigPlots

    t0 = time.perf_counter()
    result = _header(name, data, timesteps, e_mac, e_ac, command)
    executor = Executor(ray, progress=progress)
    acc = evaluate(art, test, timesteps, graph=float_graph, limit=limit, batch_size=BATCH, progress=progress,
                   backend=backend, executor=executor)
    extra = ConfigPlots() if report else None
    configs = [{"label": Path(name).name, "sweep": {}, "options": dict(art.provenance.get("options") or {}),
                **config_result(art, acc, e_mac, e_ac, extras=extra, backend=backend)}]
    return _finish(result, configs, [extra], acc.samples, acc.float_acc, False, t0)


@dataclass
class Compiled:
    """What eval keeps of one configuration's build (small enough to come back from a Ray task)."""

    options: CompileOptions
    exit_code: int
    check_text: str
    warnings: list
    artefact: Any = None
    lowered: Any = None


def compile_job(graph: Graph, hw: Any, bits: int | None, options: dict, calib: Dataset | None,
                source_sha256: str | None, job: tuple[dict, int], progress: Progress | None = None) -> Compiled:
    """`compile_config` of one (overrides, T) work item of `eval_model`."""
    overrides, timesteps = job
    return compile_config(graph, hw, bits, timesteps, options, calib, source_sha256, overrides, progress=progress)


def compile_config(graph: Graph, hw: Any, bits: int | None, timesteps: int, options: dict, calib: Dataset | None,
                   source_sha256: str | None, overrides: dict, progress: Progress | None = None) -> Compiled:
    """Compile one configuration of a sweep in memory (a work item of `eval_model`)."""
    from snnc.hwspec import HardwareSpec, load_spec

    spec = hw if isinstance(hw, HardwareSpec) else load_spec(hw)
    opts = CompileOptions(bits=overrides.get("bits", bits), timesteps=timesteps,
                          **{**options, **{k: v for k, v in overrides.items() if k != "bits"}})
    res = compile_graph(graph, spec, opts, calib, source_sha256=source_sha256, progress=progress)
    if res.exit_code != 0:
        return Compiled(opts, res.exit_code, res.check.to_text(), list(res.warnings))
    return Compiled(opts, 0, "", list(res.warnings), res.artefact, res.lowered)


def eval_model(graph: Graph, hw: Any, bits: int | None, options: dict, calib: Dataset | None, test: Dataset,
               timesteps: Sequence[int], *, sweep: Sequence[tuple[str, list]] = (), name: str = "model",
               data: str = "", source_sha256: str | None = None, limit: int | None = None,
               e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, report: bool = False,
               progress: Progress | None = None, warn: Callable[[str], None] | None = None,
               command: str | None = None, backend="auto", ray: str | None = None) -> EvalRun:
    """Compile `graph` for every combination of `sweep` (over `options`, the CompileOptions keyword
    arguments other than bits and timesteps) and score the float model, the quantized ANN and the
    SNN at every T. A configuration that does not fit is reported (`fits: False`, the check text).
    `backend`: the simulator (`device_backend`). `ray`: a Ray address (`distributed.Executor`): the
    configurations compile as Ray tasks, and each one's test data is split into shards, each a task;
    None runs everything here, one after another. The numbers are the same either way."""
    from dataclasses import replace

    import numpy as np

    from snnc.compiler.distributed import Executor
    from snnc.compiler.evaluate import evaluate
    from snnc.compiler.report import ConfigPlots
    from snnc.hwspec import HardwareSpec, load_spec

    t0 = time.perf_counter()
    wrap: Progress = progress or (lambda it, desc: it)
    keys = [k for k, _ in sweep]
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in sweep))] or [{}]
    spec0 = hw if isinstance(hw, HardwareSpec) else load_spec(hw)
    for b in {o.get("bits", bits) for o in grid}:  # every bit width is allowed, before any work
        if b is None:
            raise SnncError("bits: required when evaluating a model (or evaluate a compiled artefact)")
        spec0.check_bits(b)
    result = _header(name, data, timesteps, e_mac, e_ac, command)
    configs: list[dict] = []
    extras: list = []
    float_acc, samples = None, 0
    executor = Executor(ray, progress=wrap)
    if executor.distributed and calib is not None and type(calib.x) is not np.ndarray:
        # a lazy .npz member holds an open file: the tasks get the samples themselves (all of them,
        # so that the compile reads exactly what it reads here)
        calib = replace(calib, x=np.asarray(calib.x))
    compile_args = (graph, hw if executor.distributed and not isinstance(hw, HardwareSpec) else spec0, bits,
                    options, calib, source_sha256)
    ts = sorted(set(timesteps))
    tmax = ts[-1]
    # automatic calibration tunes an artefact for the T it compiles at: with several T, one compile per T
    per_t = options.get("calibration") == "auto" and calib is not None and len(ts) > 1
    jobs = [(o, t) for o in grid for t in (ts if per_t else [tmax])]
    compiled = executor.map(compile_job, jobs, shared=compile_args, desc="compile") if executor.distributed else None
    done = iter(compiled) if compiled is not None else None
    for overrides in wrap(grid, "configurations") if len(grid) > 1 and compiled is None else grid:
        runs = {t: next(done) if done is not None else compile_job(*compile_args, (overrides, t), progress=wrap)
                for t in (ts if per_t else [tmax])}
        res = runs[tmax]
        opts = res.options
        entry = {"label": label(overrides) or Path(name).name, "sweep": overrides, "options": opts.to_dict()}
        if res.exit_code != 0:  # whether a network fits does not depend on T
            configs.append({**entry, "fits": False, "check": res.check_text})
            extras.append(None)
            continue
        for w in dict.fromkeys(w for r in runs.values() for w in r.warnings) if warn else []:
            warn(f"{entry['label'] + ': ' if overrides else ''}{w}")
        accs = {}
        for t, r in runs.items():  # the float model is scored once (with the first artefact)
            accs[t] = evaluate(r.artefact, test, [t] if per_t else timesteps,
                               graph=graph if float_acc is None and not accs else None, qann=r.lowered.qann,
                               limit=limit, batch_size=BATCH, progress=wrap, backend=backend, executor=executor)
        if float_acc is None:
            float_acc = next(iter(accs.values())).float_acc
        acc = accs[tmax] if not per_t else per_timestep_accuracy(accs)
        samples = acc.samples
        extra = ConfigPlots() if report else None
        out = config_result(res.artefact, acc, e_mac, e_ac, res.lowered, graph, test, extra, backend, diagnosis=not per_t)
        if per_t:
            out["compiled_per_timesteps"] = True
            out["quantized_ann_by_timesteps"] = {t: a.qann_acc for t, a in accs.items()}
            out["diagnosis"] = per_timestep_diagnosis(runs, accs, graph, test, out.get("correlation_samples", 0), backend)
        configs.append({**entry, "fits": True, **out})
        extras.append(extra)
    return _finish(result, configs, extras, samples, float_acc, bool(sweep), t0)


def per_timestep_accuracy(accs: dict) -> Any:
    """One Accuracy from one artefact per T (each scored at its own T); the quantized ANN is the
    largest T's artefact's (each T's is in `quantized_ann_by_timesteps`)."""
    from dataclasses import replace

    tmax = max(accs)
    return replace(accs[tmax], snn_acc={t: a.snn_acc[t] for t, a in accs.items()},
                   agreement={t: a.agreement[t] for t, a in accs.items() if t in a.agreement},
                   activity={t: a.activity[t] for t, a in accs.items()})


def per_timestep_diagnosis(runs: dict, accs: dict, graph, test, n: int, backend) -> dict | None:
    """`lag_diagnosis` at the smallest T whose artefact's SNN lags its own quantized ANN."""
    for t in sorted(accs):
        a = accs[t]
        if a.qann_acc is not None and a.snn_acc[t] < a.qann_acc - LAG:
            return lag_diagnosis(runs[t].artefact, a, runs[t].lowered, graph, test, n, None, -1, backend)
    return None
