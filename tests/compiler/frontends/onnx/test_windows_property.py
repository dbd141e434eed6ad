"""Property tests: random Conv / MaxPool / AveragePool window attributes (strides, pads,
dilations, groups, auto_pad, ceil_mode) imported and compared with onnxruntime.
Tolerance atol=1e-5, rtol=1e-5. AveragePool with a ceil_mode that changes the output size must
be refused (the IR avgpool has no ceil mode), never imported wrongly."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import helper

from snnc.compiler.errors import UnsupportedOpsError


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def built(nodes, shape, build_model, **kw):
    """The model, or skip the example when onnxruntime itself refuses it: it computes a negative
    SAME padding (and fails) when the stride exceeds the kernel span, where ONNX says 0."""
    try:
        return build_model(nodes, shape, opset=13, **kw)
    except Exception as exc:
        assume("negative" not in str(exc))
        raise


@st.composite
def window(draw):
    h, w = draw(st.integers(5, 10)), draw(st.integers(5, 10))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    attrs = {"kernel_shape": list(k), "strides": list(s)}
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, k[i % 2] - 1)) for i in range(4)]  # pads < kernel
    else:
        attrs["auto_pad"] = auto_pad
    return (h, w), attrs


@given(window(), st.integers(1, 2), st.sampled_from([1, 2]), st.integers(0, 10**6))
@SETTINGS
def test_conv(build_model, assert_matches_ort, shape_attrs, dil, groups, seed):
    (h, w), attrs = shape_attrs
    k = attrs.pop("kernel_shape")
    if attrs.get("auto_pad") not in ("SAME_UPPER", "SAME_LOWER"):
        attrs["dilations"] = [dil, dil]
    rng = np.random.default_rng(seed)
    span = [(k[i] - 1) * attrs.get("dilations", [1, 1])[i] + 1 for i in range(2)]
    assume(span[0] <= h and span[1] <= w)
    W = rng.standard_normal((4, 4 // groups, *k)).astype(np.float32)
    model = built([helper.make_node("Conv", ["x", "W"], ["y"], group=groups, **attrs)], (2, 4, h, w), build_model, inits={"W": W})
    assert_matches_ort(model, rng.standard_normal((2, 4, h, w)).astype(np.float32))


@given(window(), st.sampled_from(["MaxPool", "AveragePool"]), st.integers(0, 1), st.integers(0, 1), st.integers(0, 10**6))
@SETTINGS
def test_pool(build_model, assert_matches_ort, ort_run, shape_attrs, op, ceil, include_pad, seed):
    (h, w), attrs = shape_attrs
    k = attrs["kernel_shape"]
    assume(k[0] <= h and k[1] <= w)
    attrs["ceil_mode"] = ceil
    if op == "AveragePool":
        attrs["count_include_pad"] = include_pad
    model = built([helper.make_node(op, ["x"], ["y"], **attrs)], (1, 2, h, w), build_model)
    x = np.random.default_rng(seed).standard_normal((1, 2, h, w)).astype(np.float32)
    try:
        assert_matches_ort(model, x)
    except UnsupportedOpsError as e:
        if attrs.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER"):
            assert op == "AveragePool" and ceil
            assert list(e.ops) == ["AveragePool (ceil_mode=1 with auto_pad SAME_* (onnxruntime and the ONNX spec disagree))"]
            return
        assert op == "AveragePool" and ceil and list(e.ops) == ["AveragePool (ceil_mode=1 changes the output size)"]
        pads = attrs.get("pads", [0, 0, 0, 0])
        floor_size = [(n + pads[i] + pads[i + 2] - k[i]) // attrs["strides"][i] + 1 for i, n in enumerate((h, w))]
        ort_size = list(ort_run(model, x)[0].shape[2:])
        assert ort_size != floor_size  # refused only where rounding up really changes the result
