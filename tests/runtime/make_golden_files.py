"""Build the deterministic golden artefacts in tests/runtime/golden/ (run: python tests/runtime/make_golden_files.py).

The files are committed: test_golden_files.py replays them, so any change in the runtime's
arithmetic fails loudly. Regenerate them only for a deliberate, documented semantics or format
change. `python tests/runtime/make_golden_files.py --doc-example` prints the manifest of
doc_example.snn as docs/artefact.md shows it (test_doc_example.py checks that they agree).
"""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from snnc.runtime import (
    Add, Artefact, AvgPool, Concat, Conv, Flatten, HostLinear, HostOp, InputSpec, Linear, MaxPool, Neuron, Target,
    make_golden, save,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
SPEC = {"name": "golden-test-chip", "note": "hand-written spec for the runtime's golden files"}


def _w(rng, shape, bits, encoding):
    if bits == 1:
        return rng.choice([-1, 1], size=shape)
    hi = (1 << (bits - 1)) - 1
    return rng.integers(-hi if encoding == "symmetric" else -hi - 1, hi + 1, size=shape)


def lenet_host() -> Artefact:
    """current input, conv -> avgpool -> conv -> avgpool -> flatten -> linear -> host (2-bit, saturate, ge)."""
    rng = np.random.default_rng(1)
    t = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    layers = (
        Conv("conv1", ["input"], (4, 12, 12), weight=_w(rng, (4, 1, 3, 3), 2, "symmetric"), bits=2,
             stride=(1, 1), padding=(1, 1, 1, 1), groups=1, neuron=Neuron([300], [3, -2, 0, 5], "subtract", "half")),
        AvgPool("pool1", ["conv1"], (4, 6, 6), kernel=(2, 2), stride=(2, 2), neuron=Neuron([4], [0] * 4, "subtract", "zero")),
        Conv("conv2", ["pool1"], (6, 4, 4), weight=_w(rng, (6, 4, 3, 3), 2, "symmetric"), bits=2,
             stride=(1, 1), padding=(0, 0, 0, 0), groups=1, neuron=Neuron([2, 3, 2, 4, 1, 2], [0] * 6, "subtract", "half")),
        AvgPool("pool2", ["conv2"], (6, 2, 2), kernel=(2, 2), stride=(2, 2), neuron=Neuron([4], [0] * 6, "subtract", "zero")),
        Flatten("flat", ["pool2"], (24,)),
        Linear("fc1", ["flat"], (10,), weight=_w(rng, (10, 24), 2, "symmetric"), bits=2,
               neuron=Neuron([2], [0] * 10, "subtract", "half")),
        HostLinear("head", ["fc1"], (3,), weight=rng.normal(size=(3, 10)), bias=rng.normal(size=3), input_scale=1.0),
    )
    art = Artefact(InputSpec((1, 12, 12), "current", 0, 255, scale=1 / 255), layers, t, SPEC, {"builder": "lenet_host"})
    x = rng.random((4, 1, 12, 12)).astype(np.float32)
    return make_golden(art, x, 8)


def rate_mlp() -> Artefact:
    """rate-coded input, linear (3-bit full) -> linear (1-bit bipolar); gt, reset to zero; no host."""
    rng = np.random.default_rng(2)
    t = Target(membrane_bits=10, overflow="saturate", fire="gt", threshold_bits=8, bias_bits=4,
               weight_encoding="full", input_bits=4)
    layers = (
        Linear("h1", ["input"], (12,), weight=_w(rng, (12, 16), 3, "full"), bits=3,
               neuron=Neuron([3], rng.integers(-2, 3, 12).tolist(), "zero", "zero")),
        Linear("h2", ["h1"], (5,), weight=_w(rng, (5, 12), 1, "full"), bits=1,
               neuron=Neuron([1, 2, 1, 2, 1], [0, 1, -1, 0, 0], "zero", "half")),
    )
    art = Artefact(InputSpec((16,), "rate", 0, 15, scale=1 / 15, rate_init="half"), layers, t, SPEC, {"builder": "rate_mlp"})
    x = rng.integers(0, 16, size=(5, 16)).astype(np.int64)
    return make_golden(art, x, 16)


def wrap_residual() -> Artefact:
    """signed current input, grouped conv (4-bit) + residual add + concat, 6-bit wrapping membrane."""
    rng = np.random.default_rng(3)
    t = Target(membrane_bits=6, overflow="wrap", fire="ge", threshold_bits=5, bias_bits=4,
               weight_encoding="full", input_bits=4)
    layers = (
        Conv("c1", ["input"], (4, 6, 6), weight=_w(rng, (4, 1, 3, 3), 4, "full"), bits=4, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=2, neuron=Neuron([9, 12, 7, 15], [1, 0, -1, 2], "subtract", "half")),
        Conv("c2", ["c1"], (4, 6, 6), weight=_w(rng, (4, 4, 3, 3), 4, "full"), bits=4, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=1, neuron=Neuron([6], [0, 0, 1, -1], "zero", "zero")),
        Add("res", ["c1", "c2"], (4, 6, 6), multipliers=[2, -1], neuron=Neuron([2], [0] * 4, "subtract", "zero")),
        Concat("cat", ["res", "c1"], (8, 6, 6)),
        Conv("down", ["cat"], (3, 3, 3), weight=_w(rng, (3, 8, 2, 2), 4, "full"), bits=4, stride=(2, 2),
             padding=(0, 0, 0, 0), groups=1, neuron=Neuron([5, 6, 7], [0, 0, 0], "subtract", "half")),
    )
    art = Artefact(InputSpec((2, 6, 6), "current", -8, 7, scale=0.25), layers, t, SPEC, {"builder": "wrap_residual"})
    x = rng.integers(-8, 8, size=(3, 2, 6, 6)).astype(np.int8)
    return make_golden(art, x, 10)


def fused_residual() -> Artefact:
    """The fused residual layer: a block conv -> [synaptic conv 3x3 + synaptic 1x1 projection (as a
    centred 3x3, stride 2)] -> add with per-channel multipliers, and a second add with an identity
    skip; per-channel thresholds, biases in the add, rate-coded input, saturating 10-bit membrane."""
    rng = np.random.default_rng(6)
    t = Target(membrane_bits=10, overflow="saturate", fire="ge", threshold_bits=9, bias_bits=6,
               weight_encoding="symmetric", input_bits=4)
    proj = np.zeros((3, 2, 3, 3), dtype=np.int64)
    proj[:, :, 1, 1] = _w(rng, (3, 2), 3, "symmetric")
    layers = (
        Conv("c1", ["input"], (3, 3, 3), weight=_w(rng, (3, 2, 3, 3), 2, "symmetric"), bits=2, stride=(2, 2),
             padding=(1, 1, 1, 1), groups=1, neuron=Neuron([3, 4, 2], [0, 1, -1], "subtract", "half")),
        Conv("c2", ["c1"], (3, 3, 3), weight=_w(rng, (3, 3, 3, 3), 3, "symmetric"), bits=3, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=1, neuron=None),
        Conv("proj", ["input"], (3, 3, 3), weight=proj, bits=3, stride=(2, 2), padding=(1, 1, 1, 1), groups=1,
             neuron=None),
        Add("block", ["c2", "proj"], (3, 3, 3), multipliers=[[4, 2, 3], 5],
            neuron=Neuron([40, 24, 33], [2, -3, 0], "subtract", "half")),
        Conv("c3", ["block"], (3, 3, 3), weight=_w(rng, (3, 3, 3, 3), 2, "symmetric"), bits=2, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=1, neuron=None),
        Add("block2", ["c3", "block"], (3, 3, 3), multipliers=[3, [7, -2, 9]],
            neuron=Neuron([12], [1, 0, -2], "zero", "zero")),
        Flatten("flat", ["block2"], (27,)),
        HostLinear("head", ["flat"], (3,), weight=rng.normal(size=(3, 27)), bias=rng.normal(size=3), input_scale=1.0),
    )
    art = Artefact(InputSpec((2, 5, 5), "rate", 0, 15, scale=1 / 15, rate_init="half"), layers, t, SPEC,
                   {"builder": "fused_residual"})
    x = rng.integers(0, 16, size=(4, 2, 5, 5)).astype(np.int64)
    return make_golden(art, x, 12)


def hybrid_host() -> Artefact:
    """A hybrid network (--host-from): spiking conv -> spiking max pool (overlapping windows) -> conv
    on the core, then host ops in float64 —
    conv (stride 2) -> relu -> maxpool -> flatten -> linear -> softmax; the golden predictions come
    from the host's floats (argmax, with no near ties in these inputs)."""
    rng = np.random.default_rng(7)
    t = Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=12, bias_bits=8,
               weight_encoding="symmetric", input_bits=8)
    layers = (
        Conv("c0", ["input"], (3, 6, 6), weight=_w(rng, (3, 1, 3, 3), 2, "symmetric"), bits=2, stride=(1, 1),
             padding=(1, 1, 1, 1), groups=1, neuron=Neuron([250], [0, 5, -5], "subtract", "half")),
        MaxPool("mp", ["c0"], (3, 5, 5), kernel=(2, 2), stride=(1, 1)),  # overlapping windows
        Conv("c1", ["mp"], (3, 6, 6), weight=_w(rng, (3, 3, 3, 3), 2, "symmetric"), bits=2, stride=(1, 1),
             padding=(1, 1, 2, 2), groups=1, neuron=Neuron([3], [0, 0, 1], "subtract", "half")),
        HostOp("h_conv", ["c1"], (4, 3, 3), op="conv", attrs={"stride": [2, 2], "padding": [1, 1, 1, 1],
               "dilation": [1, 1], "groups": 1}, params={"weight": rng.normal(size=(4, 3, 3, 3)),
               "bias": rng.normal(size=4)}, input_scales=[0.8]),
        HostOp("h_relu", ["h_conv"], (4, 3, 3), op="relu", input_scales=[None]),
        HostOp("h_pool", ["h_relu"], (4, 1, 1), op="maxpool", attrs={"kernel": [3, 3], "stride": [1, 1],
               "padding": [0, 0, 0, 0], "dilation": [1, 1], "ceil_mode": False}, input_scales=[None]),
        HostOp("h_flat", ["h_pool"], (4,), op="flatten", attrs={"axis": 1}, input_scales=[None]),
        HostOp("h_fc", ["h_flat"], (3,), op="linear", params={"weight": rng.normal(size=(3, 4)).round(3)},
               input_scales=[None]),
        HostOp("h_softmax", ["h_fc"], (3,), op="softmax", attrs={"axis": 1}, input_scales=[None]),
    )
    art = Artefact(InputSpec((1, 6, 6), "current", 0, 255, scale=1 / 255), layers, t, SPEC, {"builder": "hybrid_host"})
    x = rng.random((5, 1, 6, 6)).astype(np.float32)
    return make_golden(art, x, 16)


