"""The list of commands the `snnc` group exposes. Each command lives in its own module."""
from snnc.compiler.cli.check_cmd import check

ALL = [check]
