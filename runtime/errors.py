"""Errors the runtime raises for bad artefacts or bad inputs (the CLI reports them as one line, exit 2)."""


class ArtefactError(Exception):
    """An artefact or an input to it is invalid: the message names the file, layer or field."""


class InputError(ArtefactError):
    """An input array does not match what the artefact expects (shape, dtype, range, NaN)."""
