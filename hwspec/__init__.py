"""snnc.hwspec: hardware specs as YAML data, loaded into a frozen, validated `HardwareSpec`."""
if __name__ != "snnc.hwspec":  # pragma: no cover - import guard
    raise ImportError(
        "import this package as 'snnc.hwspec' (pip install -e .), not as 'hwspec' from the repository root"
    )

from snnc.hwspec.errors import SpecError
from snnc.hwspec.loader import load_spec, parse_spec, resolve, shipped_specs
from snnc.hwspec.spec import HardwareSpec

__all__ = ["HardwareSpec", "SpecError", "load_spec", "parse_spec", "resolve", "shipped_specs"]