def doc_example() -> Artefact:
    """The example of docs/artefact.md: conv -> avgpool -> flatten -> linear -> host, float golden inputs."""
    rng = np.random.default_rng(4)
    t = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    layers = (
        Conv("conv1", ["input"], (2, 4, 4), weight=_w(rng, (2, 1, 3, 3), 2, "symmetric"), bits=2,
             stride=(1, 1), padding=(1, 1, 1, 1), groups=1, neuron=Neuron([200], [3, -2], "subtract", "half")),
        AvgPool("pool1", ["conv1"], (2, 2, 2), kernel=(2, 2), stride=(2, 2), neuron=Neuron([4], [0, 0], "subtract", "zero")),
        Flatten("flat", ["pool1"], (8,)),
        Linear("fc1", ["flat"], (4,), weight=_w(rng, (4, 8), 2, "symmetric"), bits=2,
               neuron=Neuron([1, 2, 1, 2], [0, 0, 0, 0], "subtract", "half")),
        HostLinear("head", ["fc1"], (3,), weight=rng.normal(size=(3, 4)).round(2), bias=[0.5, 0.0, -0.5], input_scale=1.0),
    )
    spec = {"name": "doc-example-chip", "revision": "1.0", "note": "a stand-in; compiled artefacts embed the whole spec"}
    art = Artefact(InputSpec((1, 4, 4), "current", 0, 255, scale=1 / 255), layers, t, spec,
                   {"snnc_version": "0.1.0", "builder": "tests/runtime/make_golden_files.py doc_example"})
    x = rng.random((2, 1, 4, 4)).astype(np.float32)
    return make_golden(art, x, 4)


