"""A conv's `input_dilation` (docs/semantics.md section 6: a transposed convolution is a conv of the
zero-inserted input): the plain-Python reference against an independent scatter-form transposed
convolution, every backend against the reference, the manifest field, and the loader's checks."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.runtime import Artefact, ArtefactError, Conv, Flatten, InputSpec, Linear, Neuron, Target, load, save, simulate
from snnc.runtime.backend import numba_available, torch_available
from snnc.runtime.reference import reference_simulate
from snnc.runtime.validate import carries_spikes

BACKENDS = ["numpy"] + (["numba"] if numba_available() else []) + (["torch"] if torch_available() else [])
SILENT = 1 << 20  # a threshold above the 20-bit membrane's range: the neuron never fires, V integrates I


def conv_transpose_scatter(x: np.ndarray, wt: np.ndarray, stride, pad, out_pad) -> np.ndarray:
    """The textbook transposed convolution, independent of the lowering: every input pixel
    (c, y, x) adds x[c, y, x] * wt[c, o, i, j] to output (o, y*s + i - p, x*s + j - p); outputs
    outside [0, H_out) are dropped; H_out = (H - 1)*s - 2p + kh + output_padding. Python ints."""
    c_n, h, w = x.shape
    _, o_n, kh, kw = wt.shape
    (sh, sw), (ph, pw), (oh, ow) = stride, pad, out_pad
    ho, wo = (h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow
    out = [[[0] * wo for _ in range(ho)] for _ in range(o_n)]
    for c in range(c_n):
        for y in range(h):
            for xx in range(w):
                for o in range(o_n):
                    for i in range(kh):
                        for j in range(kw):
                            yo, xo = y * sh + i - ph, xx * sw + j - pw
                            if 0 <= yo < ho and 0 <= xo < wo:
                                out[o][yo][xo] += int(x[c, y, xx]) * int(wt[c, o, i, j])
    return np.array(out, dtype=np.int64)


def lowered(wt: np.ndarray, stride, pad, out_pad) -> dict:
    """The conv fields of that transposed convolution (docs/semantics.md section 6)."""
    _, _, kh, kw = wt.shape
    (ph, pw), (oh, ow) = pad, out_pad
    return dict(weight=np.ascontiguousarray(wt.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]), stride=(1, 1),
                input_dilation=tuple(stride), padding=(kh - 1 - ph, kw - 1 - pw, kh - 1 - ph + oh, kw - 1 - pw + ow))


def _artefact(x_shape, fields, out_shape, neuron, encoding="current", bits=4, groups=1):
    target = Target(20, "saturate", "ge", 21, 8, "full", 4)
    spec = InputSpec(tuple(x_shape), encoding, 0, 15, scale=1.0)
    conv = Conv("up", ["input"], tuple(out_shape), bits=bits, groups=groups, neuron=neuron, **fields)
    return Artefact(spec, (conv,), target, hardware_spec={"name": "test"})


CASES = [((2, 2), (1, 1), (1, 1), (3, 3)), ((2, 2), (0, 0), (0, 0), (2, 2)), ((3, 2), (1, 0), (2, 1), (3, 2)),
         ((1, 1), (1, 1), (0, 0), (3, 3)), ((2, 3), (0, 2), (1, 0), (1, 4))]


@pytest.mark.parametrize("stride, pad, out_pad, k", CASES)
def test_transposed_conv_matches_the_scatter_form(stride, pad, out_pad, k):
    """V after step 0 of a neuron that never fires is I: equal to the scatter-form result (reference, numpy)."""
    _scatter_case(stride, pad, out_pad, k, ["numpy"])


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def test_transposed_conv_matches_the_scatter_form_other_backends(backend):
    for case in CASES:
        _scatter_case(*case, [backend])


def _scatter_case(stride, pad, out_pad, k, backends):
    rng = np.random.default_rng(sum(stride + pad + out_pad + k))
    c, o, h, w = 2, 3, 3, 4
    x = rng.integers(0, 16, size=(2, c, h, w))
    wt = rng.integers(-8, 8, size=(c, o) + k).astype(np.int8)
    want = np.stack([conv_transpose_scatter(xi, wt, stride, pad, out_pad) for xi in x])
    art = _artefact((c, h, w), lowered(wt, stride, pad, out_pad), want.shape[1:], Neuron([SILENT], [0] * o))
    ref = reference_simulate(art, x, 1)
    np.testing.assert_array_equal(ref["membranes"]["up"][:, 0], want)
    for backend in backends:
        res = simulate(art, x, 1, trace=True, backend=backend)
        np.testing.assert_array_equal(res.membranes["up"][:, 0], want, err_msg=backend)


def test_semantics_worked_example():
    """docs/semantics.md section 6, input_dilation: the 1-channel 2x2 input (1, 2; 3, 4), dilation
    [2, 2], padding [1, 1, 2, 2], kernel [[1, 0], [0, 1]] (ConvTranspose stride 2, padding 0,
    output_padding 1 of the kernel [[1, 0], [0, 1]], flipped: itself)."""
    x = np.array([[[[1, 2], [3, 4]]]])
    fields = dict(weight=np.array([[[[1, 0], [0, 1]]]], np.int8), input_dilation=(2, 2), padding=(1, 1, 2, 2))
    art = _artefact((1, 2, 2), fields, (1, 5, 5), Neuron([SILENT], [0]))
    want = [[1, 0, 2, 0, 0], [0, 1, 0, 2, 0], [3, 0, 4, 0, 0], [0, 3, 0, 4, 0], [0, 0, 0, 0, 0]]
    assert reference_simulate(art, x, 1)["membranes"]["up"][0, 0, 0].tolist() == want
    wt = np.array([[[[1, 0], [0, 1]]]], np.int8)
    assert conv_transpose_scatter(x[0], wt, (2, 2), (0, 0), (1, 1))[0].tolist() == want


@st.composite
def dilated_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hd, wd = (h - 1) * dil[0] + 1, (w - 1) * dil[1] + 1
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    kh, kw = draw(st.integers(1, min(4, hd + pad[0] + pad[2]))), draw(st.integers(1, min(4, wd + pad[1] + pad[3])))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    out = (o, (hd + pad[0] + pad[2] - kh) // stride[0] + 1, (wd + pad[1] + pad[3] - kw) // stride[1] + 1)
    bits = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    wts = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(o, c // groups, kh, kw)) if bits > 1 else \
        rng.choice([-1, 1], size=(o, c // groups, kh, kw))
    theta = [int(t) for t in rng.integers(1, 40, size=draw(st.sampled_from([1, o])))]
    neuron = Neuron(theta, [int(b) for b in rng.integers(-3, 4, size=o)], draw(st.sampled_from(["zero", "subtract"])),
                    draw(st.sampled_from(["zero", "half"])))
    encoding = draw(st.sampled_from(["current", "rate"]))
    art = _artefact((c, h, w), dict(weight=wts.astype(np.int8), stride=stride, padding=pad, input_dilation=dil), out,
                    neuron, encoding=encoding, bits=bits, groups=groups)
    if draw(st.booleans()):  # a second layer reading the dilated conv's spikes
        f = int(np.prod(out))
        layers = art.layers + (Flatten("flat", ["up"], (f,)),
                               Linear("fc", ["flat"], (2,), weight=rng.integers(-1, 2, size=(2, f)).astype(np.int8),
                                      bits=2, neuron=Neuron([2], [0, 0])))
        art = Artefact(art.input, layers, art.target, hardware_spec=art.hardware_spec)
    x = rng.integers(0, 16, size=(draw(st.integers(1, 2)), c, h, w))
    return art, x, draw(st.integers(1, 4))


def _assert_all_equal(art, x, T):
    ref = reference_simulate(art, x, T)
    spiking = carries_spikes(art)
    for backend in BACKENDS:
        res = simulate(art, x, T, trace=True, backend=backend)
        for layer in art.core_layers:
            if spiking[layer.name]:
                np.testing.assert_array_equal(res.spikes[layer.name], ref["spikes"][layer.name], err_msg=backend)
            if layer.has_neurons:
                np.testing.assert_array_equal(res.membranes[layer.name], ref["membranes"][layer.name], err_msg=backend)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dilated_cases())
def test_backends_equal_the_reference_on_random_dilated_convs(case):
    _assert_all_equal(*case)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dilated_cases())
def test_both_numpy_conv_strategies_on_dilated_convs(case):
    """im2col of the dilated input and the unrolled matrix (which skips the inserted zeros)."""
    import snnc.runtime.fastsim as fastsim

    saved = fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE
    try:
        for limits in ((0, 0), (1 << 30, 1 << 30)):
            fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE = limits
            art, x, T = case
            ref = reference_simulate(art, x, T)
            res = simulate(art, x, T, trace=True, backend="numpy")
            for name, m in ref["membranes"].items():
                np.testing.assert_array_equal(res.membranes[name], m)
    finally:
        fastsim.UNROLL_MAX_ENTRIES, fastsim.UNROLL_MAX_WASTE = saved


def test_manifest_field_round_trip(tmp_path):
    wt = np.arange(-4, 4, dtype=np.int8).reshape(1, 2, 2, 2)
    art = _artefact((1, 3, 3), lowered(wt, (2, 2), (0, 0), (1, 1)), (2, 7, 7), Neuron([3], [0, 1]))
    path = save(art, tmp_path / "up.snn")
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert manifest["layers"][0]["input_dilation"] == [2, 2]
    back = load(path)
    assert back.layers[0].input_dilation == (2, 2)
    x = np.random.default_rng(0).integers(0, 16, size=(2, 1, 3, 3))
    counts = [simulate(a, x, 3, backend="numpy").counts["up"] for a in (back, art)]
    assert np.array_equal(*counts)
    plain = _artefact((1, 3, 3), dict(weight=wt.transpose(1, 0, 2, 3).copy(), padding=(1, 1, 1, 1)), (2, 4, 4),
                      Neuron([3], [0, 1]))
    path = save(plain, tmp_path / "plain.snn")
    assert "input_dilation" not in json.loads(zipfile.ZipFile(path).read("manifest.json"))["layers"][0]


def test_loader_checks_the_field(tmp_path):
    wt = np.ones((1, 1, 3, 3), np.int8)
    with pytest.raises(ArtefactError, match=r"layers\[0\] 'up'.*input_dilation|input_dilation.*must be"):
        _artefact((1, 3, 3), dict(weight=wt, input_dilation=(0, 1)), (1, 1, 1), Neuron([3], [0]))
    with pytest.raises(ArtefactError, match="output_shape"):  # the shape is the dilated input's
        _artefact((1, 3, 3), dict(weight=wt, input_dilation=(2, 2)), (1, 1, 1), Neuron([3], [0]))
    art = _artefact((1, 3, 3), dict(weight=wt, input_dilation=(2, 2)), (1, 3, 3), Neuron([3], [0]))
    path = save(art, tmp_path / "a.snn")
    for bad, what in (([0, 2], "input_dilation"), ([2], "input_dilation"), ([2.0, 2], "input_dilation")):
        manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
        manifest["layers"][0]["input_dilation"] = bad
        with pytest.raises(ArtefactError, match=what):
            load(_rewrite(path, manifest, tmp_path / "bad.snn"))


def _rewrite(path, manifest, out):
    """The artefact with another manifest (and its sha256 member)."""
    import hashlib

    text = json.dumps(manifest).encode()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "manifest.json":
                data = text
            elif info.filename == "manifest.sha256":
                data = (hashlib.sha256(text).hexdigest() + "\n").encode()
            dst.writestr(info.filename, data)
    return out
