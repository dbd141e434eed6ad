"""input.layout (docs/artefact.md, semantics.md section 5): NHWC artefacts take (B, H, W, C) arrays,
the one shape rule (`encode.conform_input`), `snnc run` on NHWC files, and the clipping warning."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.compiler.cli.run_cmd import run
from snnc.runtime import ArtefactError, InputError, InputSpec, load, save, simulate, verify
from snnc.runtime.encode import clip_warning, clipped_count, conform_input, to_external, to_internal
from snnc.runtime.npyio import load_input_npy
from snnc.runtime.reference import reference_simulate

from artefact_zip import golden_parts, sealed, write_zip
from sim_backends import over_backends

GOLDEN = Path(__file__).parent / "golden"


def nchw_twin(art):
    """The same network with layout NCHW (and its golden inputs transposed to (B, C, H, W))."""
    g = art.golden
    golden = dataclasses.replace(g, inputs=np.ascontiguousarray(np.transpose(g.inputs, (0, 3, 1, 2))))
    return dataclasses.replace(art, input=dataclasses.replace(art.input, layout="NCHW"), golden=golden)


def test_nhwc_golden_file_takes_nhwc_inputs():
    art = load(GOLDEN / "nhwc_rgb.snn")
    assert art.input.layout == "NHWC" and art.input.shape == (3, 5, 6) and art.input.external_shape == (5, 6, 3)
    assert art.golden.inputs.shape == (4, 5, 6, 3) and art.golden.inputs.dtype == np.float32
    manifest = json.loads(golden_parts("nhwc_rgb")[0]["manifest.json"])
    assert manifest["input"]["layout"] == "NHWC"


@pytest.mark.parametrize("name", ["lenet_host", "rate_mlp", "wrap_residual", "doc_example"])
def test_default_layout_is_not_written(name):
    """Existing artefacts keep their bytes: an NCHW input has no `layout` key in the manifest."""
    manifest = json.loads(golden_parts(name)[0]["manifest.json"])
    assert "layout" not in manifest["input"]
    assert load(GOLDEN / f"{name}.snn").input.layout == "NCHW"


@over_backends
def test_nhwc_equals_nchw_transposed_on_every_backend(backend):
    art = load(GOLDEN / "nhwc_rgb.snn")
    twin = nchw_twin(art)
    x = art.golden.inputs
    res = simulate(art, x, 8, trace=True, backend=backend)
    ref = simulate(twin, twin.golden.inputs, 8, trace=True, backend=backend)
    for name in ref.spikes:
        np.testing.assert_array_equal(res.spikes[name], ref.spikes[name], err_msg=name)
    for name in ref.membranes:
        np.testing.assert_array_equal(res.membranes[name], ref.membranes[name], err_msg=name)
    np.testing.assert_array_equal(res.predictions, art.golden.predictions)
    assert verify(art, backend=backend).ok and verify(twin, backend=backend).ok
    # integer inputs too, and a non-contiguous (transposed) view of NCHW data
    xi = np.rint(np.transpose(twin.golden.inputs, (0, 2, 3, 1)) * 255).astype(np.int64)
    a = simulate(art, xi, 8, backend=backend)
    b = simulate(twin, np.ascontiguousarray(np.transpose(xi, (0, 3, 1, 2))), 8, backend=backend)
    for name in b.counts:
        np.testing.assert_array_equal(a.counts[name], b.counts[name], err_msg=name)


def test_reference_simulate_honours_the_layout():
    art = load(GOLDEN / "nhwc_rgb.snn")
    ref = reference_simulate(art, art.golden.inputs, 8)
    for name, spikes in art.golden.spikes.items():
        np.testing.assert_array_equal(ref["spikes"][name], spikes, err_msg=name)
    np.testing.assert_array_equal(ref["predictions"], art.golden.predictions)


def test_simulate_refuses_the_other_layout_with_the_fix():
    art = load(GOLDEN / "nhwc_rgb.snn")
    twin = nchw_twin(art)
    with pytest.raises(InputError, match=r"shape \[4, 3, 5, 6\] does not match \(B, 5, 6, 3\).*takes NHWC"):
        simulate(art, twin.golden.inputs, 8)
    with pytest.raises(InputError, match=r"looks like NHWC.*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        simulate(twin, art.golden.inputs, 8)


def test_golden_inputs_must_be_in_the_external_layout():
    art = load(GOLDEN / "nhwc_rgb.snn")
    bad = dataclasses.replace(art.golden, inputs=nchw_twin(art).golden.inputs)
    with pytest.raises(ArtefactError, match=r"golden: inputs: shape \[4, 3, 5, 6\] must be \(B, 5, 6, 3\)"):
        dataclasses.replace(art, golden=bad)


def test_layout_field_validation():
    with pytest.raises(ArtefactError, match="layout"):
        dataclasses.replace(load(GOLDEN / "rate_mlp.snn"), input=InputSpec((16,), "rate", 0, 15, layout="NHWC"))
    with pytest.raises(ArtefactError, match="layout"):
        art = load(GOLDEN / "lenet_host.snn")
        dataclasses.replace(art, input=dataclasses.replace(art.input, layout="CHW"))


@pytest.mark.parametrize("value, ok", [("NHWC", True), ("NCHW", True), ("nhwc", False), (1, False)])
def test_manifest_layout_values(tmp_path, value, ok):
    members, manifest = golden_parts("wrap_residual")
    manifest["input"]["layout"] = value
    if value == "NHWC":  # the golden inputs must then be (B, H, W, C)
        from snnc.runtime.manifest import npy_bytes
        import io
        x = np.load(io.BytesIO(members["golden/inputs.npy"]))
        members["golden/inputs.npy"] = npy_bytes(np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))))
    path = write_zip(tmp_path / "a.snn", sealed(members, manifest, rehash=["golden/inputs.npy"]))
    if ok:
        art = load(path)
        assert art.input.layout == value and verify(art).ok
    else:
        with pytest.raises(ArtefactError, match=r"input\.layout|layout"):
            load(path)


def test_save_load_round_trip_keeps_nhwc(tmp_path):
    art = load(GOLDEN / "nhwc_rgb.snn")
    again = load(save(art, tmp_path / "b.snn"))
    assert again.input.layout == "NHWC"
    assert (tmp_path / "b.snn").read_bytes() == (GOLDEN / "nhwc_rgb.snn").read_bytes()


# ------------------------------------------------------------------------------ the shape rule

def test_conform_input_accepts():
    x = np.zeros((2, 5, 6, 3))
    assert conform_input(x, (3, 5, 6), "NHWC") is x
    assert conform_input(x[0], (3, 5, 6), "NHWC", single=True).shape == (1, 5, 6, 3)
    assert conform_input(np.zeros((2, 5, 6)), (1, 5, 6)).shape == (2, 1, 5, 6)
    assert conform_input(np.zeros((2, 5, 6)), (1, 5, 6), "NHWC").shape == (2, 5, 6, 1)
    assert conform_input(np.zeros((2, 5, 6, 1)), (1, 5, 6)).shape == (2, 1, 5, 6)  # one channel: same values
    assert conform_input(np.zeros((2, 1, 5, 6)), (1, 5, 6), "NHWC").shape == (2, 5, 6, 1)
    assert conform_input(np.zeros((5, 6)), (1, 5, 6), single=True).shape == (1, 1, 5, 6)
    flat = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(conform_input(flat, (12,)), flat.reshape(2, 12))
    assert conform_input(np.zeros(12), (12,), single=True).shape == (1, 12)


@pytest.mark.parametrize("shape, layout, kw, message", [
    ((2, 5, 6, 3), "NCHW", {}, r"looks like NHWC .* np\.transpose\(x, \(0, 3, 1, 2\)\)"),
    ((5, 6, 3), "NCHW", {"single": True}, r"looks like NHWC .* np\.transpose\(x, \(2, 0, 1\)\)"),
    ((2, 3, 5, 6), "NHWC", {}, r"looks like NCHW .*takes NHWC"),
    ((2, 90), "NCHW", {}, r"does not match \(B, 3, 5, 6\)$"),  # no silent reshape of images
    ((2, 6, 5, 3), "NCHW", {}, r"does not match \(B, 3, 5, 6\)$"),
    ((2, 5, 6), "NCHW", {}, r"does not match"),  # (N, H, W) only for one channel
    ((3, 5, 6), "NCHW", {}, r"does not match \(B, 3, 5, 6\)$"),  # one sample: run only
    ((2, 1, 5, 6), "NCHW", {"exact": True}, None),
])
def test_conform_input_refuses(shape, layout, kw, message):
    spec_shape = (1, 5, 6) if message is None else (3, 5, 6)
    if message is None:  # exact: only (B, *external shape), as simulate takes it
        with pytest.raises(InputError):
            conform_input(np.zeros((2, 5, 6)), spec_shape, layout, "x.npy", **kw)
        assert conform_input(np.zeros(shape), spec_shape, layout, **kw).shape == shape
        return
    with pytest.raises(InputError, match=r"^x\.npy: shape \[[0-9, ]+\] .*" + message):
        conform_input(np.zeros(shape), spec_shape, layout, "x.npy", **kw)


def test_to_external_and_back():
    spec = InputSpec((3, 5, 6), "current", 0, 255, layout="NHWC")
    x = np.arange(2 * 3 * 5 * 6).reshape(2, 3, 5, 6)
    ext = to_external(spec, x)
    assert ext.shape == (2, 5, 6, 3) and ext[1, 4, 2, 0] == x[1, 0, 4, 2]
    np.testing.assert_array_equal(to_internal(spec, ext), x)
    nchw = InputSpec((3, 5, 6), "current", 0, 255)
    assert to_external(nchw, x) is x and to_internal(nchw, x) is x


def test_load_input_npy_layouts(tmp_path):
    art = load(GOLDEN / "nhwc_rgb.snn")
    x = art.golden.inputs
    p = tmp_path / "x.npy"
    np.save(p, x)
    assert load_input_npy(p, art.input).shape == (4, 5, 6, 3)
    np.save(p, x[0])
    assert load_input_npy(p, art.input).shape == (1, 5, 6, 3)
    np.save(p, np.transpose(x, (0, 3, 1, 2)))
    with pytest.raises(InputError, match=rf"^{p}: shape \[4, 3, 5, 6\] does not match .*takes NHWC"):
        load_input_npy(p, art.input)
    np.save(p, x)
    with pytest.raises(InputError, match=rf"^{p}: .*looks like NHWC.*np\.transpose\(x, \(0, 3, 1, 2\)\)"):
        load_input_npy(p, nchw_twin(art).input)


def test_run_cli_takes_nhwc_and_prints_golden_predictions(tmp_path):
    art = load(GOLDEN / "nhwc_rgb.snn")
    p = tmp_path / "x.npy"
    np.save(p, art.golden.inputs)
    res = CliRunner().invoke(run, [str(GOLDEN / "nhwc_rgb.snn"), str(p)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    preds = [int(line.split("prediction ")[1].split()[0]) for line in res.output.splitlines() if "prediction" in line]
    assert preds == art.golden.predictions.tolist()
    assert "warning" not in res.output
    np.save(p, np.transpose(art.golden.inputs, (0, 3, 1, 2)))
    res = CliRunner().invoke(run, [str(GOLDEN / "nhwc_rgb.snn"), str(p)], catch_exceptions=False)
    assert res.exit_code == 2 and "takes NHWC" in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------------------ clipping

def test_clipped_count_and_warning():
    spec = InputSpec((4,), "current", 0, 255, scale=1 / 255)
    x = np.array([[0.0, 1.0, 1.0 + 1 / 255, 1.5], [-0.5, 0.2, -1 / 255, 2.0]])
    assert clipped_count(spec, x) == (3, 8)  # 1.5, -0.5, 2.0; one step beyond is not counted
    assert clipped_count(spec, np.array([[300, 0]])) == (0, 2)  # integers are range-checked instead
    line = clip_warning(spec, 3, 8, "x.npy")
    assert line.startswith("x.npy: 3 of 8 input values (37.5%) lie outside the calibrated input range [0, 1]")
    assert clip_warning(spec, 1, 100) is None and clip_warning(spec, 2, 100) is not None and clip_warning(spec, 0, 0) is None


def test_run_cli_warns_when_inputs_are_clipped(tmp_path):
    art = load(GOLDEN / "nhwc_rgb.snn")
    p = tmp_path / "x.npy"
    np.save(p, art.golden.inputs * 255)  # data in 0..255 for a model calibrated on 0..1
    res = CliRunner().invoke(run, [str(GOLDEN / "nhwc_rgb.snn"), str(p)], catch_exceptions=False)
    assert res.exit_code == 0
    warning = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "input values" in warning[0] and "clipped" in warning[0], res.output
    assert str(p) in warning[0]
