"""A small JSON Schema checker (the subset `artefact_schema.json` uses), so the runtime needs numpy only.

Supported keywords: $ref (local "#/$defs/..."), type, const, enum, required, properties,
additionalProperties, items, minItems, maxItems, minimum, maximum, exclusiveMinimum, pattern,
allOf, if/then, $comment, and the boolean schemas true/false. Errors name the JSON path of the
offending value.

One rule is stricter than draft 2020-12 (stated in the schema's $comment and docs/artefact.md):
"integer" means a JSON integer token. The loader's parser turns 2485.0 or 2.485e3 into a float,
which is not an integer here, where a 2020-12 validator would accept it.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from snnc.runtime.errors import ArtefactError

SCHEMA_PATH = Path(__file__).with_name("artefact_schema.json")
SUPPORTED = {
    "$schema", "$id", "$defs", "$comment", "title", "description", "$ref", "type", "const", "enum", "required",
    "properties", "additionalProperties", "items", "minItems", "maxItems", "minimum", "maximum",
    "exclusiveMinimum", "pattern", "allOf", "if", "then",
}

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@lru_cache(maxsize=1)
def manifest_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _same(value: Any, expected: Any) -> bool:
    """JSON equality without Python's 1 == 1.0 == True."""
    return type(value) is type(expected) and value == expected


class _Invalid(Exception):
    pass


def _resolve(root: dict, ref: str) -> dict:
    if not ref.startswith("#/"):
        raise ValueError(f"unsupported $ref {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _check(value: Any, schema: "dict | bool", root: dict, path: str) -> None:
    def fail(msg: str) -> None:
        raise _Invalid(f"{path or '(manifest)'}: {msg}")

    if schema is True:
        return
    if schema is False:
        fail("no value is allowed here")

    if "$ref" in schema:
        _check(value, _resolve(root, schema["$ref"]), root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            fail(f"expected {' or '.join(types)}, got {type(value).__name__} {json.dumps(value)[:60]}")
    if "const" in schema and not _same(value, schema["const"]):
        fail(f"must be {json.dumps(schema['const'])}, got {json.dumps(value)[:60]}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        fail(f"{json.dumps(value)[:60]} is not one of {', '.join(map(json.dumps, schema['enum']))}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            fail(f"{value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            fail(f"{value} is above the maximum {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            fail(f"{value} must be > {schema['exclusiveMinimum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        fail(f"{value!r} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            fail(f"needs at least {schema['minItems']} items, has {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            fail(f"allows at most {schema['maxItems']} items, has {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], root, f"{path}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                fail(f"missing required field {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                _check(item, props[key], root, f"{path}.{key}" if path else key)
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    fail(f"unknown field {key!r}")
                elif isinstance(extra, dict):
                    _check(item, extra, root, f"{path}.{key}" if path else key)
    for sub in schema.get("allOf", []):
        _check(value, sub, root, path)
    if "if" in schema:
        try:
            _check(value, schema["if"], root, path)
            matched = True
        except _Invalid:
            matched = False
        if matched and "then" in schema:
            _check(value, schema["then"], root, path)


def check_manifest(manifest: Any, where: str = "manifest.json") -> None:
    """Raise ArtefactError('<where>: <json path>: <problem>') if the manifest violates the schema."""
    schema = manifest_schema()
    try:
        _check(manifest, schema, schema, "")
    except _Invalid as exc:
        raise ArtefactError(f"{where}: {exc}") from None
