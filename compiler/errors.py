"""Errors of the compiler (front ends, passes, emission). Each names the file, layer or field."""


class SnncError(Exception):
    """Base class of user-facing compiler errors: bad model, unsupported op, bad options."""


class ImportErrorModel(SnncError):
    """The model file cannot be read or imported (malformed ONNX, unsupported ops, bad .pt2)."""


class UnsupportedOpsError(ImportErrorModel):
    """The model uses ops snnc does not support. `ops` maps op type -> list of node names."""

    def __init__(self, source: str, ops: dict[str, list[str]]):
        self.source, self.ops = source, ops
        lines = [f"{source}: {len(ops)} unsupported op type(s):"]
        for op, names in sorted(ops.items()):
            shown = ", ".join(names[:8]) + (f", ... ({len(names)} nodes)" if len(names) > 8 else "")
            lines.append(f"  {op}: {shown}")
        super().__init__("\n".join(lines))


class PassError(SnncError):
    """A pass failed or left the IR invalid. Names the pass and the passes that ran before it."""


class SnncWarning(UserWarning):
    """Careless but usable input (integer data without a scale, inputs outside the calibrated
    range, ...). The CLI prints it as one `warning:` line; from Python it is an ordinary warning."""
