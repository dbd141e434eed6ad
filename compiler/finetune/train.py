"""The fine-tuning loop: calibrate the clip levels, train the QAT model, freeze and bake.

    result = finetune(graph, spec, train_data, FinetuneOptions(bits=2, epochs=2, per_channel=True))
    save_onnx(result.graph, "model_qat2.onnx")     # snnc compile --norm max --per-channel ...

`graph` is a canonical IR graph (`snnc.compiler.backend.build.prepare(path)`); `train_data` a labelled
`snnc.compiler.data.Dataset`. The device is chosen by `select_device` ('auto': the least-loaded
GPU that GPUtil reports, else the CPU).
"""
from __future__ import annotations

import math
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from snnc.compiler.backend.build import calibrate as calibrate_for_compile
from snnc.compiler.data import Dataset, fit_shape
from snnc.compiler.errors import SnncError
from snnc.compiler.finetune.export import Finalized, finalize_and_bake
from snnc.compiler.finetune.qat import QATConfig, QATModel, clip_levels, stage_scales
from snnc.compiler.finetune.snn import snn_logits, spiking
from snnc.compiler.ir.graph import Graph
from snnc.compiler.backend.options import CompileOptions
from snnc.compiler.finetune.options import FinetuneOptions
from snnc.hwspec import HardwareSpec




@dataclass
class FinetuneResult:
    model: QATModel
    final: Finalized
    graph: Graph  # the baked IR graph (export it with onnx_writer.save_onnx)
    device: str
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    seconds: float = 0.0


# -- device ------------------------------------------------------------------------------------------
def _visible_index(gpu_id: int) -> int | None:
    """Position of nvidia-smi GPU `gpu_id` among the CUDA devices torch sees (CUDA_VISIBLE_DEVICES)."""
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is None:
        return gpu_id
    ids = [v.strip() for v in vis.split(",") if v.strip()]
    return ids.index(str(gpu_id)) if str(gpu_id) in ids else None


def select_device(name: str = "auto") -> str:
    """'cpu', 'cuda' / 'cuda:N' (checked), or 'auto': the GPU with the lowest load (then memory use)
    among those GPUtil lists and torch can use; the CPU when there is none."""
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SnncError(f"--device {name}: torch sees no CUDA device (use --device auto or cpu)")
        idx = 0 if name == "cuda" else int(name.split(":", 1)[1])
        if not 0 <= idx < torch.cuda.device_count():
            raise SnncError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{idx}"
    if name != "auto":
        raise SnncError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    try:
        import GPUtil

        gpus = list(GPUtil.getGPUs())
    except Exception:  # no driver, no nvidia-smi: GPUtil may raise instead of returning []
        gpus = []
    if not gpus or not torch.cuda.is_available():
        return "cpu"
    usable = [(g, _visible_index(int(g.id))) for g in gpus]
    usable = [(g, i) for g, i in usable if i is not None and i < torch.cuda.device_count()]
    if not usable:
        return "cpu"
    g, i = min(usable, key=lambda gi: (float(gi[0].load), float(gi[0].memoryUtil), int(gi[0].id)))
    return f"cuda:{i}"


# -- data ------------------------------------------------------------------------------------------------
TRAIN_KEYS = (("x_train", "y_train"), ("x", "y"), ("calib_x", "calib_y"))


