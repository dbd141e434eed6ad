"""snnc.runtime"""
if __name__ != "snnc.runtime":  # pragma: no cover - import guard
    raise ImportError(
        "import this package as 'snnc.runtime' (pip install -e .), not as 'runtime' from the repository root"
    )
