"""docs/semantics.md section 5: the Poisson, population and time-to-first-spike input encodings — the worked
examples by hand on every backend and the reference, batch independence, the manifest fields and their rules."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnc.runtime import Artefact, Conv, InputSpec, Linear, Neuron, Target, load, save, simulate
from snnc.runtime import encode, reference
from snnc.runtime.errors import ArtefactError
from sim_backends import over_backends

TARGET = Target(membrane_bits=16, overflow="saturate", fire="ge", threshold_bits=8, bias_bits=4,
                weight_encoding="symmetric", input_bits=8)


def echo(spec: InputSpec) -> Artefact:
    """One identity layer (θ = 1, reset to zero, weight 1): it fires exactly when its input spikes,
    so its spike trace is the encoded input."""
    n = spec.encoded_shape[0]
    neuron = Neuron([1], [0] * n, "zero", "zero")
    if len(spec.shape) == 3:
        layer = Conv("echo", ["input"], spec.encoded_shape, weight=np.ones((n, 1, 1, 1), dtype=np.int8), bits=2,
                     groups=n, neuron=neuron)
    else:
        layer = Linear("echo", ["input"], spec.encoded_shape, weight=np.eye(n, dtype=np.int8), bits=2, neuron=neuron)
    return Artefact(spec, (layer,), TARGET)


def trains(spec: InputSpec, x: np.ndarray, timesteps: int, backend: str) -> np.ndarray:
    """(B, T, *encoded_shape) the encoded input, through `echo`."""
    return simulate(echo(spec), x, timesteps, trace=True, backend=backend).spikes["echo"]


def bits(train) -> str:
    return "".join(str(int(v)) for v in train)


@pytest.mark.parametrize("backend", ["numpy", "reference", pytest.param("numba", marks=pytest.mark.skipif(
    not __import__("snnc.runtime.backend", fromlist=["x"]).numba_available(), reason="numba not installed"))])
def test_worked_examples(backend):
    # Poisson: seed 0, hi 4, x = (2, 1): 0101 and 1000
    s = trains(InputSpec((2,), "poisson", 0, 4, seed=0), np.array([[2, 1]]), 4, backend)[0]
    assert [bits(s[:, 0]), bits(s[:, 1])] == ["0101", "1000"]
    # population: P 3, hi 4, x = 2: v = (4, 2, 0)
    zero = trains(InputSpec((1, 1, 1), "population", 0, 4, rate_init="zero", population=3), np.array([[[[2]]]]), 4, backend)
    assert [bits(zero[0, :, c, 0, 0]) for c in range(3)] == ["1111", "0101", "0000"]
    half = trains(InputSpec((1, 1, 1), "population", 0, 4, rate_init="half", population=3), np.array([[[[2]]]]), 4, backend)
    assert bits(half[0, :, 1, 0, 0]) == "1010"
    # TTFS: hi 255, window 8: 255 -> 0, 128 -> 3, 1 -> 6, 0 never
    spec = InputSpec((4,), "ttfs", 0, 255, window=8)
    t = trains(spec, np.array([[255, 128, 1, 0]]), 8, backend)[0]
    assert [bits(t[:, k]) for k in range(4)] == ["10000000", "00010000", "00000010", "00000000"]
    assert trains(spec, np.array([[255, 128, 1, 0]]), 4, backend)[0].sum(axis=0).tolist() == [1, 1, 0, 0]


def test_splitmix64_published_sequence():
    # the SplitMix64 outputs from state 0 (semantics.md section 5 quotes them)
    expect = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    assert [reference.splitmix64_output(0, k) for k in (1, 2, 3, 4)] == expect
    assert encode.poisson_hash(0, 1, 4).reshape(-1).tolist() == expect
    top = (1 << 64) - 1  # the largest seed wraps modulo 2^64 the same way in both
    assert encode.poisson_hash(top, 3, 5).T.reshape(-1).tolist() == [
        reference.splitmix64_output(top, i * (1 << 32) + t + 1) for i in range(3) for t in range(5)]


@over_backends
def test_poisson_does_not_depend_on_the_batch(backend):
    spec = InputSpec((2, 3, 3), "poisson", 0, 255, seed=12345)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 2, 3, 3))
    x[3] = x[1]
    whole = trains(spec, x, 16, backend)
    assert (whole[3] == whole[1]).all()  # equal inputs, equal trains
    for b in range(5):
        assert (trains(spec, x[b:b + 1], 16, backend)[0] == whole[b]).all()
    other = trains(dataclasses.replace(spec, seed=12346), x, 16, backend)
    assert (other != whole).any()
    full = trains(spec, np.full((1, 2, 3, 3), 255), 16, backend)
    assert full.all() and not trains(spec, np.zeros((1, 2, 3, 3), int), 16, backend).any()
    # the mean rate is x/hi (4096 draws of each of 18 elements: well within 5 standard deviations)
    rate = trains(spec, np.full((1, 2, 3, 3), 64), 4096, backend).mean()
    assert abs(rate - 64 / 255) < 5 * np.sqrt(0.25 * 0.75 / (4096 * 18))


@over_backends
def test_population_counts_sum_to_p_times_x(backend):
    spec = InputSpec((2, 2, 2), "population", 0, 15, rate_init="zero", population=4)
    x = np.arange(8).reshape(1, 2, 2, 2) * 2 + 1  # 1 .. 15
    t = trains(spec, x, 15, backend)[0]  # T = hi: neuron p fires v_p times
    counts = t.sum(axis=0).astype(np.int64).reshape(2, 4, 2, 2)  # channel c*P + p
    assert (counts.sum(axis=1) == 4 * x[0]).all()
    assert (np.diff(counts, axis=1) <= 0).all()  # lower receptive fields fill first


def test_encoded_shapes_and_manifest_fields(tmp_path):
    for spec, field, value in [(InputSpec((2, 3, 3), "poisson", 0, 255, seed=2**63 - 1), "seed", 2**63 - 1),
                               (InputSpec((2, 3, 3), "population", 0, 255, population=5), "population", 5),
                               (InputSpec((6,), "ttfs", 0, 255, window=32), "window", 32)]:
        art = echo(spec)
        back = load(save(art, tmp_path / f"{spec.encoding}.snn"))
        assert back.input == spec and getattr(back.input, field) == value
    assert InputSpec((2, 3, 3), "population", 0, 255, population=5).encoded_shape == (10, 3, 3)
    assert InputSpec((6,), "population", 0, 255, population=2).encoded_shape == (12,)


@pytest.mark.parametrize("kw, field", [
    (dict(encoding="poisson", lo=0, hi=255, seed=-1), "seed"),
    (dict(encoding="poisson", lo=0, hi=255, seed=2**63), "seed"),
    (dict(encoding="rate", lo=0, hi=255, seed=3), "seed"),
    (dict(encoding="population", lo=0, hi=255, population=0), "population"),
    (dict(encoding="population", lo=0, hi=255, population=257), "population"),
    (dict(encoding="current", lo=0, hi=255, population=2), "population"),
    (dict(encoding="ttfs", lo=0, hi=255, window=0), "window"),
    (dict(encoding="poisson", lo=0, hi=255, window=4), "window"),
    (dict(encoding="ttfs", lo=-1, hi=255), "lo/hi"),
    (dict(encoding="population", lo=0, hi=0), "lo/hi"),
])
def test_bad_fields_name_the_field(kw, field):
    with pytest.raises(ArtefactError, match=f"input.*{field}"):
        echo(InputSpec((3,), **{"encoding": kw.pop("encoding"), **kw}))


@over_backends
def test_poisson_trains_do_not_depend_on_the_layout(backend):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(2, 3, 4, 5))  # (B, C, H, W)
    nchw = InputSpec((3, 4, 5), "poisson", 0, 255, seed=9)
    nhwc = dataclasses.replace(nchw, layout="NHWC")
    a = trains(nchw, x, 8, backend)
    b = trains(nhwc, np.transpose(x, (0, 2, 3, 1)), 8, backend)
    assert np.array_equal(a, b)
