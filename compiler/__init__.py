"""snnc.compiler"""
if __name__ != "snnc.compiler":  # pragma: no cover - import guard
    raise ImportError(
        "import this package as 'snnc.compiler' (pip install -e .), not as 'compiler' from the repository root"
    )

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("snnc")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

_API = ("check_module", "compile_module", "eval_module", "import_module")


def __getattr__(name: str):
    """`snnc.compiler.check_module` etc., imported on first use so that `import snnc.compiler`
    does not import torch."""
    if name in _API:
        from snnc.compiler import api

        return getattr(api, name)
    raise AttributeError(f"module 'snnc.compiler' has no attribute {name!r}")
