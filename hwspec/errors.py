"""Errors of the hardware-spec loader."""


class SpecError(Exception):
    """An invalid hardware spec. The message names the file, the line (when known) and the field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = path, line, field
        where = ""
        if path:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        if field:
            where += f"field '{field}': "
        super().__init__(where + message)
