"""The constraint rules, on hand-built IR graphs. Limits come from the spec files, never from here."""
from pathlib import Path

import pytest
import yaml

from snnc.compiler.check import check_graph
from snnc.hwspec import load_spec, resolve

HW_V1 = yaml.safe_load(resolve("hw_v1").read_text())
TABLE = HW_V1["parameters"]["conv_in_channels_limit"]["value"]
ENTRIES = [(int(k), int(b), int(lim)) for k, row in TABLE.items() for b, lim in row.items()]


def found(report):
    return [(v.code, v.layer) for v in report.violations]


def one_conv(net, cin, k=3, **kw):
    return net((None, cin, 12, 12)).conv(cin, 8, k, name="conv1", **kw).node("globalavgpool").node("flatten") \
        .linear(8, 10, name="fc").build()


def test_57_channels_fail_at_2_bits_and_suggest_1(net, hw_v1):
    r = check_graph(one_conv(net, 57), hw_v1, 2)
    assert found(r) == [("HW001", "conv1")] and r.exit_code == 1
    v = r.violations[0]
    assert (v.name, v.op, v.actual, v.limit) == ("conv-in-channels", "conv", 57, 56)
    assert v.rule == "in_channels * k * k * bits <= 1024"
    assert "use --bits-for conv1=1: limit 113 >= 57" in v.hint
    assert "into 2 groups of <= 56" in v.hint and "2 partial convolutions" in v.hint


def test_56_channels_fit_at_2_bits(net, hw_v1):
    r = check_graph(one_conv(net, 56), hw_v1, 2)
    assert r.violations == [] and r.exit_code == 0 and r.fits


def test_no_bit_width_fits_suggests_only_splitting(net, hw_v1):
    r = check_graph(one_conv(net, 300), hw_v1, 2)
    v = r.violations[0]
    assert v.code == "HW001" and "--bits" not in v.hint and "into 6 groups of <= 56" in v.hint


@pytest.mark.parametrize("k,bits,limit", ENTRIES, ids=[f"{k}x{k}-{b}bit" for k, b, _ in ENTRIES])
def test_every_table_entry_of_hw_v1(net, hw_v1, k, bits, limit):
    assert check_graph(one_conv(net, limit, k), hw_v1, bits).violations == []
    r = check_graph(one_conv(net, limit + 1, k), hw_v1, bits)
    assert found(r) == [("HW001", "conv1")]
    assert r.violations[0].actual == limit + 1 and r.violations[0].limit == limit


