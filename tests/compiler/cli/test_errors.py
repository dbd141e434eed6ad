"""The one place exceptions become messages (compiler/cli/common.py): project errors, internal
errors, usage errors and warnings, through the `snnc` group and through the real entry point."""
from __future__ import annotations

import subprocess
import sys
import warnings

import click
import pytest
from click.testing import CliRunner

from snnc.compiler import __version__
from snnc.compiler.cli.common import handle_user_errors
from snnc.compiler.cli.main import SnncGroup
from snnc.compiler.errors import SnncError, SnncWarning


def group_with(fn):
    @click.group(cls=SnncGroup)
    def g():
        pass

    g.add_command(click.command("boom")(handle_user_errors(fn)))
    return g


def run(fn, env=None):
    return CliRunner().invoke(group_with(fn), ["boom"], catch_exceptions=False, env=env)


def test_an_unexpected_exception_is_one_bug_report_line():
    res = run(lambda: 1 // 0)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        f"error: internal error (snnc {__version__}): ZeroDivisionError: integer division or modulo by zero; "
        "please report this line and the command (set SNNC_TRACEBACK=1 for the traceback)"]
    assert "Traceback" in run(lambda: 1 // 0, env={"SNNC_TRACEBACK": "1"}).stderr


def test_eof_error_is_not_click_aborted():  # np.load of an empty file raised EOFError: click printed "Aborted!"
    def f():
        raise EOFError("No data left in file")
    res = run(f)
    assert res.exit_code == 2 and res.stderr.startswith("error: internal error") and "Aborted" not in res.stderr


def test_project_error_is_its_message_and_foreign_warnings_are_dropped_before_it():
    def f():
        warnings.warn("something deprecated inside a library", DeprecationWarning)
        warnings.warn("careless data", SnncWarning)
        raise SnncError("m.onnx: node conv1 is wrong")
    res = run(f)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == ["warning: careless data", "error: m.onnx: node conv1 is wrong"]


def test_foreign_warnings_are_one_line_after_success():
    def f():
        warnings.warn("a library\n  says   this", UserWarning)
        click.echo("done")
    res = run(f)
    assert res.exit_code == 0 and res.stdout == "done\n" and res.stderr == "warning: a library says this\n"


def test_usage_errors_are_one_error_line():
    from snnc.compiler.cli.main import cli

    res = CliRunner().invoke(cli, ["check", "m.onnx"], prog_name="snnc")
    assert res.exit_code == 2 and res.stderr == "error: Missing option '--bits'; see 'snnc check --help'\n"


@pytest.mark.parametrize("argv,expect", [
    (["check", "nope.onnx", "--bits", "2", "--hw", "/dev/zero"], "larger than 1,048,576 bytes"),
    (["check", "nope.onnx"], "Missing option '--bits'"),
])
@pytest.mark.slow
def test_the_installed_entry_point(argv, expect):
    res = subprocess.run([sys.executable, "-c", "from snnc.compiler.cli.main import main; main()", *argv],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and expect in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
