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
