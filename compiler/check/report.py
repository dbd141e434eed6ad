"""The result of `snnc check`: a per-layer table and every violation, as text or JSON (the same
content), and the exit code (0 fits, 1 violations)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from snnc.compiler.check.violations import ERROR, WARNING, Violation

SCHEMA = "snnc-check/1"
OK, VIOLATION, WARN = "ok", "VIOLATION", "warning"


@dataclass(frozen=True)
class LayerRow:
    layer: str
    op: str                  # IR op, with a fused activation: "conv+relu"
    kernel: str | None       # "3x3" for convolutions
    in_channels: int | None  # conv: input channels (total); linear: input features
    groups: int | None
    bits: int | None         # weight bits, for layers with weights on the core
    limit: int | None        # max in_channels per synapse row at `bits` (from the spec's table)
    placement: str           # core | host
    status: str              # ok | VIOLATION | warning


@dataclass
class CheckReport:
    model: str
    spec_name: str
    spec_revision: str
    spec_source: str
    bits: int
    layers: list[LayerRow] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)  # errors and warnings, in graph order
    layer_bits: dict[str, int] = field(default_factory=dict)  # --bits-for: layers with their own width

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == WARNING]

    @property
    def fits(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.fits else 1

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "model": self.model,
            "spec": {"name": self.spec_name, "revision": self.spec_revision, "source": self.spec_source},
            "bits": self.bits,
            **({"layer_bits": dict(self.layer_bits)} if self.layer_bits else {}),
            "fits": self.fits,
            "exit_code": self.exit_code,
            "summary": {"layers": len(self.layers), "violations": len(self.errors), "warnings": len(self.warnings)},
            "layers": [asdict(r) for r in self.layers],
            "violations": [v.to_dict() for v in self.violations],
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    # -- text ---------------------------------------------------------------------------------------
    def warning_lines(self) -> list[str]:
        """The check's warnings as one line each: what compile and eval repeat for the same model."""
        return [f"{v.code} {v.name} {v.layer} ({v.op}): {v.message}; fix: {v.hint}" for v in self.warnings]

    def to_text(self) -> str:
        own = "".join(f", {b} bits for {n}" for n, b in self.layer_bits.items())
        lines = [f"snnc check: {self.model} on {self.spec_name} (revision {self.spec_revision}), {self.bits}-bit weights{own}", ""]
        header = ("layer", "op", "kernel", "in_ch", "bits", "limit", "placement", "status")
        rows = [header] + [(
            r.layer, r.op, _s(r.kernel),
            _s(r.in_channels) if not r.groups or r.groups == 1 else f"{r.in_channels}/g{r.groups}",
            _s(r.bits), _s(r.limit), r.placement, r.status) for r in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        for title, group in (("violation", self.errors), ("warning", self.warnings)):
            if not group:
                continue
            lines += ["", f"{len(group)} {title}{'s' if len(group) != 1 else ''}:"]
            for v in group:
                lines.append(f"  {v.code} {v.name}  {v.layer} ({v.op}): {v.message}")
                lines.append(f"      actual: {_s(v.actual)}   limit: {_s(v.limit)}")
                lines.append(f"      rule:   {v.rule}")
                lines.append(f"      fix:    {v.hint}")
        lines.append("")
        n, w = len(self.errors), len(self.warnings)
        tail = f"{w} warning{'s' if w != 1 else ''}"
        if self.fits:
            lines.append(f"result: FITS {self.spec_name} at --bits {self.bits} ({tail})")
        else:
            lines.append(f"result: DOES NOT FIT {self.spec_name} at --bits {self.bits} "
                         f"({n} violation{'s' if n != 1 else ''}, {tail})")
        return "\n".join(lines)


def _s(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, (list, tuple)):
        return ", ".join(map(str, x))
    return str(x)
