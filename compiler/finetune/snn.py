"""Fine-tuning the spiking network itself: the QAT model run for T steps as the chip runs it.

Conversion makes the SNN's firing rates approach the quantized ANN's activations as T grows; at
small T, and more so in deep networks, transients (positive biases acting from the first step,
inhibitory input that arrives only once the previous layer's spike trains have built up, spikes
that cannot be taken back) make deep layers over-fire. `spiking(model, T)` swaps every spiking
activation of a `QATModel` for an integrate-and-fire neuron with the artefact's integer maths, so
that training on `snn_logits(model, x, T)` — backpropagation through time with a surrogate
gradient for the spike, straight-through for every rounding — optimises the network the runtime
will simulate.

Each neuron works in the artefact's integer units. A conv/linear stage's output x (model units)
is the weighted sum of the previous layer's spikes times its λ_in, plus the bias; with the frozen
integers q, θ, bias_int, x·θ/λ_out = q·s + bias_int exactly up to float rounding, so the integer
current is I = rint(x·θ/λ_out). An average-pooling stage receives the spikes·λ averaged over its
window: I = rint(avg·k²/λ) = the window's spike count, as in the runtime (θ = k²). Per step:
V += I; s = V ≥ θ (or >); V -= s·θ (or V *= 1 - s); V starts at ⌊θ/2⌋ or 0 — docs/semantics.md.
The membrane width is not modelled (compile reports when saturation is possible). The neuron's
output is s·λ_out, so the rest of the model is unchanged, and the host layer, being affine,
receives the mean over T of those outputs: the runtime's counts·λ/T.

For conv, linear and pooling stages the forward pass therefore gives the runtime's spikes
(tested: the trained model's T-step predictions equal `snnc.runtime.simulate` on its artefact).
An add stage's input multipliers are rounded by compile (rint(θ·λ_i/λ_out)); here they are not, so
residual networks train on a close approximation.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from snnc.compiler.errors import SnncError
from snnc.compiler.finetune.qat import QATModel
from snnc.compiler.ir.ops import attr
from snnc.compiler.backend.emit import add_threshold
from snnc.compiler.backend.plan import plan_stages

RESETS = ("subtract", "zero")
V_INITS = ("half", "zero")


class _SpikeFn(torch.autograd.Function):
    """s = [V ≥ θ] (or V > θ); gradient ∂s/∂V = max(0, 1 − |V − θ|/θ)/θ (a triangle one θ wide)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, theta: torch.Tensor, ge: bool) -> torch.Tensor:
        ctx.save_for_backward(v, theta)
        return (v >= theta if ge else v > theta).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        v, theta = ctx.saved_tensors
        surrogate = torch.clamp(1.0 - torch.abs(v - theta) / theta, min=0.0) / theta
        return grad * surrogate, None, None


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class IFNeuron(nn.Module):
    """One spiking layer's integrate-and-fire neurons over the steps of one `spiking` run.

    `lam` is the layer's output scale λ (a 0-d tensor shared with its `ActQuant`); `theta` returns
    the current integer threshold(s), one value or one per channel (dim 1 of the input). `stage`
    names the stage (its conv/linear/pool node); `count` holds the spike counts of the run so far."""

    def __init__(self, stage: str, lam: torch.Tensor, theta: Callable[[], torch.Tensor], reset: str, v_init: str,
                 fire_ge: bool):
        super().__init__()
        self.stage, self.lam, self.theta = stage, lam, theta
        self.reset, self.v_init, self.fire_ge = reset, v_init, fire_ge
        self.v: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        th = self.theta().to(x.dtype)
        th = th.reshape((1, -1) + (1,) * (x.ndim - 2)) if th.numel() > 1 else th.reshape(())
        lam = self.lam.to(x.dtype)
        current = _round_ste(x * (th / lam))
        if self.v is None:
            v0 = torch.div(th, 2, rounding_mode="floor") if self.v_init == "half" else torch.zeros_like(th)
            self.v = torch.zeros_like(x) + v0
        v = self.v + current
        s = _SpikeFn.apply(v, th, self.fire_ge)
        self.v = v - s * th if self.reset == "subtract" else v * (1.0 - s)
        self.count = s.detach() if self.count is None else self.count + s.detach()
        return s * lam


