"""The torch backend (`backend="torch"`): fastsim's layer-by-layer algorithm on torch tensors, on CPU
or a CUDA GPU.

Imported only when a torch backend runs (or "auto" finds a CUDA GPU, backend.py), and torch only
from here, so `import snnc.runtime` still needs numpy alone.

Devices. `TorchBackend(device)` takes the device at construction:
    "auto"     CUDA (device 0) when torch sees a CUDA GPU, else the CPU (the default; `TORCH`,
               the REGISTRY's "torch")
    "cpu"      the CPU (torch's intra-op threads: torch.set_num_threads)
    "cuda", "cuda:N"  that GPU; an InputError when torch sees none
The device is resolved the first time the backend runs. `torch_backend(device)` returns the
shared instance for a device name, e.g. `simulate(a, x, T, backend=torch_backend("cpu"))`.

The algorithm is fastsim's (docs/runtime.md, "How the fast path works"): per layer, the currents
of all T steps of all samples as one matrix product over T*B rows, then an integrate-and-fire
scan over T, vectorised over neurons. Internal layout: (Tt, B, C, H, W) or (Tt, B, F) (torch's
own NCHW, so a flatten is a reshape and results need no transpose); Tt is T, or 1 for a value the
same at every step (input current, and what a layer computes from it).

Exactness, layer by layer (proof in docs/runtime.md, "The torch backend"):
- conv and linear currents: an im2col (a strided view of the zero-padded input, copied in blocks)
  times the weight matrix, in `plan.matmul_dtype` (exactness.py): float32 when every partial sum is
  an integer of magnitude below 2^24, float64 below 2^53. Every TF32 / reduced-precision switch of
  torch is forced to IEEE float32 while the backend runs (`_ieee_float32`), and no convolution
  algorithm (cuDNN's Winograd / FFT) is ever used: only GEMMs. Bounds of 2^53 and above
  (`matmul_dtype` int64) run as an int64 matrix product on the CPU (torch has no integer GEMM on
  CUDA), whatever the device.
- avgpool window sums, add terms, the IF scan: integer tensors, in the dtypes fastsim proves
  (`_int_dtype`, `scan_plan`), int16 / int32 / int64 on either device.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np
import torch

from snnc.runtime.backend import ChunkResult
from snnc.runtime.encode import input_spikes, quantize_float
from snnc.runtime.errors import InputError
from snnc.runtime.exactness import LayerPlan, scan_plan
from snnc.runtime.fastsim import _int_dtype
from snnc.runtime.model import Add, Artefact, AvgPool, Concat, Conv, Flatten, Linear, MaxPool
from snnc.runtime.validate import carries_spikes

IM2COL_BUDGET = {"cpu": 32 << 20, "cuda": 1 << 30}  # bytes of one im2col block
CPU_BUDGET = 512 << 20  # bytes of per-run activations on the CPU (= backend.BATCH_BUDGET)
CUDA_FREE_FRACTION = 0.5  # on a GPU: at most this fraction of its free memory per sub-batch

_TORCH_DTYPES = {
    np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64, np.dtype(np.int64): torch.int64,
    np.dtype(np.int32): torch.int32, np.dtype(np.int16): torch.int16, np.dtype(np.uint8): torch.uint8,
}
_LOCK = threading.Lock()  # the precision switches are process-wide


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda:0 when torch sees a CUDA GPU, else cpu; 'cpu'; 'cuda' / 'cuda:N' (checked)."""
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"backend torch: device {name!r}: torch sees no CUDA device "
                             f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); use 'cpu' or 'auto'")
        idx = 0 if name == "cuda" else name.split(":", 1)[1]
        if not str(idx).isdigit() or int(idx) >= torch.cuda.device_count():
            raise InputError(f"backend torch: device {name!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(f"cuda:{int(idx)}")
    raise InputError(f"backend torch: device {name!r} is not one of auto, cpu, cuda, cuda:N")


@contextlib.contextmanager
def _ieee_float32() -> Iterator[None]:
    """Every float32 matrix product in IEEE float32 (no TF32, no bf16 passes) while the block runs,
    on CUDA (cuBLAS) and the CPU (oneDNN); the previous settings are restored afterwards. torch >=
    2.9 has per-backend `fp32_precision` switches (mixing them with the legacy global one is an
    error), older torch only the legacy ones."""
    with _LOCK:
        subs = [s for s in (torch.backends.cuda.matmul, getattr(torch.backends.mkldnn, "matmul", None))
                if s is not None and hasattr(s, "fp32_precision")]
        if subs:
            saved = [s.fp32_precision for s in subs]
            try:
                for s in subs:
                    s.fp32_precision = "ieee"
                yield
            finally:
                for s, v in zip(subs, saved):
                    s.fp32_precision = v
        else:  # pragma: no cover - torch < 2.9
            legacy, tf32 = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32
            try:
                torch.set_float32_matmul_precision("highest")
                torch.backends.cuda.matmul.allow_tf32 = False
                yield
            finally:
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.set_float32_matmul_precision(legacy)


class TorchLayer:
    """The weight matrices of one conv / linear layer on the device where its GEMM runs."""

    def __init__(self, layer, plan: LayerPlan, device: torch.device):
        self.np_dtype = plan.matmul_dtype
        self.dtype = _TORCH_DTYPES[plan.matmul_dtype]
        # int64 products: torch has no integer GEMM on CUDA; they run on the CPU (exact, slower)
        self.device = torch.device("cpu") if self.dtype == torch.int64 else device
        w = torch.from_numpy(layer.weight.astype(np.int64))
        groups = getattr(layer, "groups", 1)
        og = w.shape[0] // groups
        if w.ndim == 4:  # (O, Cg, kh, kw) -> per group (kh*kw*Cg, O/g), matching the im2col columns
            w = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)
        self.mats = [w[g * og:(g + 1) * og].T.contiguous().to(self.dtype).to(self.device) for g in range(groups)]


