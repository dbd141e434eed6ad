"""Progress bars for long loops: shown on a terminal, silent when output is piped or with --quiet."""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(enabled: bool):
    """Returns wrap(iterable, desc) that shows a tqdm bar on stderr when enabled and stderr is a tty."""
    show = enabled and sys.stderr.isatty()

    def wrap(it: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        if not show:
            return iter(it)
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return iter(it)
        return iter(tqdm(it, desc=desc, total=total, leave=False, file=sys.stderr))

    return wrap
