"""The program the torch importers read: a torch.fx-free picture of a `torch.export` graph.

Two readers build it, and the converters cannot tell them apart:
- `exported.program_from_exported(ep)`: from an `ExportedProgram` (torch; the reference route,
  and the only one for `import_module`);
- `serialized.program_from_archive(...)`: from a `.pt2` file's JSON graph and raw tensor files,
  without importing torch (the fast route of `snnc check` / `snnc compile`).

`Program.nodes` lists the nodes in graph order as `PNode`s, exactly as `torch.export.load` gives
them (including the `operator.getitem` nodes it creates for multi-output ops). A node's
`meta["val"]` is a `TensorMeta` (shape: ints, and the symbol's name as a string for dynamic
dims), a tuple of them, a number, or `SYM` (a dynamic size); `meta["nn_module_stack"]` and
`meta["stack_trace"]` are torch's. Argument values are `PNode`s, Python literals, lists of them,
or dtype names (`"float32"`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class _Sym:
    """A dynamic size (the batch, or arithmetic on it)."""

    def __repr__(self) -> str:
        return "SYM"


SYM = _Sym()


class NotUnderstood(Exception):
    """The fast `.pt2` reader met something outside what it reads exactly as torch does: the
    file is then read by torch (the reference route), which is just as safe, only slower."""

FLOAT_DTYPES = frozenset({"float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2",
                          "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"})


@dataclass(frozen=True)
class TensorMeta:
    """What torch.export recorded about a tensor value: its shape and dtype name."""

    shape: tuple  # int, or the symbol's expression (str) for a dynamic dim
    dtype: str  # "float32", as torch names it without the "torch." prefix

    @property
    def is_floating_point(self) -> bool:
        return self.dtype in FLOAT_DTYPES


@dataclass(eq=False)
class PNode:
    """One node of the graph. `op` is torch.fx's (placeholder, call_function, output, ...);
    `key` the overload name (`aten.conv2d.default`, `operator.getitem`); `args` and `kwargs`
    as torch.fx holds them; `bound` the arguments by schema name, defaults filled in.
    `source` is the reader's own handle (the torch.fx node on the torch route)."""

    name: str
    op: str
    key: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    bound: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    source: Any = None

    @property
    def all_input_nodes(self) -> list["PNode"]:
        """The nodes among the arguments, in order of first use, each once (as torch.fx)."""
        seen: dict[str, PNode] = {}

        def walk(a: Any) -> None:
            if isinstance(a, PNode):
                seen.setdefault(a.name, a)
            elif isinstance(a, (list, tuple)):
                for x in a:
                    walk(x)
            elif isinstance(a, dict):
                for x in a.values():
                    walk(x)

        walk(self.args)
        walk(self.kwargs)
        return list(seen.values())

    def __repr__(self) -> str:  # as torch.fx.Node's: the name (error messages quote it)
        return self.name


@dataclass(frozen=True)
class InputSpec:
    kind: str  # USER_INPUT, PARAMETER, BUFFER, CONSTANT_TENSOR (torch's InputKind names)
    name: str  # the placeholder
    target: str | None  # the state-dict / constant name


@dataclass
class Program:
    """A `torch.export` program: nodes, signature, and the values of parameters and constants
    (torch tensors on the torch route, numpy arrays on the fast route)."""

    nodes: list[PNode]
    input_specs: list[InputSpec]
    output_kinds: list[str]  # per graph output: torch's OutputKind names (USER_OUTPUT, BUFFER_MUTATION, ...)
    outputs: list[Any]  # the graph outputs: PNodes or literals
    state: dict[str, Any]  # state-dict and constant name -> tensor


def bind_schema(schema: tuple, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Arguments by schema name, defaults filled in (None for a missing argument without one).
    `schema` is a tuple of (name,) or (name, default) per argument, as in `schemas.SCHEMAS`."""
    out = {}
    for i, a in enumerate(schema):
        name = a[0]
        if i < len(args):
            out[name] = args[i]
        elif name in kwargs:
            out[name] = kwargs[name]
        elif len(a) > 1:
            out[name] = list(a[1]) if isinstance(a[1], list) else a[1]
        else:
            out[name] = None
    return out