def _neurons(model: QATModel, reset: str, v_init: str, fire_ge: bool) -> dict[str, IFNeuron]:
    """Node key -> the IF neuron replacing that node's activation (conv/linear/add) or output (avgpool)."""
    net = model.net
    graph = net.graph
    theta_max = 2 ** model.spec.threshold_bits - 1
    wq_of = {ls.act: wq for ls, wq in model.quantizers()}
    lam_of: dict[str, torch.Tensor] = {graph.inputs[0]: torch.tensor(float(model.input_range[2]), dtype=torch.float64)}
    out: dict[str, IFNeuron] = {}
    for st in plan_stages(graph):
        key = net.keys[st.act.name] if st.act is not None else None
        if st.kind in ("conv", "linear"):
            aq, wq = model.act_of[st.output], wq_of[st.act.name]
            out[key] = IFNeuron(st.name, aq.lam, wq.current_theta, reset, v_init, fire_ge)
            lam_of[st.output] = aq.lam
        elif st.kind == "add":
            aq = model.act_of[st.output]
            th = torch.tensor(float(add_threshold(theta_max)))
            out[key] = IFNeuron(st.name, aq.lam, lambda th=th: th, reset, v_init, fire_ge)
            lam_of[st.output] = aq.lam
        elif st.kind == "avgpool":
            k = (tuple(graph.shape(st.inputs[0])[2:]) if st.node.op == "globalavgpool" else tuple(attr(st.node, "kernel")))
            th = torch.tensor(float(k[0] * k[1]))
            lam = lam_of[st.inputs[0]]
            out[net.keys[st.node.name]] = IFNeuron(st.name, lam, lambda th=th: th, reset, v_init, fire_ge)
            lam_of[st.output] = lam
        elif st.kind == "host_linear":
            continue
        else:  # flatten, concat: same scale as the (first) input
            lam_of[st.output] = lam_of[st.inputs[0]]
    return out


@contextmanager
def spiking(model: QATModel, reset: str = "subtract", v_init: str = "half") -> Iterator[dict[str, IFNeuron]]:
    """Within the block, `model.net(x)` is one time step of the SNN (state kept between calls;
    `snn_logits` resets it). The model's own activations are restored on exit."""
    if reset not in RESETS:
        raise SnncError(f"reset {reset!r}: expected one of {', '.join(RESETS)}")
    if v_init not in V_INITS:
        raise SnncError(f"v_init {v_init!r}: expected one of {', '.join(V_INITS)}")
    net = model.net
    neurons = _neurons(model, reset, v_init, model.spec.fire_condition == "ge")
    saved = {k: net.act_hooks[k] for k in neurons if k in net.act_hooks}
    for k, n in neurons.items():
        net.act_hooks[k] = n
    try:
        yield neurons
    finally:
        for k in neurons:
            if k in saved:
                net.act_hooks[k] = saved[k]
            else:
                del net.act_hooks[k]


def snn_logits(model: QATModel, neurons: dict[str, IFNeuron], x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """The host layer's logits after `timesteps` steps of the SNN on input x (inside `spiking`).

    θ is searched (when due) at the first step only and held for the rest, so every step uses the
    same integers."""
    if timesteps < 1:
        raise SnncError(f"timesteps {timesteps}: must be >= 1")
    for n in neurons.values():
        n.v = n.count = None
    quantizers = [wq for _, wq in model.quantizers()]
    total = None
    try:
        for t in range(timesteps):
            for wq in quantizers:
                wq.hold = t > 0
            out = model.net(x, logits=True)
            total = out if total is None else total + out
    finally:
        for wq in quantizers:
            wq.hold = False
        for n in neurons.values():
            n.v = None
    return total / timesteps
