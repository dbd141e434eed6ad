import json
from pathlib import Path

from snnc.compiler.check import CODES, check_graph


def failing(net):
    return (net((None, 60, 12, 12)).conv(60, 60, name="a").conv(60, 8, 7, name="b", relu=False)
            .node("maxpool", "mp", attrs={"kernel": (2, 2), "stride": (2, 2)})
            .node("globalavgpool").node("flatten").linear(8, 10, name="fc").build())


def test_text_and_json_have_the_same_content(net, hw_v1):
    r = check_graph(failing(net), hw_v1, 2, model="m.onnx")
    text, data = r.to_text(), json.loads(r.to_json())
    assert data["schema"] == "snnc-check/1" and data["model"] == "m.onnx" and data["bits"] == 2
    assert data["spec"]["name"] == "hw_v1" and data["fits"] is False and data["exit_code"] == 1
    assert [(v["code"], v["layer"]) for v in data["violations"]] == [(v.code, v.layer) for v in r.violations]
    assert data["summary"] == {"layers": len(r.layers), "violations": 4, "warnings": 0}
    for v in data["violations"]:
        assert set(v) == {"code", "name", "severity", "layer", "op", "message", "actual", "limit", "rule", "hint"}
        assert f"{v['code']} {v['name']}  {v['layer']} ({v['op']}): {v['message']}" in text
        assert v["hint"] in text and v["rule"] in text
    for row in data["layers"]:
        assert set(row) == {"layer", "op", "kernel", "in_channels", "groups", "bits", "limit", "placement", "status"}
        assert any(line.startswith(row["layer"] + " ") and row["status"] in line for line in text.splitlines())
    assert text.splitlines()[-1] == "result: DOES NOT FIT hw_v1 at --bits 2 (4 violations, 0 warnings)"


def test_table_rows(net, hw_v1):
    r = check_graph(failing(net), hw_v1, 2)
    rows = {row.layer: row for row in r.layers}
    a = rows["a"]
    assert (a.op, a.kernel, a.in_channels, a.bits, a.limit, a.placement, a.status) == \
        ("conv+relu", "3x3", 60, 2, 56, "core", "VIOLATION")
    assert rows["fc"].placement == "host" and rows["fc"].bits is None and rows["fc"].status == "ok"
    assert rows["mp"].status == "VIOLATION" and rows["b"].limit is None  # 7x7: no limit in the table
    assert "relu1" not in rows  # the ReLU is the conv's neuron, shown as conv+relu


def test_fitting_report(net, hw_v1):
    g = net((None, 3, 8, 8)).conv(3, 8).node("globalavgpool").node("flatten").linear(8, 10).build()
    r = check_graph(g, hw_v1, 1)
    assert r.exit_code == 0 and r.to_text().endswith("result: FITS hw_v1 at --bits 1 (0 warnings)")
    assert json.loads(r.to_json())["violations"] == []


def test_codes_are_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "check.md").read_text()
    for code in CODES.values():
        assert f"{code.code}" in doc and code.name in doc, code
