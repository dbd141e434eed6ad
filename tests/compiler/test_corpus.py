"""Every malformed input of the committed corpus (tests/corpus/malformed.py) gives exactly one
`error:` line with the expected text and exit 2: no traceback, no Python warning before it, no
internal error."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.compiler.cli.main import cli

_spec = importlib.util.spec_from_file_location("malformed", Path(__file__).resolve().parents[1] / "corpus" / "malformed.py")
corpus = importlib.util.module_from_spec(_spec)
sys.modules["malformed"] = corpus  # dataclasses look their module up
_spec.loader.exec_module(corpus)


@pytest.mark.slow
@pytest.mark.parametrize("case", corpus.CASES, ids=[c.id for c in corpus.CASES])
def test_malformed_input_gives_one_error_line(case, tmp_path, monkeypatch):
    argv = corpus.write(case, tmp_path)
    monkeypatch.chdir(tmp_path)  # where a payload's `touch pwned` would land
    res = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert not (tmp_path / "pwned").exists()
    err = res.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert res.exit_code == case.code, (res.exit_code, err, res.stdout)
    assert lines and lines[0].startswith("error: "), err
    assert sum(ln.startswith("error: ") for ln in lines) == 1, err
    assert case.expect in err, err
    assert "Traceback" not in err + res.stdout and "internal error" not in err, err
    assert not any("Warning" in ln for ln in lines), err
    for ln in lines[1:]:  # continuation lines only (a list of unsupported ops)
        assert ln.startswith("  "), err