def nhwc_rgb() -> Artefact:
    """input.layout NHWC (a Keras-style model): 3-channel 5x6 images, golden inputs (B, H, W, C)
    float32; conv (stride 2) -> flatten -> linear -> host. H != W so every axis is distinct."""
    rng = np.random.default_rng(5)
    t = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    layers = (
        Conv("conv1", ["input"], (4, 3, 3), weight=_w(rng, (4, 3, 3, 3), 2, "symmetric"), bits=2,
             stride=(2, 2), padding=(1, 1, 1, 1), groups=1, neuron=Neuron([150, 120, 180, 100], [2, -1, 0, 3], "subtract", "half")),
        Flatten("flat", ["conv1"], (36,)),
        Linear("fc1", ["flat"], (5,), weight=_w(rng, (5, 36), 2, "symmetric"), bits=2,
               neuron=Neuron([2], [0] * 5, "subtract", "half")),
        HostLinear("head", ["fc1"], (3,), weight=rng.normal(size=(3, 5)), bias=rng.normal(size=3), input_scale=1.0),
    )
    art = Artefact(InputSpec((3, 5, 6), "current", 0, 255, scale=1 / 255, layout="NHWC"), layers, t, SPEC,
                   {"builder": "nhwc_rgb"})
    x = rng.random((4, 5, 6, 3)).astype(np.float32)  # (B, H, W, C), as the artefact takes them
    return make_golden(art, x, 8)