def load_training_data(path: str, scale: float | None = None) -> Dataset:
    """Labelled training data from an .npz: x_train/y_train, else x/y, else calib_x/calib_y (+ x_scale).

    Read with `compiler/data.py`'s archive reader (never pickled; headers checked before any data
    is read), then whole: training holds every sample anyway, and a corrupt member is found here,
    before calibration. An empty, truncated or corrupt file, object arrays, zero samples and labels
    that are not one integer per sample are each one `SnncError` naming the file."""
    from pathlib import Path

    from snnc.compiler.data import _open_npz, check_scale, read_magic

    p = Path(path)
    if not p.is_file():
        raise SnncError(f"{p}: no such data file")
    magic = read_magic(p, ".npz")
    if magic == b"\x93NUMPY":
        raise SnncError(f"{p}: fine-tuning needs labels: an .npz with x_train/y_train or x/y")
    members = _open_npz(p)  # not a zip archive, duplicate names: one error naming the file
    keys = list(members)
    pair = next(((xk, yk) for xk, yk in TRAIN_KEYS if xk in keys and yk in keys), None)
    if pair is None:
        raise SnncError(f"{p}: no labelled inputs; expected x_train/y_train, x/y or calib_x/calib_y (found {', '.join(keys) or 'nothing'})")
    x, y = members[pair[0]].open(), members[pair[1]].open()  # headers: unreadable, object arrays
    if x.dtype.kind not in "uif" or x.ndim < 2 or y.ndim < 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "ui":
        raise SnncError(f"{p}: {pair[0]} must be numeric (N, ...) and {pair[1]} integer labels, one per sample")
    if x.shape[0] == 0 or 0 in x.shape[1:]:
        raise SnncError(f"{p}: '{pair[0]}' holds no samples (shape {tuple(x.shape)})")
    x, y = np.asarray(x), np.asarray(y)  # bad CRC, truncation: "array '...' is corrupt"
    stored = 1.0
    if "x_scale" in keys:
        s = members["x_scale"].open()
        if s.size != 1 or s.dtype.kind not in "uif":
            raise SnncError(f"{p}: x_scale must be one number, got {s.dtype} of shape {list(s.shape)}")
        stored = check_scale(np.asarray(s).reshape(()), f"{p}: x_scale")
    return Dataset(x=x, y=y, scale=stored if scale is None else scale, source=str(p))


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    if max_shift <= 0 or x.ndim != 4:
        return x
    n, c, h, w = x.shape
    xp = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :]
    return xp[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


# -- the loop ----------------------------------------------------------------------------------------------
def calibrate(graph: Graph, spec: HardwareSpec, data: Dataset, opts: FinetuneOptions):
    """(stats, input_range) exactly as `snnc compile` computes them on the same data."""
    copts = CompileOptions(bits=opts.bits, calib_samples=opts.calib_samples, input_scale=opts.input_scale)
    return calibrate_for_compile(graph, spec, copts, data)


def build_model(graph: Graph, spec: HardwareSpec, data: Dataset, opts: FinetuneOptions) -> QATModel:
    """The QAT model with clip levels from the float model's calibration statistics."""
    stats, input_range = calibrate(graph, spec, data, opts)
    cfg = QATConfig(bits=opts.bits, per_channel=opts.per_channel, percentile=opts.percentile,
                    act_levels=opts.act_levels, theta_every=opts.theta_every)
    return QATModel(graph, stage_scales(graph, stats, opts.percentile), input_range, spec, cfg)


def calibration_inputs(graph: Graph, data: Dataset, opts: FinetuneOptions) -> np.ndarray:
    """The inputs compile calibrates on when given the same file: the first `calib_samples`."""
    return data.take(min(opts.calib_samples, len(data)), tuple(graph.shape(graph.inputs[0])[1:]))


def snn_steps(opts: FinetuneOptions) -> tuple[int, ...]:
    """The SNN step counts to train with (empty: train the quantized ANN)."""
    ts = (opts.timesteps,) if isinstance(opts.timesteps, int) else tuple(int(t) for t in opts.timesteps)
    if ts == (0,):
        return ()
    if not ts or any(t < 1 for t in ts):
        raise SnncError(f"timesteps {opts.timesteps!r}: expected 0, or step counts >= 1")
    return ts


def _logits(model: QATModel, x: torch.Tensor) -> torch.Tensor:
    return model.net(x, logits=True)


def finetune(graph: Graph, spec: HardwareSpec, data: Dataset, opts: FinetuneOptions, *,
             calib: Dataset | None = None, progress: bool = False,
             log: Callable[[str], None] | None = None) -> FinetuneResult:
    """Quantization-aware fine-tuning of `graph` on `data`; returns the frozen model and its baked graph.

    `calib` (default: `data`) gives the calibration inputs — its first `opts.calib_samples` —
    which must be the ones `snnc compile --calib` will use (`load_dataset(path, role="calib")`)."""
    if data.y is None:
        raise SnncError(f"{data.source}: fine-tuning needs labels")
    snn_steps(opts)  # bad step counts fail before the work starts
    from snnc.compiler.backend.plan import plan_stages

    stages = plan_stages(graph, spec)
    pools = [st.name for st in stages if st.kind == "maxpool"]
    if pools:
        raise SnncError(f"snnc finetune does not train spiking max pools yet ({', '.join(pools[:3])}); use a spec "
                        "without maxpool and --maxpool avgpool, or compile post-training")
    fused = [st.name for st in stages if st.kind == "synapse"]
    if fused:
        raise SnncError(f"snnc finetune does not train fused residual layers yet (convs {', '.join(fused[:3])}"
                        f"{' ...' if len(fused) > 3 else ''} feed a residual add without a ReLU of their own); "
                        "compile the model post-training (snnc compile / snnc eval)")
    log = log or (lambda s: None)
    t_start = time.time()
    torch.manual_seed(opts.seed)
    gen = torch.Generator().manual_seed(opts.seed)
    device = select_device(opts.device)
    data = data.for_model(graph)  # NHWC data for an NHWC (Keras) model, as compile takes it
    calib = data if calib is None else calib.for_model(graph)
    model = build_model(graph, spec, calib, opts).to(device)
    calib_x = calibration_inputs(graph, calib, opts)
    calib_t = torch.from_numpy(calib_x.astype(np.float32)).to(device)
    # SNN training keeps the clip levels a model already has (e.g. from an earlier fine-tuning):
    # they fix the integers whose dynamics it trains
    fixed = clip_levels(graph) if snn_steps(opts) else {}
    model.set_scales(fixed)
    model.recalibrate(calib_t, opts.percentile, keep=frozenset(fixed))
    log(f"device {device}; clip levels " + ", ".join(f"{l.lam_out:.4g}" for l in model.plan.layers))
    shape = tuple(graph.shape(graph.inputs[0])[1:])
    total = opts.epochs * math.ceil(len(data) / opts.batch_size)
    if opts.max_steps is not None:
        total = min(total, opts.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=opts.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    with ExitStack() as stack:
        steps = snn_steps(opts)
        if steps:
            neurons = stack.enter_context(spiking(model, opts.reset, opts.v_init))
            pick = (lambda: steps[0]) if len(steps) == 1 else (  # noqa: E731
                lambda: steps[int(torch.randint(len(steps), (1,), generator=gen))])
            forward = lambda xt: snn_logits(model, neurons, xt, pick())  # noqa: E731
        else:
            forward = lambda xt: _logits(model, xt)  # noqa: E731
        history = _epochs(model, opts, forward, opt, sched, data, shape, gen, calib_t, total, progress, log)
    model.eval()  # the clip levels stay those the last epoch trained with (finalize checks saturation)
    final, baked = finalize_and_bake(model, calib_x)
    return FinetuneResult(model=model, final=final, graph=baked, device=device, history=history,
                          seconds=round(time.time() - t_start, 1))


def _epochs(model: QATModel, opts: FinetuneOptions, forward, opt, sched, data: Dataset, shape, gen, calib_t, total: int,
            progress: bool, log) -> list[dict]:
    """The training epochs (at most `total` steps in all); returns one history entry per epoch."""
    device = calib_t.device
    x_all, y_all = np.asarray(data.x), np.asarray(data.y).astype(np.int64)
    n = len(x_all)
    steps_per_epoch = math.ceil(n / opts.batch_size)
    history: list[dict] = []
    step = 0
    for epoch in range(opts.epochs):
        if step >= total:
            break
        if epoch > 0 and opts.recalibrate == "epoch" and not snn_steps(opts):  # SNN training keeps the scales
            model.recalibrate(calib_t, opts.percentile)
        model.train()
        perm = torch.randperm(n, generator=gen).numpy()
        bar = range(min(steps_per_epoch, total - step))
        if progress:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {epoch + 1}/{opts.epochs}", leave=False, file=sys.stderr)
        run_loss = run_ok = run_n = 0
        t0 = time.time()
        for b in bar:
            idx = np.sort(perm[b * opts.batch_size:(b + 1) * opts.batch_size])
            xb = fit_shape(np.asarray(x_all[idx], dtype=np.float32) * np.float32(data.scale), shape, data.source,
                           data.layout)
            xt = _random_shift(torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32)), opts.max_shift, gen).to(device)
            yt = torch.from_numpy(y_all[idx]).to(device)
            out = forward(xt)
            loss = F.cross_entropy(out, yt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run_loss += float(loss.detach()) * len(idx)
            run_ok += int((out.detach().argmax(1) == yt).sum())
            run_n += len(idx)
            if progress and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{run_loss / run_n:.4f}", acc=f"{run_ok / run_n:.4f}")
        history.append({"epoch": epoch + 1, "steps": step, "loss": run_loss / max(run_n, 1),
                        "train_accuracy": run_ok / max(run_n, 1), "seconds": round(time.time() - t0, 1)})
        log(f"epoch {epoch + 1}/{opts.epochs}: loss {history[-1]['loss']:.4f}, running train accuracy "
            f"{history[-1]['train_accuracy'] * 100:.2f}% ({history[-1]['seconds']:.0f} s)")
    return history


@torch.no_grad()
def accuracy(model: QATModel, data: Dataset, limit: int | None = None, batch_size: int = 500) -> float:
    """Top-1 accuracy of the (frozen) QAT model in torch: the quantized ANN that compile builds."""
    model.eval()
    dev = next(model.parameters()).device
    shape = tuple(model.net.graph.shape(model.net.graph.inputs[0])[1:])
    ok = tot = 0
    for xb, yb in data.for_model(model.net.graph).batches(batch_size, shape, limit=limit):
        out = _logits(model, torch.from_numpy(xb.astype(np.float32)).to(dev))
        ok += int((out.argmax(1).cpu().numpy() == yb).sum())
        tot += len(yb)
    return ok / max(tot, 1)
