"""steps.golden_layout: golden vectors in full for small networks, compact (fewer inputs, SHA-256
digests of most layers' counts) when they would exceed GOLDEN_FULL_BYTES (issue 16)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc import runtime as rt
from snnc.compiler.backend import steps
from snnc.compiler.backend.steps import GOLDEN_FULL_BYTES, GOLDEN_SAMPLES, golden_layout
from snnc.runtime.packing import packed_size

GOLDEN = Path(__file__).resolve().parents[2] / "runtime" / "golden"


def wide_conv(channels: int = 64, side: int = 64, fc_in: int = 0) -> rt.Artefact:
    """conv 1 -> `channels` on side x side, then avgpool to 1x1, flatten and a linear head."""
    t = rt.Target(16, "saturate", "ge", 12, 8, "symmetric", 8)
    layers = (
        rt.Conv("conv", ["input"], (channels, side, side), weight=np.ones((channels, 1, 3, 3), np.int8), bits=4,
                padding=(1, 1, 1, 1), neuron=rt.Neuron([200], [0] * channels, "subtract", "half")),
        rt.AvgPool("pool", ["conv"], (channels, 1, 1), kernel=(side, side), stride=(side, side),
                   neuron=rt.Neuron([side * side // 2], [0] * channels, "subtract", "zero")),
        rt.Flatten("flat", ["pool"], (channels,)),
        rt.Linear("fc", ["flat"], (10,), weight=np.ones((10, channels), np.int8), bits=4,
                  neuron=rt.Neuron([2], [0] * 10, "subtract", "half")),
    )
    return rt.Artefact(rt.InputSpec((1, side, side), "current", 0, 255, scale=1 / 255), layers, t)


def test_small_networks_keep_every_count_in_full():
    art = rt.load(GOLDEN / "lenet_host.snn")
    assert golden_layout(art, 16) == (GOLDEN_SAMPLES, None)
    assert golden_layout(wide_conv(channels=4, side=16), 32) == (GOLDEN_SAMPLES, None)


def test_large_activations_get_the_compact_layout_unless_full_is_asked():
    art = wide_conv()
    per_sample = 4 * 64 * 64 + 64 * 64 * 64 + 64 + 64 + 10  # float32 input + uint8 counts of every layer
    assert GOLDEN_SAMPLES * per_sample > GOLDEN_FULL_BYTES
    weights = packed_size(64 * 9, 4) + packed_size(640, 4)
    samples = max(1, min(GOLDEN_SAMPLES, int(weights * steps.GOLDEN_INPUT_SHARE) // (4 * 64 * 64)))
    assert golden_layout(art, 16) == (samples, max(0, int(weights * steps.GOLDEN_SHARE) - samples * 4 * 64 * 64)) == (1, 0)
    assert golden_layout(art, 16, "full") == (GOLDEN_SAMPLES, None)
    x = np.random.default_rng(0).random((1, 1, 64, 64)).astype(np.float32)
    g = rt.make_golden(art, x, 16, counts_budget=0).golden
    assert list(g.counts) == ["fc"] and sorted(g.digests) == ["conv", "flat", "pool"] and g.spikes is None
