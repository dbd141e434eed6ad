"""`snnc check` end to end: small torch models exported to ONNX in tmp_path (no downloads)."""
import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from snnc.compiler.cli.main import cli  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "models"


def export(model: nn.Module, shape, path: Path) -> str:
    with warnings.catch_warnings():  # the legacy exporter warns that it is legacy
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model.eval(), torch.zeros(shape), str(path), dynamo=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    return str(path)


class OneConv(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv3 = nn.Conv2d(cin, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv3(x)), 1), 1))


class ThreeBad(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, padding=3)    # 7x7: HW002
        self.conv2 = nn.Conv2d(8, 60, 3, padding=1)   # no ReLU after it: HW003
        self.conv3 = nn.Conv2d(60, 8, 3, padding=1)   # 60 > 56: HW001
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.conv2(x)
        x = torch.relu(self.conv3(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return torch.softmax(self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)), 1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models")
    return {
        "convbn": export(ConvBN(), (1, 3, 8, 8), d / "convbn.onnx"),
        "c56": export(OneConv(56), (1, 56, 8, 8), d / "c56.onnx"),
        "c57": export(OneConv(57), (1, 57, 8, 8), d / "c57.onnx"),
        "bad3": export(ThreeBad(), (1, 3, 8, 8), d / "bad3.onnx"),
    }


def snnc(*args):
    return CliRunner().invoke(cli, ["check", *args])


def test_fits_exit_0(models):
    r = snnc(models["c56"], "--hw", "hw_v1", "--bits", "2")
    assert r.exit_code == 0, r.output
    assert "result: FITS hw_v1 at --bits 2" in r.output


def test_batchnorm_is_folded_and_softmax_goes_to_the_host(models):
    r = snnc(models["convbn"], "--bits", "2", "--format", "json")
    assert r.exit_code == 0, r.output
    layers = json.loads(r.output)["layers"]
    assert [x["op"] for x in layers] == ["conv+relu", "globalavgpool", "flatten", "linear", "softmax"]
    assert [x["placement"] for x in layers][-2:] == ["host", "host"]


def test_violation_exit_1_names_the_layer_and_suggests_bits_1(models):
    r = snnc(models["c57"], "--hw", "hw_v1", "--bits", "2")
    assert r.exit_code == 1, r.output
    assert "HW001 conv-in-channels  /conv3/Conv (conv)" in r.output
    assert "use --bits-for /conv3/Conv=1: limit 113 >= 57" in r.output


def test_three_violations_in_one_run_text_and_json_agree(models):
    text = snnc(models["bad3"], "--bits", "2")
    js = snnc(models["bad3"], "--bits", "2", "--format", "json")
    assert text.exit_code == js.exit_code == 1
    data = json.loads(js.output)
    got = [(v["code"], v["layer"]) for v in data["violations"]]
    assert got == [("HW002", "/conv1/Conv"), ("HW003", "/conv2/Conv"), ("HW001", "/conv3/Conv")]
    for code, layer in got:
        assert f"{code} " in text.output and f"{layer} (conv)" in text.output
    assert "3 violations" in text.output


def test_spec_file_path_changes_the_outcome(models, tmp_path):
    import yaml
    from snnc.hwspec import resolve

    doc = yaml.safe_load(resolve("hw_v1").read_text())
    p = doc["parameters"]
    p["synapse_row_bits"]["value"] = 2048
    p["conv_in_channels_limit"]["value"] = {k: {b: 2048 // (k * k * b) for b in (1, 2, 3, 4)} for k in (3, 5)}
    spec = tmp_path / "hw_wide.yaml"
    spec.write_text(yaml.safe_dump(doc))
    assert snnc(models["c57"], "--hw", str(spec), "--bits", "2").exit_code == 0


@pytest.mark.parametrize("args,message", [
    (["missing.onnx", "--bits", "2"], "error: missing.onnx: no such model file"),
    (["{c56}", "--bits", "7"], "error: --bits 7: the spec hw_v1 allows 1, 2, 3, 4"),
    (["{c56}", "--bits", "0"], "error: --bits 0: the spec hw_v1 allows 1, 2, 3, 4"),
    (["{c56}", "--bits", "2", "--hw", "no_such_spec"], "error: no_such_spec: no such spec file"),
])
def test_bad_input_exit_2_one_line(models, args, message):
    r = snnc(*[a.format(**models) for a in args])
    assert r.exit_code == 2
    assert r.output.startswith(message), r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_not_onnx_exit_2(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"this is not a protobuf")
    r = snnc(str(bad), "--bits", "2")
    assert r.exit_code == 2 and r.output.startswith("error: ") and str(bad) in r.output
    assert "Traceback" not in r.output


def test_invalid_spec_file_names_file_line_field(models, tmp_path):
    from snnc.hwspec import resolve

    text = resolve("hw_v1").read_text().replace("value: 1024", "value: lots")
    spec = tmp_path / "broken.yaml"
    spec.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "value: lots" in s)
    r = snnc(models["c56"], "--hw", str(spec), "--bits", "2")
    assert r.exit_code == 2
    assert r.output.startswith(f"error: {spec}:{line}: field 'parameters.synapse_row_bits.value': expected an integer")
    assert len(r.output.strip().splitlines()) == 1


def test_missing_bits_is_a_usage_error(models):
    assert snnc(models["c56"]).exit_code == 2


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_shipped_lenet5_fits_at_every_bit_width(bits):
    r = snnc(str(EXAMPLES / "lenet5_fits.onnx"), "--bits", str(bits), "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["fits"] is True


def test_shipped_wide_conv_fails_at_2_bits_and_fits_at_1():
    r = snnc(str(EXAMPLES / "wide_conv.onnx"), "--bits", "2")
    assert r.exit_code == 1 and "use --bits-for /conv2/Conv=1: limit 113 >= 57" in r.output
    assert snnc(str(EXAMPLES / "wide_conv.onnx"), "--bits", "1").exit_code == 0
