"""Validate emulated response bodies against Microsoft's REST specs in tests/data/azure/.

Swagger 2.0 schemas are turned into JSON Schema: `$ref`s are inlined (across files), `allOf` is
flattened so that properties a spec does not declare are refused (strict: an emulator typo fails),
`x-nullable` admits null, a bare `{"type": "object"}` is any value (as AutoRest reads it), and `x-ms-enum` with `modelAsString: true` is an open enum, as Azure's
SDKs treat it. A `$ref` into a file that was not copied here is unconstrained (any value).
The files are the facts-only copy made by infra/scripts/extract_specs.py (tests/data/azure/PROVENANCE.md);
the tests read nothing outside the repository.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SPECS_DIR = Path(__file__).resolve().parent / "data" / "azure"
_MAX_DEPTH = 12  # recursive definitions (e.g. error details) are cut off below this depth


class SpecMismatch(AssertionError):
    pass


@lru_cache(maxsize=None)
def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _spec_file(spec_path: str) -> Path:
    path = SPECS_DIR / spec_path
    if not path.exists():
        raise FileNotFoundError(f"spec {spec_path} not found under {SPECS_DIR} (add it with infra/scripts/extract_specs.py)")
    return path


def _pointer(doc: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = doc
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _convert(schema: dict[str, Any], base: Path, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {}
    if "$ref" in schema:
        file_part, _, pointer = schema["$ref"].partition("#")
        target = (base.parent / file_part).resolve() if file_part else base
        doc = _load(target)
        if doc is None:
            return {}  # the referenced file was not copied: unconstrained
        return _convert(_pointer(doc, pointer), target, depth + 1)
    if schema.get("type") == "object" and not ({"properties", "additionalProperties", "allOf"} & schema.keys()):
        return {}  # a bare object is AutoRest's "any value" (e.g. Log Analytics row cells)
    out: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_object = False
    for part in schema.get("allOf", []):
        merged = _convert(part, base, depth + 1)
        properties.update(merged.get("properties", {}))
        required.extend(merged.get("required", []))
        open_object |= not merged.get("properties") or merged.get("additionalProperties") is not False
    for name, sub in schema.get("properties", {}).items():
        properties[name] = _convert(sub, base, depth + 1)
    required.extend(schema.get("required", []))
    if "type" in schema:
        out["type"] = [schema["type"], "null"] if schema.get("x-nullable") else schema["type"]
    if "enum" in schema and not schema.get("x-ms-enum", {}).get("modelAsString", False):
        out["enum"] = list(schema["enum"]) + ([None] if schema.get("x-nullable") else [])
    for key in ("minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength"):
        if key in schema:
            out[key] = schema[key]
    if "items" in schema:
        out["items"] = _convert(schema["items"], base, depth + 1)
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = sorted(set(required))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, base, depth + 1)
    elif extra is not None:
        out["additionalProperties"] = extra
    elif properties and not open_object and "discriminator" not in schema:
        out["additionalProperties"] = False
    return out


def _check(schema: dict[str, Any], body: Any, what: str) -> None:
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]]
        raise SpecMismatch(f"{what} does not match the spec:\n" + "\n".join(lines))


def response_schema(spec_path: str, path_template: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON Schema of a response; None when the spec says the response has no body."""
    path = _spec_file(spec_path)
    doc = _load(path)
    assert doc is not None
    try:
        operation = doc["paths"][path_template][method.lower()]
    except KeyError:
        raise KeyError(f"{spec_path} has no operation {method.upper()} {path_template}") from None
    responses = operation["responses"]
    response = responses[str(status)] if str(status) in responses else responses.get("default")
    if response is None:
        raise SpecMismatch(f"{method.upper()} {path_template}: status {status} is not a response the spec allows "
                           f"({', '.join(responses)})")
    if "schema" not in response:
        return None
    return _convert(response["schema"], path)


def validate_response(spec_path: str, path_template: str, method: str, status: int, body: Any) -> None:
    """Raise SpecMismatch when `body` (parsed JSON, or None/b"" for no body) breaks the spec."""
    schema = response_schema(spec_path, path_template, method, status)
    what = f"{method.upper()} {path_template} -> {status}"
    if schema is None:
        if body not in (None, b"", ""):
            raise SpecMismatch(f"{what}: the spec defines no body, the emulator sent one")
        return
    _check(schema, body, what)


def validate_definition(spec_path: str, definition: str, body: Any) -> None:
    path = _spec_file(spec_path)
    _check(_convert({"$ref": f"#/definitions/{definition}"}, path), body, f"{spec_path}#{definition}")
