"""The list of commands the `snnc` group exposes. Each command lives in its own module."""
from snnc.compiler.cli.check_cmd import check
from snnc.compiler.cli.compile_cmd import compile_cmd
from snnc.compiler.cli.diff_cmd import diff_cmd
from snnc.compiler.cli.eval_cmd import eval_cmd
from snnc.compiler.cli.export_cmd import export_cmd
from snnc.compiler.cli.finetune_cmd import finetune_cmd
from snnc.compiler.cli.inspect_cmd import inspect_cmd
from snnc.compiler.cli.run_cmd import run
from snnc.compiler.cli.sensitivity_cmd import sensitivity_cmd
from snnc.compiler.cli.verify_cmd import verify

ALL = [check, compile_cmd, diff_cmd, eval_cmd, export_cmd, finetune_cmd, inspect_cmd, run, sensitivity_cmd, verify]
