"""The in-repo copy of Microsoft's references (tests/data/azure/) holds facts only, says where every
file came from, and is what the tests read (nothing outside the repository)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tests.specs import SPECS_DIR

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("extract_specs", ROOT / "infra" / "scripts" / "extract_specs.py")
extract_specs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(extract_specs)


def keywords(node, inside_name_map: bool = False):
    """Every schema/operation keyword of a swagger document (not the names in name maps)."""
    if isinstance(node, list):
        for v in node:
            yield from keywords(v)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not inside_name_map:
                yield key
            yield from keywords(value, key in extract_specs.NAME_MAPS and not inside_name_map and isinstance(value, dict))


def test_the_extractor_drops_prose_and_keeps_facts():
    doc = {"info": {"title": "T", "description": "prose", "version": "2024-03-01"},
           "paths": {"/x": {"get": {"summary": "s", "description": "d", "operationId": "X_Get", "tags": ["t"],
                                    "x-ms-examples": {"e": {"$ref": "./examples/e.json"}},
                                    "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/A"}}}}}},
           "definitions": {"A": {"description": "an A", "type": "object", "required": ["description"],
                                 "properties": {"description": {"type": "string", "description": "its text"},
                                                "kind": {"type": "string", "enum": ["a", "b"],
                                                         "x-ms-enum": {"name": "Kind", "modelAsString": True,
                                                                       "values": [{"value": "a", "description": "A"}]}}}}}}
    out = extract_specs.facts(doc)
    assert out["info"] == {"version": "2024-03-01"}
    assert out["paths"]["/x"]["get"] == {"operationId": "X_Get", "responses": {"200": {"schema": {"$ref": "#/definitions/A"}}}}
    a = out["definitions"]["A"]
    assert a["required"] == ["description"] and a["properties"]["description"] == {"type": "string"}
    assert a["properties"]["kind"]["x-ms-enum"] == {"name": "Kind", "modelAsString": True, "values": [{"value": "a"}]}
    assert extract_specs.example_facts({"title": "t", "description": "d", "parameters": {}, "responses": {"200": {}}}) \
        == {"parameters": {}, "responses": {"200": {}}}


def test_the_copy_holds_no_prose():
    files = [p for p in SPECS_DIR.rglob("*.json")]
    assert len(files) > 10
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "/examples/" in path.as_posix():
            assert set(doc) <= set(extract_specs.EXAMPLE_KEEP), path
            continue
        prose = set(keywords(doc)) & extract_specs.PROSE
        assert not prose, f"{path.relative_to(ROOT)} keeps {prose}"


def test_every_file_has_its_provenance():
    text = (SPECS_DIR / "PROVENANCE.md").read_text()
    assert "MIT" in text and "extract_specs.py" in text
    for path in SPECS_DIR.rglob("*"):
        if path.is_file() and path.name != "PROVENANCE.md":
            rel = path.relative_to(SPECS_DIR).as_posix()
            assert f"| `{rel}`" in text, f"{rel} has no row in PROVENANCE.md"


def test_the_specs_are_read_from_the_repository():
    assert SPECS_DIR.resolve().is_relative_to(ROOT)
    outside = ("/" + "shared/", "azure" + "-specs", "AZURE_SPECS" + "_DIR")  # split so this file does not match
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text()
        assert not [o for o in outside if o in text], f"{path.relative_to(ROOT)} reads reference data outside the repository"
