"""Copy the facts the tests need from Microsoft's published Azure references into tests/data/azure/.

    python infra/scripts/extract_specs.py SOURCE_DIR [--out tests/data/azure]

SOURCE_DIR is a local copy of upstream files laid out as their repository paths without the leading
`specification/` (REST specs from Azure/azure-rest-api-specs), plus `operations/<Provider>.txt`
(provider operation lists from Microsoft's "Azure resource provider operations" pages) and
`bicep-types/resource-types.txt` (the `Type@apiVersion` index of Azure/bicep-types-az), with a
SOURCES.md that names each file's upstream commit.

Only facts are kept: paths, operation ids, parameter and property names, types, formats, enums,
required lists, limits, references; operation and resource type names. Descriptions, summaries,
titles, example prose, tags and security blurbs are dropped. The tests read the output only
(tests/specs.py), never SOURCE_DIR, so a plain clone runs them.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "data" / "azure"

# Keys that hold prose (or nothing a test checks) wherever they appear as a schema/operation keyword.
PROSE = {"description", "summary", "title", "x-ms-examples", "example", "examples", "externalDocs",
         "x-ms-summary", "x-typespec-generated", "tags", "security", "securityDefinitions"}
# Keys whose value maps names to schemas: the names are facts (a property may be called "description").
NAME_MAPS = {"properties", "definitions", "parameters", "responses", "paths", "x-ms-paths", "headers",
             "patternProperties"}
EXAMPLE_KEEP = ("operationId", "parameters", "responses")  # an example's title/description are prose
REPOS = {
    "spec": ("Azure/azure-rest-api-specs", "MIT"),
    "operations": ("MicrosoftDocs/azure-docs", "operation names only (facts); the pages are CC BY 4.0, "
                   "their code MIT"),
    "bicep": ("Azure/bicep-types-az", "MIT"),
}


def facts(node: Any) -> Any:
    """A swagger document or part of it without prose."""
    if isinstance(node, list):
        return [facts(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in PROSE:
            continue
        if key == "info" and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if k == "version"}
        elif key in NAME_MAPS and isinstance(value, dict):
            out[key] = {name: facts(sub) for name, sub in value.items()}
        else:
            out[key] = facts(value)
    return out


def example_facts(doc: dict[str, Any]) -> dict[str, Any]:
    """An x-ms-example: its request parameters and response bodies verbatim, no title or description."""
    return {k: doc[k] for k in EXAMPLE_KEEP if k in doc}


def spec_commits(source: Path) -> dict[str, str]:
    """Repository path (without `specification/`) -> commit, from SOURCES.md's table."""
    text = (source / "SOURCES.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*`specification/([^`]+)`\s*\|\s*`([0-9a-f]{7,40})`", text, re.M)
    return dict(rows)


def header_source(path: Path) -> tuple[str, str, str]:
    """(upstream file, commit, date read) from the comment header of an operation list or the type index."""
    head = " ".join(ln.lstrip("# ") for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#"))
    upstream = re.search(r"(articles/\S+?\.md)|(generated/\S+)", head)
    commit = re.search(r"commit\s+`?([0-9a-f]{7,40})", head)
    read = re.search(r"read\s+(\d{4}-\d\d-\d\d)", head)
    if not (upstream and commit):
        sys.exit(f"{path}: its header names no upstream file and commit")
    where = upstream.group(1) or upstream.group(2)
    return where.rstrip(",."), commit.group(1), read.group(1) if read else "?"


def names_only(path: Path, out: Path, note: str) -> int:
    """Copy a name list (operation names in [actions]/[dataActions] sections, or Type@version lines)."""
    kept = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {note} Provenance: PROVENANCE.md.\n" + "\n".join(kept) + "\n", encoding="utf-8")
    return sum(1 for ln in kept if not ln.startswith("["))


def write_json(doc: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def extract(source: Path, out: Path, today: str) -> list[str]:
    if out.exists():
        shutil.rmtree(out)
    commits = spec_commits(source)
    rows: list[str] = []
    for path in sorted(source.rglob("*.json")):
        rel = path.relative_to(source).as_posix()
        if rel not in commits:
            sys.exit(f"{rel}: not in SOURCES.md, so its upstream commit is unknown")
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        write_json(example_facts(doc) if "/examples/" in rel else facts(doc), out / rel)
        rows.append(f"| `{rel}` | {REPOS['spec'][0]} `specification/{rel}` | `{commits[rel]}` | {REPOS['spec'][1]} |")
    for path in sorted((source / "operations").glob("*.txt")):
        rel = path.relative_to(source).as_posix()
        count = names_only(path, out / rel, f"Every RBAC action and data action of {path.stem}, one a line "
                                            "(case-insensitive in role definitions).")
        where, commit, read = header_source(path)
        rows.append(f"| `{rel}` ({count} names) | {REPOS['operations'][0]} `{where}`, read {read} | `{commit}` | "
                    f"{REPOS['operations'][1]} |")
    types = source / "bicep-types" / "resource-types.txt"
    rel = types.relative_to(source).as_posix()
    count = names_only(types, out / rel, "Type@apiVersion pairs Bicep knows for the providers this project uses.")
    where, commit, read = header_source(types)
    rows.append(f"| `{rel}` ({count} pairs) | {REPOS['bicep'][0]} `{where}`, read {read} | `{commit}` | {REPOS['bicep'][1]} |")
    (out / "PROVENANCE.md").write_text(provenance(rows, today), encoding="utf-8")
    return rows


def provenance(rows: list[str], today: str) -> str:
    return f"""# Provenance of tests/data/azure/

Facts from Microsoft's published Azure references, extracted on {today} by
`python infra/scripts/extract_specs.py SOURCE_DIR` from a local copy of the upstream files.
Do not edit these files by hand: re-run the script on a newer copy instead.

- REST specs: {REPOS['spec'][0]} (licence {REPOS['spec'][1]}), each file at its repository path
  without the leading `specification/`. Kept: paths, operation ids, parameters, responses,
  definitions with property names, types, formats, enums, required lists, limits and `$ref`s.
  Dropped: descriptions, summaries, titles, tags, security blurbs and `x-ms-examples`.
  Example files keep only their request parameters and response bodies (no title or description).
  A `$ref` into a file that is not here is unconstrained in tests/specs.py.
- Provider operation lists (`operations/`): the action and data action names of Microsoft's
  "Azure resource provider operations" pages in {REPOS['operations'][0]}; names only.
- Resource type index (`bicep-types/resource-types.txt`): the `Type@apiVersion` of every
  ResourceType entry in {REPOS['bicep'][0]} `generated/*/types.json` for the providers used here.

| File | Source | Commit | Licence |
| --- | --- | --- | --- |
""" + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="local copy of the upstream files (with SOURCES.md)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--date", default=date.today().isoformat(), help="extraction date for PROVENANCE.md")
    args = parser.parse_args(argv)
    if not (args.source / "SOURCES.md").exists():
        parser.error(f"{args.source}: no SOURCES.md (is it the copy of the upstream files?)")
    rows = extract(args.source, args.out, args.date)
    print(f"wrote {len(rows)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