def test_three_violating_layers_reported_in_one_run(net, hw_v1):
    g = (net((None, 60, 12, 12)).conv(60, 60, name="a").conv(60, 40, name="b").conv(40, 8, 5, name="c")
         .node("globalavgpool").node("flatten").linear(8, 10, name="fc").build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW001", "a"), ("HW001", "b"), ("HW001", "c")]
    assert [row.status for row in r.layers if row.layer in "abc"] == ["VIOLATION"] * 3


def test_every_rule_family_reported_together(net, hw_v1):
    g = (net((None, 3, 16, 16))
         .conv(3, 8, 7, name="big")                      # HW002
         .conv(8, 8, 3, name="norelu", relu=False)       # HW003
         .node("maxpool", "mp", attrs={"kernel": (2, 2), "stride": (2, 2)})  # HW004
         .conv(8, 8, 3, kw=1, name="tall")               # HW006
         .node("globalavgpool").node("flatten").linear(8, 10, name="fc").node("softmax", "sm").build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW002", "big"), ("HW003", "norelu"), ("HW004", "mp"), ("HW006", "tall")]


def spec_file(tmp_path: Path, budget=None, extra_rows=None, drop=None) -> Path:
    """hw_v1.yaml with another synapse-row budget (and its consistent table) or extra kernel rows."""
    doc = yaml.safe_load(resolve("hw_v1").read_text())
    p = doc["parameters"]
    budget = budget or p["synapse_row_bits"]["value"]
    p["synapse_row_bits"]["value"] = budget
    kernels = sorted(p["conv_in_channels_limit"]["value"]) + list(extra_rows or [])
    bits = p["weight_bits"]["value"]
    p["conv_in_channels_limit"]["value"] = {k: {b: budget // (k * k * b) for b in bits if (k, b) != drop} for k in kernels}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_another_spec_changes_the_outcome(net, hw_v1, tmp_path):
    g = one_conv(net, 57)
    assert check_graph(g, hw_v1, 2).exit_code == 1
    wider = load_spec(spec_file(tmp_path, budget=2048))
    r = check_graph(g, wider, 2)
    assert r.violations == [] and r.layers[0].limit == 113
    assert check_graph(one_conv(net, 114), wider, 2).violations[0].limit == 113


def test_a_7x7_row_makes_7x7_kernels_legal(net, hw_v1, tmp_path):
    g = one_conv(net, 4, 7)
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW002", "conv1")]
    assert r.violations[0].actual == "7x7" and "3x3, 5x5" in r.violations[0].limit
    assert "3 stacked 3x3 convs" in r.violations[0].hint
    spec = load_spec(spec_file(tmp_path, extra_rows=[7]))
    assert check_graph(g, spec, 2).violations == []
    r = check_graph(one_conv(net, 11, 7), spec, 2)  # floor(1024 / (7*7*2)) = 10
    assert found(r) == [("HW001", "conv1")] and r.violations[0].limit == 10


def test_1x1_kernel_runs_as_a_centred_3x3(net, hw_v1):
    """hw_v1's table has 3x3 and 5x5 rows: a 1x1 conv is the 3x3 conv with zeros around its centre
    (padding + 1), so it fits by the 3x3 row (floor(1024 / (3*3*2)) = 56 at 2 bits)."""
    assert check_graph(one_conv(net, 56, 1), hw_v1, 2).violations == []
    r = check_graph(one_conv(net, 57, 1), hw_v1, 2)
    assert found(r) == [("HW001", "conv1")] and r.violations[0].limit == 56
    assert "1x1 conv (run as 3x3)" in r.violations[0].message


def test_1x1_kernel_at_1_bit_cannot_be_embedded(net, hw_v1):
    r = check_graph(one_conv(net, 4, 1), hw_v1, 1)  # bipolar weights have no 0 to pad the 3x3 with
    assert found(r) == [("HW002", "conv1")] and "--bits-for conv1=2" in r.violations[0].hint


def test_even_kernel_is_a_violation(net, hw_v1):
    r = check_graph(one_conv(net, 4, 2), hw_v1, 2)  # 2x2 centres in neither 3x3 nor 5x5
    assert found(r) == [("HW002", "conv1")]
    assert "3x3 conv (padding 1)" in r.violations[0].hint


def test_missing_table_column_is_bits_not_allowed(net, tmp_path):
    spec = load_spec(spec_file(tmp_path, drop=(3, 4)))
    r = check_graph(one_conv(net, 10), spec, 4)
    assert found(r) == [("HW005", "conv1")]
    assert r.violations[0].hint == "use --bits-for conv1=3"


def test_bits_outside_weight_bits(net, hw_v1):
    r = check_graph(one_conv(net, 8), hw_v1, 7)
    assert found(r) == [("HW005", "-")]
    assert r.violations[0].limit == [1, 2, 3, 4] and "1, 2, 3, 4" in r.violations[0].hint


def test_conv_not_followed_by_relu(net, hw_v1):
    r = check_graph(one_conv(net, 8, relu=False), hw_v1, 2)
    assert found(r) == [("HW003", "conv1")]
    assert r.violations[0].actual == "globalavgpool globalavgpool1"
    assert "add a ReLU directly after conv1" in r.violations[0].hint


def test_relu6_counts_as_relu(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8, relu=False).node("clip", attrs={"min": 0.0, "max": 6.0})
         .node("globalavgpool").node("flatten").linear(8, 10).build())
    assert check_graph(g, hw_v1, 2).violations == []


def test_relu_after_maxpool_hint_moves_it(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8, name="c", relu=False)
         .node("maxpool", "mp", attrs={"kernel": (2, 2), "stride": (2, 2)}).node("relu")
         .node("globalavgpool").node("flatten").linear(8, 10).build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW003", "c"), ("HW004", "mp")]
    assert "move the ReLU" in r.violations[0].hint
    assert r.violations[1].hint.startswith("replace MaxPool with AvgPool (stride = kernel) and retrain, or pass --maxpool avgpool")


def test_conv_output_read_twice_is_a_violation(net, hw_v1):
    n = net((None, 8, 8, 8)).conv(8, 8, name="c", relu=False)
    c = n.last
    g = n.node("relu", "r").node("add", "res", inputs=[n.last, c]).node("globalavgpool").node("flatten").linear(8, 4).build()
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW003", "c")] and "only through one ReLU" in r.violations[0].hint


def test_grouped_conv_uses_channels_per_group(net, hw_v1):
    assert check_graph(one_conv(net, 96, groups=2), hw_v1, 2).violations == []  # 48 per synapse row
    r = check_graph(one_conv(net, 120, groups=2), hw_v1, 2)  # 60 per group > 56
    v = r.violations[0]
    assert (v.code, v.actual, v.limit) == ("HW001", 60, 56) and v.rule.startswith("in_channels/groups")
    assert "use --bits-for conv1=1" in v.hint and "groups=4" in v.hint


def test_unfolded_batchnorm(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8)
         .node("batchnorm", "bn", scale=[1.0] * 8, bias=[0.0] * 8, mean=[0.0] * 8, var=[1.0] * 8)
         .node("globalavgpool").node("flatten").linear(8, 10).build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW008", "bn")]
    assert "after relu" in r.violations[0].message


def test_placement_final_linear_and_softmax_on_host(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8).node("globalavgpool").node("flatten")
         .linear(8, 16, name="fc1", relu=True).linear(16, 10, name="fc2").node("softmax", "sm").build())
    r = check_graph(g, hw_v1, 2)
    assert r.violations == []
    where = {row.layer: row.placement for row in r.layers}
    assert where["fc1"] == "core" and where["fc2"] == "host" and where["sm"] == "host"
    assert [row.op for row in r.layers if row.layer == "fc1"] == ["linear+relu"]


def test_softmax_in_the_middle_feeds_the_core(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8).node("softmax", "sm", attrs={"axis": 1})
         .node("globalavgpool", "gap").node("flatten").linear(8, 10).build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW007", "gap")]


def test_unsupported_ops_on_the_core(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 8).node("transpose", "t", attrs={"perm": (0, 1, 3, 2)})
         .node("add", "plus", const=[1.0]).node("globalavgpool").node("flatten").linear(8, 10).build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW004", "t"), ("HW004", "plus")]
    assert r.violations[1].actual == "add of a constant"


def test_residual_add_and_concat_are_core_layers(net, hw_v1):
    n = net((None, 8, 8, 8)).conv(8, 8)
    a = n.last
    n.conv(8, 8)
    g = (n.node("add", "res", inputs=[a, n.last]).node("relu").node("concat", "cat", inputs=[a, n.last])
         .node("globalavgpool").node("flatten").linear(16, 10).build())
    assert check_graph(g, hw_v1, 2).violations == []


def test_core_linear_synapse_row_is_a_warning(net, hw_v1):
    g = (net((None, 3, 8, 8)).conv(3, 16).node("flatten").linear(1024, 32, name="fc1", relu=True)
         .linear(32, 10).build())
    r = check_graph(g, hw_v1, 2)
    assert found(r) == [("HW101", "fc1")] and r.exit_code == 0 and r.fits
    assert r.warnings[0].hint == "use --bits-for fc1=1: limit 1024 >= 1024"


def test_check_does_not_depend_on_python_limits(net, tmp_path):
    """A spec where convs need no ReLU and maxpool is a core type: the spec's own rules (HW003,
    HW004) pass. What the artefact cannot express is still found, as compile would find it (this
    used to pass check and then fail compile): a conv without the neuron's ReLU (HW009) and no
    final linear for the host (HW012); max pooling is the spiking max pool there."""
    doc = yaml.safe_load(resolve("hw_v1").read_text())
    doc["parameters"]["conv_requires_relu"]["value"] = False
    doc["parameters"]["core_layer_types"]["value"].append("maxpool")
    doc["parameters"]["host_layers"]["value"] = ["softmax"]
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump(doc))
    g = (net((None, 3, 8, 8)).conv(3, 8, relu=False).node("maxpool", attrs={"kernel": (2, 2), "stride": (2, 2)})
         .node("globalavgpool").node("flatten").linear(8, 10, name="fc").build())
    r = check_graph(g, load_spec(path), 2)
    assert {v.code for v in r.violations} == {"HW009", "HW012"}
    assert {row.layer: row.placement for row in r.layers}["fc"] == "core"
    g = (net((None, 3, 8, 8)).conv(3, 8).node("maxpool", attrs={"kernel": (2, 2), "stride": (2, 2)}, name="mp")
         .node("globalavgpool").node("flatten").linear(8, 10, name="fc").build())
    doc["parameters"]["host_layers"]["value"] = ["final_linear", "softmax"]
    path.write_text(yaml.safe_dump(doc))
    r = check_graph(g, load_spec(path), 2)
    assert found(r) == []  # the artefact has max pooling now: the spiking max pool
