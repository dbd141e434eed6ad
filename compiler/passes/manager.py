"""Pass infrastructure: a `Pass` declares the invariants it requires and ensures; a
`PassManager` runs a declared order of passes, runs the IR verifier and the ensured invariants
after every pass, and on failure raises `PassError` naming the pass and the passes before it.

Like FINN's builder, the manager can dump the IR after each step (`dump_dir`, one text file per
step) or hand each intermediate graph to a callback (`on_step`).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence, runtime_checkable

from snnc.compiler.errors import PassError, SnncError
from snnc.compiler.ir.dump import dump
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.ops import OPS
from snnc.compiler.ir.verify import verify
from snnc.compiler.registry import Registry

# -- invariants ---------------------------------------------------------------------------------
Invariant = Callable[[Graph], list[str]]
INVARIANTS = Registry("invariant")
invariant = INVARIANTS.register  # Register a named invariant: a function graph -> list of problems (empty when it holds).


@invariant("verified")
def _verified(graph: Graph) -> list[str]:
    return verify(graph)


@invariant("canonical")
def _canonical(graph: Graph) -> list[str]:
    return [f"node {n.name} ({n.op}): op is not canonical" for n in graph.nodes if not OPS[n.op].canonical]


@invariant("shapes")
def _shapes(graph: Graph) -> list[str]:
    missing = [v for v in list(graph.inputs) + [o for n in graph.nodes for o in n.outputs]
               if graph.shape(v) is None]
    return [f"value '{v}' has no shape" for v in missing]


def check_invariants(graph: Graph, names: Iterable[str]) -> list[str]:
    problems: list[str] = []
    for name in names:
        fn = INVARIANTS.get(name)
        if fn is None:
            problems.append(f"unknown invariant '{name}'")
            continue
        problems.extend(f"[{name}] {p}" for p in fn(graph))
    return problems


# -- passes ---------------------------------------------------------------------------------------
@runtime_checkable
class PassLike(Protocol):
    name: str
    requires: tuple[str, ...]
    ensures: tuple[str, ...]

    def run(self, graph: Graph) -> Graph: ...


class Pass(abc.ABC):
    """Base class of a graph-to-graph pass. Subclasses set `name`, `requires`, `ensures` and
    implement `run`. A pass may edit the graph it is given in place and return it: the manager
    hands it its own copy."""

    name: str = ""
    requires: tuple[str, ...] = ()
    ensures: tuple[str, ...] = ()

    @abc.abstractmethod
    def run(self, graph: Graph) -> Graph:
        """Transform `graph` (in place or not) and return the result."""

    def __repr__(self) -> str:
        return f"<pass {self.name}>"


StepCallback = Callable[[int, "PassLike", Graph], None]


@dataclass
class PassManager:
    """Runs `passes` in order. After each pass: the IR verifier, then the pass's `ensures`.
    Before each pass: its `requires`. Any failure raises `PassError` naming the pass and the
    passes that ran before it."""

    passes: Sequence[PassLike]
    dump_dir: str | Path | None = None
    on_step: StepCallback | None = None
    history: list[str] = field(default_factory=list)

    def run(self, graph: Graph) -> Graph:
        self.history = []
        g = graph.copy()
        self._dump(0, "input", g)
        for i, p in enumerate(self.passes, start=1):
            problems = check_invariants(g, p.requires)
            if problems:
                raise self._error(p, "its requirements do not hold before it runs", problems)
            try:
                out = p.run(g)
            except SnncError as exc:
                raise self._error(p, "failed", [str(exc)]) from exc
            except Exception as exc:  # a bug in the pass: keep the traceback, name the pass
                exc.add_note(self._where(p))
                raise
            if not isinstance(out, Graph):
                raise self._error(p, f"returned {type(out).__name__}, not a Graph", [])
            g = out
            problems = check_invariants(g, ("verified",) + tuple(x for x in p.ensures if x != "verified"))
            if problems:
                raise self._error(p, "left the IR invalid", problems)
            self.history.append(p.name)
            self._dump(i, p.name, g)
            if self.on_step is not None:
                self.on_step(i, p, g)
        return g

    # -- helpers ----------------------------------------------------------------------------------
    def _where(self, p: PassLike) -> str:
        before = ", ".join(self.history) if self.history else "none"
        return f"in pass '{p.name}' (passes run before it: {before})"

    def _error(self, p: PassLike, what: str, problems: list[str]) -> PassError:
        msg = f"pass '{p.name}' {what}"
        if problems:
            msg += ":\n  " + "\n  ".join(problems)
        msg += f"\npasses run before it: {', '.join(self.history) if self.history else 'none'}"
        err = PassError(msg)
        err.pass_name = p.name  # type: ignore[attr-defined]
        err.before = list(self.history)  # type: ignore[attr-defined]
        return err

    def _dump(self, index: int, name: str, graph: Graph) -> None:
        if self.dump_dir is None:
            return
        d = Path(self.dump_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{index:02d}_{name}.txt").write_text(dump(graph) + "\n", encoding="utf-8")


def run_passes(graph: Graph, passes: Sequence[PassLike], **kwargs) -> Graph:
    return PassManager(passes, **kwargs).run(graph)
