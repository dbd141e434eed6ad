"""A static look at a `torch.save` file (a .pt2 archive's example inputs) that never unpickles it.

The fast `.pt2` reader does not need the example inputs, but it must refuse what the torch route
refuses: inputs that torch's restricted unpickler (`weights_only=True`) would not load. Rather
than reimplementing that unpickler, `check_plain_tensors` accepts only the pickles `torch.save`
writes for plain tensors in tuples, lists and dicts: opcodes that build containers, numbers and
strings, persistent ids (tensor storages), and `REDUCE` of the few globals below, all of which
`weights_only=True` allows. Anything else raises `NotUnderstood`, and the torch route decides
(with `weights_only=True`, refusing what needs full unpickling).
"""
from __future__ import annotations

import io
import pickletools
import zipfile

from snnc.compiler.frontends.torch.program import NotUnderstood

GLOBALS = frozenset({"torch._utils _rebuild_tensor_v2", "collections OrderedDict"} | {
    f"torch {t}Storage" for t in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte",
                                  "Bool")})
OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "GLOBAL", "REDUCE", "BINPERSID",
    "BINPUT", "LONG_BINPUT", "MEMOIZE", "BINGET", "LONG_BINGET",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_LIST", "APPEND", "APPENDS",
    "EMPTY_DICT", "SETITEM", "SETITEMS", "NONE", "NEWTRUE", "NEWFALSE",
    "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT",
    "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
})
MAX_PICKLE = 1 << 20


def check_plain_tensors(blob: bytes) -> None:
    """Return if `blob` is a torch.save zip whose pickle holds only plain tensors, else raise."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            pkls = [i for i in zf.infolist() if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
            if len(pkls) != 1 or pkls[0].file_size > MAX_PICKLE:
                raise NotUnderstood("example inputs: not one data.pkl")
            pkl = zf.read(pkls[0])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise NotUnderstood("example inputs: not a torch.save zip") from None
    try:
        for op, arg, _ in pickletools.genops(pkl):
            if op.name not in OPCODES:
                raise NotUnderstood(f"example inputs: pickle opcode {op.name}")
            if op.name == "GLOBAL" and arg not in GLOBALS:
                raise NotUnderstood(f"example inputs: global {arg}")
    except NotUnderstood:
        raise
    except Exception as exc:  # a malformed pickle: torch's route gives the error
        raise NotUnderstood(f"example inputs: {type(exc).__name__}") from None
