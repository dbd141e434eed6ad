"""Run an exported NIR graph in another tool (snnTorch's neurons on nirtorch's graph executor)
and compare its spike counts with snnc.runtime.simulate (docs/nir.md, "Tested against snnTorch").

    python tests/compiler/export/nir_readers.py     # prints the agreement numbers of docs/nir.md

Needs nir, nirtorch, snntorch and torch (CPU). The reader uses only NIR's own fields, never snnc's
metadata: it is what any NIR consumer sees.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from snnc.runtime import (
    Add, Artefact, AvgPool, Concat, Conv, Flatten, InputSpec, Linear, Neuron, Target, load, simulate,
)


def residual_artefact(reset: str, fire: str = "gt", v_init: str = "zero") -> Artefact:
    """current input; conv (+bias) -> grouped conv -> add (2, -1, 1; c1 twice) -> concat ->
    avgpool -> flatten -> linear; 24-bit membrane (never saturates here)."""
    rng = np.random.default_rng(0)
    t = Target(membrane_bits=24, overflow="saturate", fire=fire, threshold_bits=16, bias_bits=8,
               weight_encoding="symmetric", input_bits=4)
    n = lambda theta, c: Neuron([theta], [0] * c, reset, v_init)
    layers = (
        Conv("c1", ["input"], (4, 8, 8), weight=rng.integers(-7, 8, (4, 1, 3, 3)), bits=4, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=1, neuron=Neuron([20], [1, -2, 0, 3], reset, v_init)),
        Conv("c2", ["c1"], (4, 8, 8), weight=rng.integers(-7, 8, (4, 2, 3, 3)), bits=4, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=2, neuron=n(3, 4)),
        Add("res", ["c1", "c2", "c1"], (4, 8, 8), multipliers=[2, -1, 1], neuron=n(2, 4)),
        Concat("cat", ["res", "c1"], (8, 8, 8)),
        AvgPool("p1", ["cat"], (8, 4, 4), kernel=(2, 2), stride=(2, 2), neuron=n(4, 8)),
        Flatten("f", ["p1"], (128,)),
        Linear("l1", ["f"], (10,), weight=rng.integers(-7, 8, (10, 128)), bits=4, neuron=n(3, 10)),
    )
    return Artefact(InputSpec((1, 8, 8), "current", 0, 15, scale=1 / 15), layers, t, {"name": "test"}, {})


def snntorch_module(graph, reset: str, *, reset_delay: bool = True):
    """The graph as a torch module: nirtorch wires it; IF -> snntorch.Leaky(beta=1, threshold =
    v_threshold (a tensor when it varies), reset_mechanism=`reset`); Affine/Linear/Conv2d/Flatten by snnTorch's own NIR
    mappings; Scale as an elementwise product; SumPool2d by nirtorch's default (LPPool2d, p=1)."""
    import nir
    import nirtorch
    import snntorch
    import torch
    from snntorch import import_nir

    class Scale(torch.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.register_buffer("s", torch.tensor(np.asarray(s), dtype=torch.float32))

        def forward(self, x):
            return x * self.s

    def if_node(node):
        theta = np.unique(node.v_threshold)
        threshold = float(theta[0]) if theta.size == 1 else torch.tensor(np.asarray(node.v_threshold, np.float32))
        return snntorch.Leaky(beta=1.0, threshold=threshold, init_hidden=True, reset_mechanism=reset,
                              reset_delay=reset_delay)

    node_map = {nir.IF: if_node, nir.Scale: lambda node: Scale(node.scale)}
    for cls in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten):
        node_map[cls] = lambda node: import_nir._nir_to_snntorch_module(node, init_hidden=True)
    return nirtorch.nir_to_torch(graph, node_map)


