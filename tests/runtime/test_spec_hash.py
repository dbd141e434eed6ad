"""Issue 17: the canonical JSON of docs/artefact.md, implemented here independently, step by step,
the way a C or SystemVerilog tool would (no json.dumps, no repr), agrees with the loader's
`spec_sha256` on every spec file in the repository, on the embedded specs of the golden
artefacts, and on the doc's worked example."""
from __future__ import annotations

import hashlib
import json
import random
import re
import struct
from fractions import Fraction
from pathlib import Path

import pytest

from snnc.runtime import ArtefactError
from snnc.runtime.manifest import canonical_json, spec_sha256

from artefact_zip import GOLDEN, read_members

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "artefact.md"
SHORT_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
HEX = "0123456789abcdef"


# ---------------------------------------------------------------- the doc's procedure, by hand

def hex4(n: int) -> str:
    return "\\u" + "".join(HEX[(n >> s) & 15] for s in (12, 8, 4, 0))


def write_string(s: str) -> str:  # rule 3
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if cp in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[cp])
        elif 0x20 <= cp <= 0x7E:
            out.append(ch)
        elif cp > 0xFFFF:
            v = cp - 0x10000
            out.append(hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF)))
        else:
            out.append(hex4(cp))
    out.append('"')
    return "".join(out)


def write_integer(n: int) -> str:  # rule 5
    if n == 0:
        return "0"
    digits, m = [], abs(n)
    while m:
        digits.append(chr(ord("0") + m % 10))
        m //= 10
    return ("-" if n < 0 else "") + "".join(reversed(digits))


def shortest_digits(x: float) -> tuple[str, int]:
    """Rule 6's digits d1..dn and exponent e (x = d1.d2..dn x 10^e), |x| > 0: for n = 1..17, the
    n-digit decimals next to x (printf's correctly rounded one and its two neighbours); the first
    n where one reads back as x; the nearest of those."""
    exact = Fraction(x)
    for n in range(1, 18):
        mantissa, exp = ("%.*e" % (n - 1, abs(x))).split("e")
        m, e = int(mantissa.replace(".", "")), int(exp) - (n - 1)  # |x| ~ m * 10^e, m has n digits
        best = None
        for cand in (m - 1, m, m + 1):
            if cand <= 0:
                continue
            text = f"{cand}e{e}"
            if float(text) == abs(x):
                dist = abs(Fraction(cand) * Fraction(10) ** e - abs(exact))
                if best is None or dist < best[0]:
                    best = (dist, cand)
        if best is not None:
            digits = str(best[1])
            e10 = e + len(digits) - 1
            return digits.rstrip("0") or "0", e10
    raise AssertionError(x)


def write_float(x: float) -> str:  # rule 6
    assert x == x and x not in (float("inf"), float("-inf"))
    sign = "-" if struct.pack(">d", x)[0] & 0x80 else ""
    if x == 0:
        return sign + "0.0"
    d, e = shortest_digits(x)
    if -4 <= e < 16:
        if e < 0:
            body = "0." + "0" * (-e - 1) + d
        elif len(d) <= e + 1:
            body = d + "0" * (e + 1 - len(d)) + ".0"
        else:
            body = d[: e + 1] + "." + d[e + 1:]
    else:
        body = d[0] + ("." + d[1:] if len(d) > 1 else "") + "e" + ("-" if e < 0 else "+") + (f"{abs(e):02d}")
    return sign + body


def utf8_key(k: str) -> bytes:
    return k.encode("utf-8", "surrogatepass")