def _encoded_conv_net(rng, spec: InputSpec, builder: str, timesteps: int) -> Artefact:
    """conv (3x3, pad 1) on the encoded input -> avgpool -> flatten -> linear -> host, 8-bit input."""
    t = Target(membrane_bits=12, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    c = spec.encoded_shape[0]
    layers = (
        Conv("conv1", ["input"], (3, 6, 6), weight=_w(rng, (3, c, 3, 3), 2, "symmetric"), bits=2,
             padding=(1, 1, 1, 1), neuron=Neuron([2, 3, 2], [0, 1, -1], "subtract", "half")),
        AvgPool("pool1", ["conv1"], (3, 3, 3), kernel=(2, 2), stride=(2, 2), neuron=Neuron([4], [0, 0, 0])),
        Flatten("flat", ["pool1"], (27,)),
        Linear("fc1", ["flat"], (4,), weight=_w(rng, (4, 27), 3, "symmetric"), bits=3,
               neuron=Neuron([3], [0, 1, 0, -1], "subtract", "half")),
        HostLinear("head", ["fc1"], (3,), weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3), input_scale=1.0),
    )
    art = Artefact(spec, layers, t, SPEC, {"builder": builder})
    x = rng.random((4,) + spec.shape).astype(np.float32)
    return make_golden(art, x, timesteps)


def poisson_conv() -> Artefact:
    """Poisson input (semantics.md section 5, a seed above 2^32), 2-channel 6x6."""
    return _encoded_conv_net(np.random.default_rng(7), InputSpec((2, 6, 6), "poisson", 0, 255, scale=1 / 255,
                                                                 seed=0x5EED_0123_4567), "poisson_conv", 16)


