"""snnc.hwspec"""
if __name__ != "snnc.hwspec":  # pragma: no cover - import guard
    raise ImportError(
        "import this package as 'snnc.hwspec' (pip install -e .), not as 'hwspec' from the repository root"
    )
