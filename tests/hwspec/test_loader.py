"""The hardware-spec loader: the shipped spec loads; each kind of error names the file, the line
and the field."""
from pathlib import Path

import pytest

from snnc.hwspec import HardwareSpec, SpecError, load_spec, resolve, shipped_specs

HW_V1 = resolve("hw_v1").read_text()


def line_of(text: str, needle: str, nth: int = 0) -> int:
    hits = [i for i, s in enumerate(text.splitlines(), 1) if needle in s]
    return hits[nth]


def load_text(tmp_path: Path, text: str) -> tuple[Path, SpecError]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    return path, exc.value


def test_shipped_name_resolves_and_loads():
    assert "hw_v1" in shipped_specs()
    spec = load_spec("hw_v1")
    assert isinstance(spec, HardwareSpec) and spec.name == "hw_v1"
    assert resolve("hw_v1").name == "hw_v1.yaml" and spec.source.endswith("hw_v1.yaml")
    assert spec.conv_limit(3, 2) == 56 and spec.conv_limit(5, 1) == 40 and spec.conv_limit(7, 1) is None
    assert spec.parameter_status["conv_in_channels_limit"] == "published"
    assert spec.parameter_status["membrane_bits"] == "assumed"


def test_a_path_loads_too(tmp_path):
    p = tmp_path / "copy.yaml"
    p.write_text(HW_V1)
    assert load_spec(str(p)).source == str(p)


def test_unknown_name_or_missing_file():
    with pytest.raises(SpecError, match=r"^hw_v9: no such spec file, and not a shipped spec name \(shipped: hw_v1\)"):
        load_spec("hw_v9")


def test_unknown_key(tmp_path):
    text = HW_V1.replace("  membrane_bits:\n", "  membrane_width: {value: 3, status: assumed}\n  membrane_bits:\n")
    path, err = load_text(tmp_path, text)
    assert err.path == str(path) and err.line == line_of(text, "membrane_width")
    assert err.field == "parameters.membrane_width"
    assert str(err).startswith(f"{path}:{err.line}: field 'parameters.membrane_width': unknown key 'membrane_width'")


def test_wrong_type(tmp_path):
    text = HW_V1.replace("value: 24", "value: twenty-four")
    path, err = load_text(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "twenty-four"), "parameters.membrane_bits.value")
    assert f"{path}:{err.line}: field 'parameters.membrane_bits.value': expected an integer" in str(err)


def test_bool_is_not_an_int(tmp_path):
    text = HW_V1.replace("value: 24", "value: true")
    _, err = load_text(tmp_path, text)
    assert err.field == "parameters.membrane_bits.value" and "got a boolean" in str(err)


def test_missing_field(tmp_path):
    lines = HW_V1.splitlines(keepends=True)
    start = line_of(HW_V1, "  overflow:") - 1
    text = "".join(lines[:start] + lines[start + 4:])  # drop overflow's 4 lines
    assert "overflow" not in text.split("parameters:")[1].split("fire_condition")[0]
    path, err = load_text(tmp_path, text)
    # the line of the `parameters` mapping (PyYAML marks a block mapping at its first key)
    assert err.field == "parameters" and line_of(text, "parameters:") <= err.line <= line_of(text, "parameters:") + 1
    assert str(err) == f"{path}:{err.line}: field 'parameters': missing required field(s): overflow"


def test_missing_status(tmp_path):
    text = HW_V1.replace("    value: saturate\n    status: assumed\n", "    value: saturate\n")
    _, err = load_text(tmp_path, text)
    assert err.field == "parameters.overflow" and "missing required field(s): status" in str(err)
    assert err.line == line_of(text, "value: saturate")


def test_bad_status(tmp_path):
    text = HW_V1.replace("    value: 24\n    status: assumed", "    value: 24\n    status: rumoured")
    path, err = load_text(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "rumoured"), "parameters.membrane_bits.status")
    assert "must be one of published, assumed, got 'rumoured'" in str(err)


def test_value_outside_its_domain(tmp_path):
    text = HW_V1.replace("value: saturate", "value: explode")
    _, err = load_text(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "explode"), "parameters.overflow.value")
    assert "must be one of saturate, wrap" in str(err)


def test_table_contradicting_synapse_row_bits(tmp_path):
    text = HW_V1.replace("3: {1: 113, 2: 56,", "3: {1: 113, 2: 57,")
    path, err = load_text(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "2: 57"), "parameters.conv_in_channels_limit.value.3.2")
    assert "limit 57 contradicts the synapse-row budget: floor(1024 / (3*3*2)) = 56" in str(err)
    assert str(err).startswith(f"{path}:{err.line}: ")


def test_budget_change_without_table_change(tmp_path):
    text = HW_V1.replace("value: 1024", "value: 2048")
    _, err = load_text(tmp_path, text)
    assert err.field == "parameters.conv_in_channels_limit.value.3.1" and "floor(2048 / (3*3*1)) = 227" in str(err)


def test_table_bit_width_not_in_weight_bits(tmp_path):
    text = HW_V1.replace("value: [1, 2, 3, 4]", "value: [1, 2, 3]")
    path, err = load_text(tmp_path, text)
    assert err.field == "parameters.conv_in_channels_limit.value.3.4"
    assert "bit width 4 is not in parameters.weight_bits [1, 2, 3]" in str(err)
    # within the table's entry: from its key line to the row of the offending kernel size
    assert line_of(text, "conv_in_channels_limit:") <= err.line <= line_of(text, "3: {1: 113")


def test_invalid_yaml_syntax(tmp_path):
    text = HW_V1.replace("value: [1, 2, 3, 4]", "value: [1, 2, 3, 4")
    path, err = load_text(tmp_path, text)
    assert err.path == str(path) and err.line is not None and "not valid YAML" in str(err)
    assert str(err).startswith(f"{path}:{err.line}: ")
    assert line_of(text, "[1, 2, 3, 4") <= err.line <= line_of(text, "[1, 2, 3, 4") + 3


def test_not_a_mapping(tmp_path):
    _, err = load_text(tmp_path, "- just\n- a list\n")
    assert err.line == 1 and "must be a YAML mapping" in str(err)


def test_wrong_format_version(tmp_path):
    text = HW_V1.replace("format_version: 1", "format_version: 2")
    _, err = load_text(tmp_path, text)
    assert (err.line, err.field) == (line_of(text, "format_version"), "format_version")
    assert "unsupported version 2" in str(err)


def test_another_revision_is_just_another_file(tmp_path):
    text = HW_V1.replace("value: 1024", "value: 2048").replace(
        "3: {1: 113, 2: 56, 3: 37, 4: 28}", "3: {1: 227, 2: 113, 3: 75, 4: 56}").replace(
        "5: {1: 40, 2: 20, 3: 13, 4: 10}", "5: {1: 81, 2: 40, 3: 27, 4: 20}\n      7: {1: 41, 2: 20, 3: 13, 4: 10}")
    p = tmp_path / "hw_v2.yaml"
    p.write_text(text.replace("name: hw_v1", "name: hw_v2"))
    spec = load_spec(p)
    assert spec.name == "hw_v2" and spec.kernel_sizes == (3, 5, 7) and spec.conv_limit(3, 2) == 113
    assert spec.largest_fitting_bits(7, 15) == 2
