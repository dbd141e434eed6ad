"""Which implementation of the fast path `simulate` uses: "numpy" (always there) or "numba".

"auto" picks numba when it can be imported and numpy otherwise; both give identical results
(tested against the same reference simulator and golden files). numba is an optional
dependency (`pip install snnc[fast]`), never imported by `import snnc.runtime`.
"""
from __future__ import annotations

from functools import lru_cache

from snnc.runtime.errors import InputError

BACKENDS = ("auto", "numpy", "numba")


@lru_cache(maxsize=1)
def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(name: str) -> str:
    """'numpy' or 'numba' for a requested backend name; InputError for an unknown or missing one."""
    if name not in BACKENDS:
        raise InputError(f"backend: {name!r} is not one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "numba" if numba_available() else "numpy"
    if name == "numba" and not numba_available():
        raise InputError("backend: 'numba' needs the numba package (pip install 'snnc[fast]')")
    return name
