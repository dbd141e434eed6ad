"""`-q`/`--quiet` silences snnc's own warnings (`SnncWarning`) as it silences the other notes;
without it they are `warning:` lines (cli/common.py `guard`)."""
from __future__ import annotations

import warnings

import click
from click.testing import CliRunner

from snnc.compiler.cli.common import handle_user_errors
from snnc.compiler.cli.options import quiet_option
from snnc.compiler.errors import SnncError, SnncWarning


@click.command()
@quiet_option
@click.option("--fail", is_flag=True)
@handle_user_errors
def noisy(quiet: bool, fail: bool) -> None:
    warnings.warn("data.npz: 'x' holds uint8 integers and no x_scale", SnncWarning)
    if fail:
        raise SnncError("data.npz: broken")
    click.echo("done")


def test_snnc_warnings_are_lines_without_quiet():
    res = CliRunner().invoke(noisy, [])
    assert res.exit_code == 0 and "warning: data.npz: 'x' holds uint8" in res.stderr


def test_quiet_silences_them():
    for flag in ("-q", "--quiet"):
        res = CliRunner().invoke(noisy, [flag])
        assert res.exit_code == 0 and res.stdout == "done\n" and "warning" not in res.stderr


def test_quiet_still_shows_the_error():
    res = CliRunner().invoke(noisy, ["-q", "--fail"])
    assert res.exit_code == 2 and res.stderr == "error: data.npz: broken\n"