def module_counts(module, layers: list[str], x_int: np.ndarray, timesteps: int) -> dict[str, np.ndarray]:
    """Spike counts over `timesteps` of the IF modules named `layers`, one unbatched sample at a
    time (NIR shapes have no batch axis), every neuron starting at 0."""
    import snntorch
    import snntorch.utils
    import torch

    mods = dict(module.named_modules())
    counts = {name: [] for name in layers}
    current: dict[str, np.ndarray] = {}
    hooks = [mods[name.replace(".", "_")].register_forward_hook(
        lambda m, i, o, name=name: current.__setitem__(name, current.get(name, 0) + o.detach().numpy()))
        for name in layers]
    try:
        for b in range(x_int.shape[0]):
            snntorch.utils.reset(module)
            current.clear()
            x = torch.tensor(x_int[b], dtype=torch.float32)
            state = None
            with torch.no_grad():
                for _ in range(timesteps):
                    _, state = module(x, state)
            for name in layers:
                counts[name].append(current[name])
    finally:
        for h in hooks:
            h.remove()
    return {name: np.asarray(v).astype(np.int64) for name, v in counts.items()}


def agreement(art: Artefact, x: np.ndarray, timesteps: int, reset: str, *, reset_delay: bool = True) -> dict:
    """Per spiking layer: the fraction of (sample, neuron) counts equal between snnc and the reader."""
    from snnc.compiler.export.nir import to_nir
    from snnc.runtime.encode import to_int_input

    layers = [layer.name for layer in art.layers if layer.has_neurons]
    ref = simulate(art, x, timesteps).counts
    x_int = to_int_input(art.input, np.asarray(x))
    got = module_counts(snntorch_module(to_nir(art), reset, reset_delay=reset_delay), layers, x_int, timesteps)
    return {name: float(np.mean(got[name] == ref[name])) for name in layers}


def shipped(art: Artefact, shape: tuple[int, ...], what: str) -> None:  # pragma: no cover
    """What snnTorch's own importer, as shipped, does with the exported graph: one step."""
    import torch
    from snntorch.import_nir import import_from_nir

    from snnc.compiler.export.nir import to_nir
    try:
        import_from_nir(to_nir(art))(torch.zeros(shape))
        print(f"snntorch.import_nir.import_from_nir, {what}: ran one step")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        print(f"snntorch.import_nir.import_from_nir, {what}: {type(exc).__name__}: {exc}")


def main() -> None:  # pragma: no cover - prints the numbers of docs/nir.md
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, (20, 1, 8, 8))
    print("residual model, 20 samples, T=16: fraction of equal spike counts per layer")
    for reset in ("zero", "subtract"):
        for delay in (True, False):
            a = agreement(residual_artefact(reset), x, 16, reset, reset_delay=delay)
            print(f"  reset={reset:8s} Leaky(reset_delay={delay!s:5s}): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in a.items()))
    root = Path(__file__).resolve().parents[3]
    shipped(residual_artefact("subtract"), (1, 8, 8), "residual model")
    shipped(load(root / "tests/runtime/golden/lenet_host.snn"), (1, 12, 12), "lenet_host.snn")
    full = residual_artefact("subtract")  # conv -> flatten -> linear: one threshold per layer, no Scale
    c1 = full.layer("c1")
    chain = Artefact(full.input, (c1, Flatten("f", ["c1"], (256,)),
                                  Linear("l1", ["f"], (10,), weight=np.ones((10, 256), np.int8), bits=2,
                                         neuron=Neuron([3], [0] * 10, "subtract", "zero"))), full.target)
    shipped(chain, (1, 8, 8), "conv -> flatten -> linear")
    art = load(root / "tests/runtime/golden/lenet_host.snn")
    x = np.asarray(art.golden.inputs)
    a = agreement(art, x, 8, "subtract")
    print("lenet_host.snn (fire ge, v_init half on conv1, conv2, fc1), its 4 golden inputs, T=8:")
    print("  " + ", ".join(f"{k} {v:.4f}" for k, v in a.items()))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