def write_value(v) -> str:
    if v is True:  # rule 4 (before integers: in Python a bool is an int)
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return write_integer(v)
    if isinstance(v, float):
        return write_float(v)
    if isinstance(v, str):
        return write_string(v)
    if isinstance(v, list):  # rule 2
        return "[" + ",".join(write_value(x) for x in v) + "]"
    if isinstance(v, dict):  # rule 1: keys by code point = by UTF-8 bytes
        keys = sorted(v, key=utf8_key)
        return "{" + ",".join(write_string(k) + ":" + write_value(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def doc_hash(v) -> str:
    text = write_value(v)
    assert all(ord(c) < 128 for c in text)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ---------------------------------------------------------------- the checks

def spec_files():
    files = sorted((ROOT / "hwspec").glob("*.yaml")) + sorted((ROOT / "tests").rglob("*.yaml"))
    assert files, "no spec files found"
    return files


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_every_spec_file_hashes_the_same_by_the_doc_procedure(path):
    from snnc.hwspec import load_spec

    spec = load_spec(str(path))
    doc = spec.to_json_dict()
    assert write_value(doc).encode() == canonical_json(doc)
    assert doc_hash(doc) == spec.sha256 == spec_sha256(doc)


def test_inline_spec_fixtures_of_the_hwspec_tests(tmp_path):
    """The YAML specs the hwspec tests write (their fixture is hw_v1.yaml edited), loaded and hashed."""
    from snnc.hwspec import load_spec

    text = (ROOT / "hwspec" / "hw_v1.yaml").read_text()
    variants = {
        "hw_v2": text.replace("name: hw_v1", "name: hw_v2").replace('revision: "1.0"', "revision: 2.5"),
        "unicode": re.sub(r"(?m)^description: .*$", lambda m: 'description: "caf\\u00e9 \\u4e2d \\U0001F600 \\"q\\" \\t /"', text),
    }
    for name, body in variants.items():
        p = tmp_path / f"{name}.yaml"
        p.write_text(body, encoding="utf-8")
        spec = load_spec(str(p))
        assert doc_hash(spec.to_json_dict()) == spec.sha256, name


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snn")), ids=lambda p: p.stem)
def test_embedded_specs_of_the_golden_artefacts(path):
    manifest = json.loads(read_members(path)["manifest.json"])
    assert doc_hash(manifest["hardware_spec"]) == manifest["hardware_spec_sha256"]


def test_the_worked_example_of_the_doc():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("Worked example."):text.index("## Manifest")]
    source, canonical = re.findall(r"```(?:json|text)\n(.*?)```", section, re.S)
    value = json.loads(source)
    canonical = canonical.strip()
    digest = re.search(r"the hash `([0-9a-f]{64})`", section).group(1)
    assert write_value(value) == canonical
    assert canonical_json(value).decode() == canonical
    assert f"one line, {len(canonical)} bytes" in section
    assert doc_hash(value) == spec_sha256(value) == digest


def test_a_torture_document():
    doc = {
        "é": 1, "e": 2, "Z": 3, "\U0001F600": [True, False, None], "": {}, "a\x00b": "\x01\x1f\x7f\x80\u2028/",
        "ints": [0, -1, 2 ** 62, -(2 ** 63)],
        "floats": [0.0, -0.0, 0.1, -2.5, 1e-05, 0.0001, 1e16, 1e15, 123456789.125, 5e-324, 1.7976931348623157e308,
                   2.0 ** -1022, 1 / 3, 100.0],
        "nested": [[[]], [{"b": 1, "a": [1.5]}]],
    }
    assert write_value(doc).encode() == canonical_json(doc)
    assert doc_hash(doc) == spec_sha256(doc)


@pytest.mark.slow
def test_float_rule_on_edge_cases_and_random_doubles():
    rng = random.Random(17)
    xs = [2.0 ** k for k in range(-1074, 1024)]  # where the shortest digits need the neighbour check
    xs += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(63)))[0] for _ in range(3000)]
    xs += [rng.uniform(-1e3, 1e3) for _ in range(1000)] + [7.120236347223045e-307, 5.641232424577593e-278]
    for x in xs:
        if x == x and abs(x) != float("inf"):
            assert write_float(x) == canonical_json(x).decode(), x


@pytest.mark.parametrize("bad, match", [
    ({3: 1}, r"key 3 is not a string"), ({"x": float("nan")}, r"x: nan is not a finite number"),
    ({"x": b"1"}, r"bytes is not a JSON value"), ({"x": {1.5}}, r"set is not a JSON value"),
])
def test_canonical_json_refuses_what_it_does_not_define(bad, match):
    with pytest.raises(ArtefactError, match=match):
        spec_sha256(bad)


def test_one_implementation():
    import snnc.hwspec.spec as hwspec_spec
    import snnc.runtime.manifest as manifest

    assert hwspec_spec.spec_sha256 is manifest.spec_sha256
