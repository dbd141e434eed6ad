"""One registry helper for every name -> implementation table of the compiler (stage planners,
emitters, normalizers, ...): `@REG.register("name")` adds an entry, `REG.get(name)` finds it,
`REG[name]` finds it or raises a `SnncError` that lists what exists."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from snnc.compiler.errors import SnncError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            for name in names:
                if name in self._items:
                    raise ValueError(f"{self.what} {name!r} registered twice")
                self._items[name] = item
            return item
        return add

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise SnncError(f"unknown {self.what} {name!r}; known: {', '.join(sorted(self._items))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)
