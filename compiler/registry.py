"""One registry helper for every name -> implementation table of the compiler (interpreter
kernels, shape functions, canonicalization and check rules, invariants, stage planners,
emitters, normalizers, ONNX writers, file loaders).

A `Registry` is a dict with a decorator: `@REG.register("a", "b")` adds the function under each
name (twice is an error); with `multi=True` every name holds a list and `register` appends.
`REG.lookup(name)` finds an entry or raises a `SnncError` that lists what exists."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from snnc.compiler.errors import SnncError

T = TypeVar("T")


class Registry(dict):
    def __init__(self, what: str, *, multi: bool = False):
        super().__init__()
        self.what = what
        self.multi = multi

    def register(self, *names: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            for name in names:
                if self.multi:
                    self.setdefault(name, []).append(item)
                elif name in self:
                    raise ValueError(f"{self.what} {name!r} registered twice")
                else:
                    self[name] = item
            return item
        return add

    def lookup(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise SnncError(f"unknown {self.what} {name!r}; known: {', '.join(sorted(map(str, self)))}") from None

    def names(self) -> list[str]:
        return sorted(map(str, self))
