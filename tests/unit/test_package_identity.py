"""`watchdog` is this repository's package, not the PyPI file-events project of the same name."""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import watchdog

ROOT = Path(__file__).resolve().parents[2]


def test_watchdog_is_imported_from_this_repository():
    assert Path(watchdog.__file__).resolve().is_relative_to(ROOT / "watchdog")


def test_the_pypi_watchdog_is_not_installed():
    names = {(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()}
    assert "watchdog" not in names


def test_importing_the_sweep_loads_no_azure_sdk():
    import subprocess

    code = "import sys, watchdog.sweep, watchdog.azure; print(any(m.startswith('azure') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_nothing_in_watchdog_imports_the_emulator():
    """The product must run against Azure unchanged: the emulator is test and demo tooling only."""
    import ast

    offenders = []
    for path in (ROOT / "watchdog").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "emulator"]
    assert offenders == []
