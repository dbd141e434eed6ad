"""What torch importers see: `TorchNode` (one call of an aten op in a `torch.export` graph, its
arguments bound to the op schema's names) and `TorchContext` (the constants known so far, the
shapes torch.export recorded, the IR being built). Nodes are `program.PNode`s, whichever reader
made them (torch's `ExportedProgram` or the fast `.pt2` reader); this module does not import torch.

Every fx value is one of:
- a **tensor** computed from the model input: it has an IR value (the fx node's name);
- a **constant**: a parameter, buffer or lifted constant, or the result of an op whose inputs
  are all constants (`permute(fc.weight)` in a decomposed graph), kept as a tensor (torch's on
  the torch route, a numpy array on the fast route) or a Python number;
- a **size**: `x.size(0)` and arithmetic on it. A static size is a constant int; a dynamic one
  (the batch) is `SYM`. Reshapes read their target from the output shape torch.export
  recorded, so sizes never need to be evaluated.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.compiler.errors import ImportErrorModel
from snnc.compiler.frontends.torch.program import SYM, PNode
from snnc.compiler.ir.graph import Graph, Node
from snnc.compiler.ir.ops import OPS

_CONTAINERS = ("torch.nn.modules.container.",)
__all__ = ["SYM", "PNode", "TorchNode", "TorchContext", "dims", "pair"]


@dataclass
class TorchNode:
    """One `call_function` node. `name` is the IR layer name (the user's module path, or a
    readable name such as `add_1` for a functional call in `forward`); `key` the overload name."""

    pnode: PNode
    key: str
    name: str
    args: dict[str, Any]  # bound to the schema's argument names (defaults filled in)

    @property
    def output(self) -> str:
        return self.pnode.name

    @property
    def val(self) -> Any:
        """What torch.export recorded for the node's output (a `TensorMeta`, a tuple of them...)."""
        return self.pnode.meta.get("val")

    def a(self, name: str, default: Any = None) -> Any:
        v = self.args.get(name, default)
        return default if v is None else v


def module_stack(fx: PNode) -> list[tuple[str, str]]:
    """[(module path, module type)] from the root to the innermost module that made this node."""
    stack = fx.meta.get("nn_module_stack") or {}
    return [v for v in stack.values() if isinstance(v, tuple) and len(v) == 2 and not str(v[0]).startswith("_empty")]


def is_torch_leaf(type_name: str) -> bool:
    """A torch.nn layer (Conv2d, ReLU, LSTM...), not a container and not the user's own class."""
    return type_name.startswith("torch.nn.modules.") and not type_name.startswith(_CONTAINERS)


def layer_base_name(fx: PNode) -> str:
    """The user's module path (`features.3`) for a node made by a torch.nn layer; for a
    functional call, the function's name (`add`; the IR makes names unique: `add_1`), prefixed
    by the path of the module whose forward made it (`layer1.0.add`)."""
    stack = module_stack(fx)
    path, type_name = stack[-1] if stack else ("", "")
    if path and is_torch_leaf(type_name):
        return path
    return f"{path}.{op_name(fx)}" if path else op_name(fx)


def op_name(fx: PNode) -> str:
    """`add` for aten.add_.Tensor, `flatten` for aten.flatten.using_ints: the function the user called."""
    if fx.key.startswith("aten."):
        return fx.key.split(".")[1].rstrip("_") or fx.name
    return fx.key.rsplit(".", 1)[-1] if "." in fx.key else fx.name


@functools.lru_cache(maxsize=1)
def _torch_dir() -> str:
    """The installed torch package's folder, found without importing torch."""
    spec = importlib.util.find_spec("torch")
    return os.path.dirname(spec.origin) if spec is not None and spec.origin else "\0"


def user_frame(fx: PNode) -> str | None:
    """`file.py:LINE` of the innermost frame of the user's code that made this node, if known."""
    trace = fx.meta.get("stack_trace") or ""
    torch_dir = _torch_dir()
    found = None
    for line in trace.splitlines():
        line = line.strip()
        if not line.startswith('File "'):
            continue
        path = line[6:line.index('"', 6)]
        if path.startswith(torch_dir):
            continue
        try:
            lineno = line.split(", line ")[1].split(",")[0]
        except IndexError:
            continue
        found = f"{os.path.basename(path)}:{lineno}"
    return found


def dims(val: Any) -> tuple | None:
    """The shape recorded for an fx value: ints, None for dynamic dims; None if not a tensor."""
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    return tuple(int(d) if isinstance(d, int) else None for d in shape)


