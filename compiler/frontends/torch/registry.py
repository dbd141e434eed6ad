"""Registry of torch importers, keyed by the aten op overload name (`aten.conv2d.default`), as
the ONNX registry is keyed by (domain, op, opset): one module per op family registers its ops.

A converter has `convert(node, ctx)`, which emits IR nodes, and an optional `check(node, ctx)`,
which returns the reasons a node cannot be imported (non-constant weights, training mode, ...)
so that the importer can list every problem before importing anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from snnc.compiler.frontends.torch.context import TorchContext, TorchNode

Check = Callable[["TorchNode", "TorchContext"], list]
Convert = Callable[["TorchNode", "TorchContext"], None]


@dataclass(frozen=True)
class Converter:
    key: str
    convert: Convert
    check: Check | None = None
    listed: bool = True  # False: registered only to refuse with a specific reason (training mode)


CONVERTERS: dict[str, Converter] = {}


def converter(*keys: str, check: Check | None = None, listed: bool = True) -> Callable[[Convert], Convert]:
    """Register `fn(node, ctx)` as the importer of each overload in `keys` (`aten.relu.default`).
    `listed=False` registers an op only so that its check can refuse it with a specific reason."""

    def register(fn: Convert) -> Convert:
        for key in keys:
            if key in CONVERTERS:
                raise RuntimeError(f"two torch converters registered for {key}")
            CONVERTERS[key] = Converter(key, fn, check, listed)
        return fn

    return register


def target_key(target: Any) -> str:
    """`aten.conv2d.default` for an aten overload, `operator.getitem` for a Python builtin."""
    name = getattr(target, "_overloadpacket", None)
    if name is not None or type(target).__name__ == "OpOverload":
        return str(target)
    module = getattr(target, "__module__", None) or ""
    module = module.lstrip("_") if module in ("_operator",) else module
    return f"{module}.{getattr(target, '__name__', repr(target))}" if module else str(target)


def lookup(key: str) -> Converter | None:
    return CONVERTERS.get(key)


def supported_ops() -> list[str]:
    """The aten overloads (and Python builtins) the torch front end imports, sorted."""
    return sorted(k for k, c in CONVERTERS.items() if c.listed)