def _conv_currents(layer: Conv, x: torch.Tensor, tl: TorchLayer, device: torch.device) -> torch.Tensor:
    """(Tt, B, C, H, W) -> (Tt, B, O, Ho, Wo) currents in the layer's matmul dtype (integer-valued).

    im2col as fastsim does it: the zero-padded input channels-last, the windows a strided view
    (m, Ho, Wo, kh, kw, Cg) whose rows are runs of kw*Cg contiguous values, copied in blocks of
    IM2COL_BUDGET bytes, times the (kh*kw*Cg, O/g) weight matrix of each group."""
    if layer.dilated:  # input_dilation: the windows read the input with zeros inserted (semantics section 6)
        (dh, dw), (h, w) = layer.input_dilation, x.shape[-2:]
        xd = torch.zeros(x.shape[:-2] + ((h - 1) * dh + 1, (w - 1) * dw + 1), dtype=x.dtype, device=x.device)
        xd[..., ::dh, ::dw] = x
        x = xd
    tt, b, c, h, w = x.shape
    o, cg, kh, kw = layer.weight.shape
    (sh, sw), (top, left, bottom, right) = layer.stride, layer.padding
    _, ho, wo = layer.output_shape
    n, og, k = tt * b, o // layer.groups, cg * kh * kw
    x = x.reshape(n, c, h, w)
    out = torch.empty((n, o, ho, wo), dtype=tl.dtype, device=tl.device)
    budget = IM2COL_BUDGET["cuda" if tl.device.type == "cuda" else "cpu"]
    step = max(1, budget // (ho * wo * k * (8 if tl.dtype in (torch.float64, torch.int64) else 4)))
    hp, wp = h + top + bottom, w + left + right
    for n0 in range(0, n, step):
        n1 = min(n, n0 + step)
        m = n1 - n0
        xp = torch.zeros((m, hp, wp, c), dtype=tl.dtype, device=tl.device)
        xp[:, top:top + h, left:left + w] = x[n0:n1].to(tl.device).permute(0, 2, 3, 1)
        s0, s1, s2, s3 = xp.stride()
        for g in range(layer.groups):
            xg = xp[..., g * cg:(g + 1) * cg]
            win = xg.as_strided((m, ho, wo, kh, kw, cg), (s0, s1 * sh, s2 * sw, s1, s2, s3), xg.storage_offset())
            res = (win.reshape(-1, k) @ tl.mats[g]).reshape(m, ho, wo, og)
            out[n0:n1, g * og:(g + 1) * og] = res.permute(0, 3, 1, 2)
    return out.reshape(tt, b, o, ho, wo).to(device)


def _linear_currents(layer: Linear, x: torch.Tensor, tl: TorchLayer, device: torch.device) -> torch.Tensor:
    tt, b, f = x.shape
    y = x.reshape(tt * b, f).to(tl.device).to(tl.dtype) @ tl.mats[0]
    return y.reshape(tt, b, -1).to(device)


def _avgpool_currents(layer: AvgPool, x: torch.Tensor, plan: LayerPlan) -> torch.Tensor:
    """Window sums as kh*kw strided-slice additions, in fastsim's integer dtype."""
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    _, ho, wo = layer.output_shape
    dt = _TORCH_DTYPES[_int_dtype(plan, nonnegative=x.dtype in (torch.bool, torch.uint8))]
    acc = None
    for i in range(kh):
        for j in range(kw):
            part = x[..., i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw]
            acc = part.to(dt) if acc is None else acc.add_(part.to(dt))
    return acc


def _maxpool_spikes(layer: MaxPool, x: torch.Tensor) -> torch.Tensor:
    """fastsim.maxpool_spikes on torch tensors (T, B, C, H, W): per window, the spike of the first
    (row-major) position with the largest count before the step."""
    s = x.to(torch.int32)
    before = torch.cumsum(s, dim=0) - s
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    _, ho, wo = layer.output_shape
    best = out = None
    for i in range(kh):
        for j in range(kw):
            c = before[..., i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw]
            v = s[..., i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw]
            if best is None:
                best, out = c.clone(), v.clone()
            else:
                larger = c > best
                best = torch.where(larger, c, best)
                out = torch.where(larger, v, out)
    return out.to(torch.bool)


def _multiplier(m, ndim: int, dt: torch.dtype, device: torch.device):
    """m_k: one integer, or one per output channel (channel = first axis of the sample's shape)."""
    if not isinstance(m, tuple):
        return m
    return torch.tensor(m, dtype=dt, device=device).reshape((len(m),) + (1,) * (ndim - 1))


def _add_currents(layer: Add, xs: list[torch.Tensor], plan: LayerPlan, device: torch.device) -> torch.Tensor:
    """sum_k m_k * x_k in fastsim's integer dtype (every partial sum is at most plan.bound)."""
    dt = _TORCH_DTYPES[_int_dtype(plan)]
    nd = len(layer.output_shape)
    total = None
    for m, x in zip(layer.multipliers, xs):
        term = x.to(dt) * _multiplier(m, nd, dt, device)
        total = term if total is None else total + term
    return total


def _per_channel(values, shape: tuple[int, ...], dt: torch.dtype, device: torch.device) -> torch.Tensor:
    """A per-tensor (length 1) or per-channel parameter, broadcastable against (B, *shape)."""
    t = torch.tensor(list(values), dtype=dt, device=device)
    return t.reshape((len(values),) + (1,) * (len(shape) - 1)) if len(values) > 1 else t.reshape(())


def if_scan(j: torch.Tensor, timesteps: int, layer, target, plan: LayerPlan, trace: bool):
    """Integrate-and-fire over T for currents j (Tt, B, *s); returns (spikes bool (T, B, *s),
    membranes int64 (T, B, *s) or None). fastsim.if_scan on tensors: the same dtypes and steps."""
    n = layer.neuron
    sp = scan_plan(layer, target, plan, timesteps)
    dt = _TORCH_DTYPES[sp.dtype]
    device = j.device
    shape = tuple(j.shape[2:])
    theta = _per_channel(n.threshold, shape, dt, device)
    bias = _per_channel(n.bias, shape, dt, device) if len(n.bias) > 1 else torch.tensor(n.bias[0], dtype=dt, device=device)
    v = torch.zeros(tuple(j.shape[1:]), dtype=dt, device=device)
    if n.v_init == "half":
        v += theta // 2
    spikes = torch.empty((timesteps,) + tuple(j.shape[1:]), dtype=torch.bool, device=device)
    mem = torch.empty((timesteps,) + tuple(j.shape[1:]), dtype=torch.int64, device=device) if trace else None
    m = target.membrane_bits
    vmin, vmax = -(1 << (m - 1)), (1 << (m - 1)) - 1
    half, mask = 1 << (m - 1), (1 << m) - 1
    const = j.shape[0] == 1
    jb = j[0].to(dt) + bias if const else None  # I + bias lies in [j_lo, j_hi]: fits dt (scan_plan)
    for t in range(timesteps):
        v += jb if const else j[t].to(dt) + bias
        if sp.wrap:
            v += half
            v &= mask
            v -= half
        if sp.clamp_hi:
            v.clamp_(max=vmax)
        if sp.clamp_lo:
            v.clamp_(min=vmin)
        s = spikes[t]
        torch.ge(v, theta, out=s) if target.fire == "ge" else torch.gt(v, theta, out=s)
        if n.reset == "zero":
            v.masked_fill_(s, 0)
        else:
            v -= s.to(dt) * theta
        if trace:
            mem[t] = v
    return spikes, mem


def _counts(s: torch.Tensor, upto: int | None = None) -> torch.Tensor:
    """Spike counts over the first `upto` (all) steps of s (T, B, *shape)."""
    s = s if upto is None else s[:upto]
    return s.to(torch.int32).sum(dim=0, dtype=torch.int64) if s.dtype == torch.bool else s.sum(dim=0, dtype=torch.int64)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class TorchBackend:
    """backend "torch": see the module docstring (and backend.Backend for the interface)."""

    name = "torch"

    def __init__(self, device: str = "auto"):
        if not isinstance(device, str):
            raise InputError(f"backend torch: device {device!r} is not a name (auto, cpu, cuda, cuda:N)")
        self.requested = device
        self._device: torch.device | None = None

    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = resolve_device(self.requested)
        return self._device

    def __repr__(self) -> str:
        return f"TorchBackend({self.requested!r})"

    def quantize(self, spec, x: np.ndarray) -> np.ndarray | None:
        return quantize_float(spec, x)

    def prepare(self, a: Artefact, plans: dict[str, LayerPlan]) -> dict[str, TorchLayer]:
        """The weight matrices of every conv (with neurons or synaptic) and linear layer, in their
        proven matmul dtype, on the device of their GEMM."""
        device = self.device
        return {layer.name: TorchLayer(layer, plans[layer.name], device)
                for layer in a.core_layers if isinstance(layer, (Conv, Linear))}

    def run(self, a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...],
            plans: dict[str, LayerPlan], prepared: dict[str, TorchLayer]) -> ChunkResult:
        """Simulates x_int in sub-batches that fit the device's memory (see `sub_batch`)."""
        step = self.sub_batch(a, timesteps, trace)
        parts = [self._run(a, x_int[i:i + step], timesteps, trace, counts_at, plans, prepared)
                 for i in range(0, x_int.shape[0], step)]
        if len(parts) == 1:
            return parts[0]

        def cat(field: str) -> dict[str, np.ndarray]:
            return {k: np.concatenate([getattr(p, field)[k] for p in parts]) for k in getattr(parts[0], field)}

        return ChunkResult(cat("counts"), cat("spikes"), cat("membranes"),
                           {t: {k: np.concatenate([p.counts_at[t][k] for p in parts]) for k in parts[0].counts_at[t]}
                            for t in counts_at})

    def sub_batch(self, a: Artefact, timesteps: int, trace: bool) -> int:
        """Samples simulated at once: the activations of one sample (every layer's spikes, the
        largest layer's currents and scan, traces) within the CPU budget or, on a GPU, within
        CUDA_FREE_FRACTION of its free memory."""
        neurons = sum(int(np.prod(layer.output_shape)) for layer in a.core_layers)
        largest = max(int(np.prod(layer.output_shape)) for layer in a.core_layers)
        per_sample = timesteps * (neurons * (1 + (9 if trace else 0)) + largest * 24)
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = int(free * CUDA_FREE_FRACTION)
        else:
            budget = CPU_BUDGET
        return max(1, budget // max(1, per_sample))

    def _run(self, a: Artefact, x_int: np.ndarray, timesteps: int, trace: bool, counts_at: tuple[int, ...],
             plans: dict[str, LayerPlan], prepared: dict[str, TorchLayer]) -> ChunkResult:
        device = self.device
        spec = a.input
        spiking = carries_spikes(a)
        if spec.spiking:
            x0 = torch.from_numpy(input_spikes(spec, x_int, timesteps).astype(bool)).to(device)
        else:
            x0 = torch.from_numpy(np.ascontiguousarray(x_int))[None].to(device)
        values: dict[str, torch.Tensor] = {"input": x0}
        uses = {"input": 0}
        for layer in a.core_layers:
            uses[layer.name] = 0
            for i in layer.inputs:
                uses[i] += 1
        counts: dict[str, torch.Tensor] = {}
        spikes_out: dict[str, torch.Tensor] = {}
        mems: dict[str, torch.Tensor] = {}
        prefix: dict[int, dict[str, torch.Tensor]] = {t: {} for t in counts_at}
        with torch.inference_mode(), _ieee_float32():
            for layer in a.core_layers:
                xs = [values[i] for i in layer.inputs]
                plan = plans.get(layer.name)
                if isinstance(layer, Conv):
                    out = _conv_currents(layer, xs[0], prepared[layer.name], device)
                elif isinstance(layer, Linear):
                    out = _linear_currents(layer, xs[0], prepared[layer.name], device)
                elif isinstance(layer, AvgPool):
                    out = _avgpool_currents(layer, xs[0], plan)
                elif isinstance(layer, Add):
                    out = _add_currents(layer, xs, plan, device)
                elif isinstance(layer, MaxPool):
                    out = _maxpool_spikes(layer, xs[0])
                elif isinstance(layer, Flatten):
                    (x,) = xs
                    out = x.reshape(x.shape[0], x.shape[1], -1)
                else:
                    assert isinstance(layer, Concat)
                    tt = max(x.shape[0] for x in xs)
                    out = torch.cat([x.expand((tt,) + tuple(x.shape[1:])) for x in xs], dim=2)
                if layer.has_neurons:
                    out, mem = if_scan(out, timesteps, layer, a.target, plan, trace)
                    if trace:
                        mems[layer.name] = mem
                # else: a synaptic conv carries its current (read by add layers); flatten/concat their input
                if spiking[layer.name]:
                    counts[layer.name] = _counts(out)
                    for t in counts_at:
                        prefix[t][layer.name] = _counts(out, t)
                    if trace:
                        spikes_out[layer.name] = out
                values[layer.name] = out
                for i in layer.inputs:  # free what no later layer reads
                    uses[i] -= 1
                    if uses[i] == 0 and i != a.output_layer:
                        values.pop(i, None)
            result = ChunkResult(
                {k: _numpy(v) for k, v in counts.items()},
                {k: _numpy(v.transpose(0, 1).to(torch.uint8).contiguous()) for k, v in spikes_out.items()},
                {k: _numpy(v.transpose(0, 1).contiguous()) for k, v in mems.items()},
                {t: {k: _numpy(v) for k, v in prefix[t].items()} for t in counts_at},
            )
        return result


_INSTANCES: dict[str, TorchBackend] = {}


def torch_backend(device: str = "auto") -> TorchBackend:
    """The shared TorchBackend for a device name (auto, cpu, cuda, cuda:N)."""
    if device not in _INSTANCES:
        _INSTANCES[device] = TORCH if device == "auto" else TorchBackend(device)
    return _INSTANCES[device]


TORCH = TorchBackend("auto")