def population_conv() -> Artefact:
    """Population input, P = 3: the conv reads the encoded (6, 6, 6) tensor (channel c*3 + p)."""
    return _encoded_conv_net(np.random.default_rng(8), InputSpec((2, 6, 6), "population", 0, 255, scale=1 / 255,
                                                                 rate_init="zero", population=3), "population_conv", 12)


def ttfs_conv() -> Artefact:
    """Time-to-first-spike input, window 10 > T = 8: late spikes never arrive."""
    return _encoded_conv_net(np.random.default_rng(9), InputSpec((2, 6, 6), "ttfs", 0, 255, scale=1 / 255, window=10),
                             "ttfs_conv", 8)


def digest_counts() -> Artefact:
    """Golden counts stored as SHA-256 digests (golden.digests): T = 256, so counts are digested as
    little-endian uint16; the output layer and conv1 in full (within the 84-byte budget), conv2,
    pool and flat as digests. Current input, conv -> conv -> avgpool -> flatten -> linear, no host."""
    rng = np.random.default_rng(11)
    t = Target(membrane_bits=14, overflow="saturate", fire="ge", threshold_bits=10, bias_bits=6,
               weight_encoding="symmetric", input_bits=8)
    layers = (
        Conv("conv1", ["input"], (2, 3, 3), weight=_w(rng, (2, 1, 3, 3), 3, "symmetric"), bits=3,
             stride=(1, 1), padding=(1, 1, 1, 1), groups=1, neuron=Neuron([90, 70], [2, -1], "subtract", "half")),
        Conv("conv2", ["conv1"], (2, 3, 3), weight=_w(rng, (2, 2, 3, 3), 2, "symmetric"), bits=2,
             stride=(1, 1), padding=(1, 1, 1, 1), groups=1, neuron=Neuron([2], [1, 0], "subtract", "half")),
        AvgPool("pool", ["conv2"], (2, 1, 1), kernel=(3, 3), stride=(3, 3), neuron=Neuron([4], [0] * 2, "subtract", "zero")),
        Flatten("flat", ["pool"], (2,)),
        Linear("fc", ["flat"], (3,), weight=_w(rng, (3, 2), 2, "symmetric"), bits=2,
               neuron=Neuron([1], [0] * 3, "subtract", "half")),
    )
    art = Artefact(InputSpec((1, 3, 3), "current", 0, 255, scale=1 / 255), layers, t, SPEC, {"builder": "digest_counts"})
    x = rng.random((2, 1, 3, 3)).astype(np.float32)
    return make_golden(art, x, 256, counts_budget=84)


BUILDERS = {"lenet_host": lenet_host, "rate_mlp": rate_mlp, "wrap_residual": wrap_residual, "doc_example": doc_example,
            "nhwc_rgb": nhwc_rgb, "fused_residual": fused_residual, "hybrid_host": hybrid_host,
            "poisson_conv": poisson_conv, "population_conv": population_conv, "ttfs_conv": ttfs_conv,
            "digest_counts": digest_counts}


def doc_json(value, indent: int = 0, used: int = 0, width: int = 100) -> str:
    """JSON laid out for reading: a value on one line when it fits in `width`, else one item per line."""
    one = json.dumps(value)
    if used + len(one) <= width or not isinstance(value, (dict, list)) or not value:
        return one
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: " for k in value]
        items = [head + doc_json(v, indent + 1, len(head) + 1, width) for head, v in zip(items, value.values())]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + doc_json(v, indent + 1, len(pad) + 1, width) for v in value) + "\n" + " " * indent + "]"


def doc_example_text(path: Path = GOLDEN_DIR / "doc_example.snn") -> str:
    """The JSON block of docs/artefact.md: doc_example.snn's manifest.json, laid out by doc_json."""
    with zipfile.ZipFile(path) as zf:
        return doc_json(json.loads(zf.read("manifest.json"))) + "\n"


def main(out_dir: Path = GOLDEN_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        path = save(build(), out_dir / f"{name}.snn")
        print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--doc-example"]:
        sys.stdout.write(doc_example_text())
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN_DIR)
