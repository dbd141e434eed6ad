"""Module surgery for quantization-aware fine-tuning (DESIGN §4).

`build_qat(graph, spec, cfg, stats, input_range)` turns a canonical IR graph into a trainable
torch model whose forward pass is the quantized ANN that `snnc compile` derives from it:

- the input is quantized as the chip receives it (x -> s_in·clip(rint(x/s_in), lo, hi));
- every spiking conv/linear (a stage of `plan_stages`) gets a `WeightQuant` hook: the normalized
  weights W' = W·λ_in/λ_out are quantized with snnc's rule (integer θ, q = clip(rint(W'θ))),
  dequantized back to q/θ·λ_out/λ_in, and the bias to rint(b/λ_out·θ)/θ·λ_out, with
  straight-through gradients;
- the ReLU (or Clip) after it becomes `ActQuant`: clip at λ_out (optionally rounded to L levels);
- pooling, flatten and concat pass λ through; the final (host) linear stays float.

λ_out of each stage is the calibration percentile of its float activation (after an existing
Clip's own bound), rounded to float32 so that the exported ONNX `Clip(0, λ)` holds it exactly;
λ_in of the first layer is the input step s_in (1/255 for pixels/255).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from snnc.compiler.backend.calibrate import ActivationStats
from snnc.compiler.errors import SnncError
from snnc.compiler.finetune.irmodule import IRModule
from snnc.compiler.finetune.quantizer import (
    ActQuant, _round_clip, dequantize_bias, dequantize_weight, quantize_bias_torch, quantize_weights_torch, straight_through,
)
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import attr
from snnc.compiler.backend.quantize import weight_range
from snnc.compiler.backend.plan import plan_stages
from snnc.hwspec import HardwareSpec


SATURATION_TRIES = 5
# Relative margin by which the largest calibration input must exceed a clip level: covers float32
# vs float64 and the export's weight nudges (< 0.5 % in practice), which compile's statistics see.
SATURATION_MARGIN = 0.01


@dataclass(frozen=True)
class QATConfig:
    bits: int
    per_channel: bool = False
    percentile: float = 99.99  # calibration percentile that sets each clip level λ
    act_levels: int = 0  # 0: clip only; L > 0: also round activations to L levels (QCFS)
    theta_every: int = 16  # re-search θ every this many training steps (q is re-rounded every step)


@dataclass
class LayerScale:
    node: str  # conv/linear node name
    act: str  # its activation node name
    lam_in: float
    lam_out: float  # float32-representable (the exported Clip bound)
    value: str = ""  # the stage's output value (its activation's output)


@dataclass
class ScalePlan:
    input_range: tuple[int, int, float]  # (lo, hi, s_in) of the integer input
    layers: list[LayerScale] = field(default_factory=list)
    add_scales: dict[str, float] = field(default_factory=dict)  # add node -> λ_out


def f32(x: float) -> float:
    return float(np.float32(x))


def stage_scales(graph: Graph, stats: dict[str, ActivationStats], percentile: float) -> dict[str, float]:
    """λ of each spiking conv/linear/add stage output: the percentile normalizer's value (its
    activation percentile under an existing Clip's bound; 1.0 for a layer that never fires),
    rounded to float32."""
    from snnc.compiler.backend.normalize import clip_max, stat_scale

    return {st.output: f32(stat_scale(stats.get(st.output), clip_max(st), lambda s: s.percentile(percentile)))
            for st in plan_stages(graph).spiking}


def clip_levels(graph: Graph) -> dict[str, float]:
    """λ of every spiking conv/linear/add stage that ends in a Clip: its upper bound (float32)."""
    return {st.output: f32(float(attr(st.act, "max"))) for st in plan_stages(graph)
            if st.kind in ("conv", "linear", "add") and st.act is not None and st.act.op == "clip"}


def plan_scales(graph: Graph, lams: dict[str, float], input_range: tuple[int, int, float]) -> ScalePlan:
    """λ_in/λ_out of every spiking conv/linear from the stage scales `lams`, by the back end's one
    λ walk (`backend.scales.walk`: pooling, flatten and concat pass λ on, as `lower` does)."""
    from snnc.compiler.backend.scales import walk

    plan = ScalePlan(input_range=input_range)

    def out(st, lam_in: list[float]) -> float:
        if st.kind == "add":
            plan.add_scales[st.name] = lams[st.output]
        else:
            plan.layers.append(LayerScale(st.name, st.act.name, lam_in[0], lams[st.output], st.output))
        return lams[st.output]

    walk(plan_stages(graph), input_range[2], out)
    return plan


class WeightQuant(nn.Module):
    """Fake-quantizes one conv/linear's weights and bias to the integers compile will emit.

    θ is searched with snnc's rule every `theta_every` calls in training mode (always in eval
    mode, unless frozen); q = clip(rint(W'θ)) every call. `freeze(q, θ, bias_int)` fixes the
    integers (after training: the exported ones), and the forward pass then uses exactly them."""

    def __init__(self, scale: LayerScale, bits: int, encoding: str, per_channel: bool, theta_max: int,
                 bias_bits: int, theta_every: int):
        super().__init__()
        self.scale, self.bits, self.encoding = scale, bits, encoding
        self.per_channel, self.theta_max, self.bias_bits = per_channel, theta_max, bias_bits
        self.theta_every = max(1, int(theta_every))
        self.calls = 0
        self.hold = False  # keep θ (and the call count) as they are: later steps of one SNN run
        self.theta: torch.Tensor | None = None
        self.frozen: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None

    def normalized(self, w: torch.Tensor) -> torch.Tensor:
        """W' = W·λ_in/λ_out in float64, associated as compile computes it."""
        return w.detach().to(torch.float64) * self.scale.lam_in / self.scale.lam_out

    def integers(self, w: torch.Tensor, b: torch.Tensor | None, research: bool = True):
        """(q, θ, bias_int) for the current weights (float64 tensors holding integers; θ int64)."""
        wn = self.normalized(w)
        if research or self.theta is None:
            q, theta = quantize_weights_torch(wn, self.bits, self.encoding, per_channel=self.per_channel,
                                              theta_max=self.theta_max)
            self.theta = theta
        else:
            theta = self.theta
            th = theta.to(torch.float64).reshape((-1,) + (1,) * (wn.ndim - 1)) if self.per_channel else theta.to(torch.float64)[0]
            rng = weight_range(self.bits, self.encoding)
            q = _round_clip(wn * th, self.bits, rng.min, rng.max)
        bias_int = None if b is None else quantize_bias_torch(b, theta, self.scale.lam_out, self.bias_bits)
        return q, theta, bias_int

    def freeze(self, q: np.ndarray, theta: np.ndarray, bias_int: np.ndarray | None) -> None:
        dev = self.theta.device if self.theta is not None else "cpu"
        self.frozen = (torch.as_tensor(q, dtype=torch.float64, device=dev), torch.as_tensor(theta, dtype=torch.int64, device=dev),
                       None if bias_int is None else torch.as_tensor(bias_int, dtype=torch.float64, device=dev))

    def current_theta(self) -> torch.Tensor | None:
        """θ of the integers the forward pass uses now (the frozen ones once frozen)."""
        return self.frozen[1] if self.frozen is not None else self.theta

    def forward(self, w: torch.Tensor, b: torch.Tensor | None):
        if self.frozen is not None:
            q, theta, bias_int = (t.to(w.device) if t is not None else None for t in self.frozen)
        else:
            research = not self.hold and ((not self.training) or self.calls % self.theta_every == 0)
            if self.training and not self.hold:
                self.calls += 1
            q, theta, bias_int = self.integers(w, b, research)
        w_eff = straight_through(w, dequantize_weight(q, theta, self.scale.lam_in, self.scale.lam_out))
        if b is None:
            return w_eff, None
        return w_eff, straight_through(b, dequantize_bias(bias_int, theta, self.scale.lam_out))


class InputQuant(nn.Module):
    """x -> s_in·clip(rint(x/s_in), lo, hi): the integer input the chip sees (no gradient needed)."""

    def __init__(self, lo: int, hi: int, s_in: float):
        super().__init__()
        self.lo, self.hi, self.s_in = lo, hi, float(s_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.clamp(torch.round(x.to(torch.float64) / self.s_in), self.lo, self.hi) * self.s_in).to(x.dtype)


class QATModel(nn.Module):
    """An `IRModule` with the QAT hooks installed, plus the scales they use.

    `lams` maps each spiking stage's output value to its λ; `set_scales` changes them (and with
    them every layer's λ_in/λ_out), `recalibrate` sets them from the model's own activations."""

    def __init__(self, graph: Graph, lams: dict[str, float], input_range: tuple[int, int, float],
                 spec: HardwareSpec, cfg: QATConfig, dtype: torch.dtype = torch.float32):
        super().__init__()
        spec.check_bits(cfg.bits)
        if spec.weight_encoding not in ("symmetric", "full"):
            raise SnncError(f"weight encoding {spec.weight_encoding!r} is not supported by fine-tuning")
        self.cfg, self.spec, self.input_range = cfg, spec, input_range
        self.lams = dict(lams)
        self.plan = plan_scales(graph, self.lams, input_range)
        self.per_channel = cfg.per_channel and spec.per_channel_threshold
        self.net = IRModule(graph, dtype)
        self.net.input_hook = InputQuant(*input_range)
        theta_max = 2 ** spec.threshold_bits - 1
        self.act_of: dict[str, ActQuant] = {}  # stage output value -> its ActQuant
        for ls in self.plan.layers:
            self.net.weight_hooks[self.net.keys[ls.node]] = WeightQuant(
                ls, cfg.bits, spec.weight_encoding, self.per_channel, theta_max, spec.bias_bits, cfg.theta_every)
        for st in plan_stages(graph):
            if st.kind in ("conv", "linear", "add"):
                aq = ActQuant(self.lams[st.output], cfg.act_levels)
                self.net.act_hooks[self.net.keys[st.act.name]] = aq
                self.act_of[st.output] = aq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _recorded(self, aq: ActQuant, x: torch.Tensor) -> np.ndarray:
        aq.record = True
        try:
            self.net(x)
            return torch.relu(aq.recorded).cpu().to(torch.float64).numpy().ravel()
        finally:
            aq.record, aq.recorded = False, None

    def quantizers(self) -> list[tuple[LayerScale, "WeightQuant"]]:
        return [(ls, self.net.weight_hooks[self.net.keys[ls.node]]) for ls in self.plan.layers]

    def node_weights(self, node_name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = self.net.graph.node(node_name)
        return self.net.tensor(n, "weight"), self.net.tensor(n, "bias")

    def set_scales(self, lams: dict[str, float]) -> None:
        """New stage scales: every layer's λ_in/λ_out and clip level follow; θ is searched again."""
        self.lams.update(lams)
        plan = plan_scales(self.net.graph, self.lams, self.input_range)
        for new, (ls, wq) in zip(plan.layers, self.quantizers()):
            ls.lam_in, ls.lam_out = new.lam_in, new.lam_out
            wq.theta = None
        self.plan.add_scales = plan.add_scales
        for value, aq in self.act_of.items():
            aq.lam.fill_(self.lams[value])

    @torch.no_grad()
    def recalibrate(self, x: torch.Tensor, percentile: float, keep: frozenset[str] = frozenset()) -> dict[str, float]:
        """Set each stage's λ, in network order, to the `percentile` of its own activation
        (ReLU of the quantized layer's output, all values) on the inputs `x`; the stages whose
        output values are in `keep` keep theirs. Returns the λs."""
        was_training = self.training
        self.eval()
        for value, aq in self.act_of.items():
            if value in keep:
                continue
            for _ in range(SATURATION_TRIES):
                pre = self._recorded(aq, x)
                k = min(pre.size - 1, max(0, int(np.ceil(percentile / 100.0 * pre.size)) - 1))
                val = float(np.partition(pre, k)[k]) if pre.size else 0.0
                # at least the largest input saturates, with a margin (small calibration sets)
                val = min(val, float(pre.max()) / (1 + 2 * SATURATION_MARGIN)) if pre.size else 0.0
                self.set_scales({value: f32(val) if val > 0 else 1.0})
                # λ changes this layer's integers: check that some input still saturates it, with a
                # margin, so that compile's float64 statistics see the maximum at λ too
                pre = self._recorded(aq, x)
                if np.count_nonzero(pre >= self.lams[value] * (1 + SATURATION_MARGIN)):
                    break
        self.train(was_training)
        return dict(self.lams)
