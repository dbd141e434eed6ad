"""report.md from an `snnc eval` result (as printed by --format json), without running a model."""
from __future__ import annotations

import json
import sys

import pytest

from snnc.compiler.errors import SnncError
from snnc.compiler.report import write_report


def layer(name, kind, inp="spikes"):
    return {"name": name, "kind": kind, "neurons": 10, "input": inp, "macs": 40 if kind != "avgpool" else 0,
            "ann_adds": 0, "firing_rate": {4: 0.25, 8: 0.125}, "synops": {4: 0.0 if inp == "current" else 12.5, 8: 20.0},
            "current_macs": 40 if inp == "current" else 0, "current_accs": {}, "weight_error": 0.1, "scale": 2.0,
            "correlation": None}


def config(label, fits=True):
    if not fits:
        return {"label": label, "sweep": {"bits": 2}, "options": {"bits": 2}, "fits": False, "check": "HW001 conv1 ..."}
    energy = {t: {"e_mac_pj": 4.6, "e_ac_pj": 0.9, "synops": 12.5 * t, "snn_accumulates": 12.5 * t + 10, "snn_macs": 40,
                  "ann_macs": 80, "ann_adds": 4, "snn_pj": 200.0, "ann_pj": 371.6, "ratio": 200 / 371.6} for t in (4, 8)}
    return {"label": label, "sweep": {"bits": 1}, "options": {"bits": 1}, "fits": True, "quantized_ann": 0.9,
            "snn": {4: 0.8, 8: 0.875}, "agreement_snn_vs_quantized_ann": {4: 0.85, 8: 0.95},
            "layers": [layer("c1", "conv", "current"), layer("fc", "linear")], "energy": energy}


def result(configs):
    return {"target": "m.onnx", "data": "d.npz", "timesteps": [4, 8], "command": "snnc eval m.onnx --sweep bits=1,2",
            "machine": {"cpu": "TestCPU", "cpus": 2, "platform": "Linux", "python": "3.11", "numpy": "2", "snnc": "0.1"},
            "energy_model": {"e_mac_pj": 4.6, "e_ac_pj": 0.9, "source": "Horowitz 2014", "note": "host excluded"},
            "samples": 8, "float": 0.95, "seconds": 1.0, "configs": configs}


@pytest.mark.slow
def test_sweep_report_from_json_round_trip(tmp_path):
    # T keys become strings in JSON: the report reads both
    r = json.loads(json.dumps(result([config("bits=1"), config("bits=2", fits=False)])))
    path = write_report(tmp_path / "out", r, [None, None])
    md = path.read_text()
    assert path.name == "report.md" and (tmp_path / "out" / "accuracy_vs_T.png").read_bytes()[:4] == b"\x89PNG"
    assert "snnc eval m.onnx --sweep bits=1,2" in md and "TestCPU (2 CPUs)" in md
    assert "| bits=1 | 90.00% | 80.00% | 87.50% | 95.00% | 100 | 0.538 |" in md
    assert "| bits=2 | does not fit |" in md and "HW001 conv1" in md
    assert "| `c1` | conv | 10 | current | 0.2500 | 0.1250 | 40 MACs | 40 | 10.00% | 2 | – |" in md
    assert "![correlation]" not in md  # nothing to draw without the arrays


def test_without_matplotlib_the_error_says_how_to_install(tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SnncError, match=r"snnc\[report\]"):
        write_report(tmp_path, result([config("a")]), [None])