class TorchContext:
    def __init__(self, source: str, graph: Graph):
        self.source = source
        self.graph = graph
        self.consts: dict[str, Any] = {}  # fx name -> torch.Tensor | number | SYM | tuple
        self.tensors: dict[str, str] = {}  # fx name -> IR value name
        self.tuples: dict[str, list[str | None]] = {}  # multi-output fx node -> IR value per index
        self.keys: dict[str, str] = {}  # fx name -> overload name, for call_function nodes
        self.static_batch: int | None = None  # the example's batch size when it was not exported dynamic
        self.torch_values = False  # constants are torch tensors (the torch route), else numpy arrays
        self.used: set[str] = set()  # names of the nodes some node (or the output) reads
        self._names: set[str] = set()

    # -- what an argument is --------------------------------------------------------------------
    def is_tensor(self, a: Any) -> bool:
        return isinstance(a, PNode) and a.name in self.tensors

    def is_const(self, a: Any) -> bool:
        """A constant (not a dynamic size): fx nodes folded to constants and Python literals."""
        if isinstance(a, PNode):
            return a.name in self.consts and self.consts[a.name] is not SYM
        return not isinstance(a, (list, tuple)) or all(self.is_const(x) for x in a)

    def value(self, a: Any) -> Any:
        """A constant argument as a Python value or tensor (lists resolved element-wise)."""
        if isinstance(a, PNode):
            if a.name not in self.consts:
                raise ImportErrorModel(f"{self.source}: value '{a.name}' must be a constant")
            return self.consts[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(x) for x in a)
        return a

    def array(self, a: Any) -> np.ndarray:
        """A constant tensor argument as a float IR parameter (float32; float64 kept)."""
        v = self.value(a)
        if self.torch_values:  # the torch route: tensors are torch's
            import torch

            t = v.detach() if isinstance(v, torch.Tensor) else torch.as_tensor(v)
            t = t.to(torch.float64) if t.dtype == torch.float64 else t.to(torch.float32)
            return t.cpu().numpy().copy()
        if isinstance(v, np.ndarray):  # the fast route: the same conversions as torch's
            return np.array(v, dtype=np.float64 if v.dtype == np.float64 else np.float32, order="C")
        if not isinstance(v, (bool, int, float)):
            raise ImportErrorModel(f"{self.source}: value {a!r} is not a tensor or a number")
        # as torch.as_tensor: a Python float is float32, an int int64, a bool bool; then float32
        return np.array(v).astype(np.float32)

    def ndim(self, a: Any) -> int:
        """The rank of a constant tensor argument."""
        return int(np.ndim(self.value(a)))

    def ir(self, a: PNode) -> str:
        return self.tensors[a.name]

    def shape(self, a: Any) -> tuple | None:
        if isinstance(a, PNode):
            return dims(a.meta.get("val"))
        return None

    def rank(self, a: Any) -> int | None:
        s = self.shape(a)
        return None if s is None else len(s)

    # -- building the IR ----------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def emit(self, op: str, inputs: list[str], output: str, *, name: str, attrs: dict | None = None,
             params: dict | None = None, shape: tuple | None = None) -> Node:
        """Append one IR node named (uniquely) `name`; `shape` is the output's recorded shape."""
        assert op in OPS, op  # programming error in an importer, not user input
        node = Node(self.unique_name(name), op, list(inputs), [output], dict(attrs or {}), dict(params or {}))
        self.graph.nodes.append(node)
        for i in inputs:
            self.graph.add_value(i)
        self.graph.add_value(output, shape)
        return node

    def emit_for(self, node: TorchNode, op: str, inputs: list[str], *, attrs: dict | None = None,
                 params: dict | None = None, output: str | None = None) -> Node:
        """Emit the IR node computing `node`'s (first) output; records the fx -> IR mapping."""
        out = output or node.output
        shape = dims(_first(node.val))
        ir = self.emit(op, inputs, out, name=node.name, attrs=attrs, params=params, shape=shape)
        if output is None:
            self.tensors[node.output] = out
        return ir

    def fresh_value(self, base: str) -> str:
        name = self.graph.fresh_value_name(base)
        self.graph.add_value(name)
        return name


def _first(val: Any) -> Any:
    return val[0] if isinstance(val, (list, tuple)) and val else val


def pair(v: Any, default: int) -> tuple[int, int]:
    """An int or a 1- or 2-element list as (h, w)."""
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return (default, default)
    if isinstance(v, int):
        return (v, v)
    v = [int(x) for x in v]
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])
