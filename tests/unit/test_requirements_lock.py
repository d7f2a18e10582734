"""requirements.txt, the lock the Functions remote build installs, satisfies requirements.in: every
direct dependency at its pinned version, every dependency of every locked package (markers of
Linux, CPython 3.11, the Functions runtime) pinned in the lock too, each with hashes, and no index
URL. The dev tools do not contradict it. Regenerate with `make lock`."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# What the Flex Consumption Python 3.11 worker runs on.
TARGET = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.9",
          "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def requirement_lines(path: Path) -> list[str]:
    """Logical lines (continuations joined) without comments."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [ln.split(" #")[0].strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def lock() -> dict[str, tuple[Version, list[str]]]:
    out = {}
    for line in requirement_lines(ROOT / "requirements.txt"):
        assert not line.startswith("-"), f"requirements.txt: option line {line!r} (no index URLs, no includes)"
        spec, *hashes = line.split(" --hash=")
        name, _, version = spec.strip().partition("==")
        assert version, f"requirements.txt: {spec} is not pinned with =="
        out[canonicalize_name(name)] = (Version(version), [h.strip() for h in hashes])
    return out


def direct(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines(path)]


def test_every_locked_package_is_pinned_with_hashes():
    locked = lock()
    assert len(locked) > len(direct(ROOT / "requirements.in")), "the lock holds the transitive dependencies too"
    for name, (_, hashes) in locked.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_the_lock_satisfies_requirements_in():
    locked = lock()
    for req in direct(ROOT / "requirements.in"):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in requirements.in but not in the lock: run `make lock`"
        assert req.specifier.contains(locked[name][0], prereleases=True), \
            f"the lock pins {req.name}=={locked[name][0]}, requirements.in asks {req.specifier}: run `make lock`"


def test_the_lock_is_closed_under_dependencies():
    """Each locked package's own requirements (from its installed metadata) are locked, at a version
    they accept: the remote build resolves nothing afresh."""
    locked = lock()
    for name, (version, _) in locked.items():
        dist = metadata.distribution(name)
        assert Version(dist.version) == version, f"{name}: the venv has {dist.version}, the lock {version}: re-run make venv"
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate(TARGET):
                continue
            dep = canonicalize_name(req.name)
            assert dep in locked, f"{name} needs {req}, which the lock does not pin"
            assert req.specifier.contains(locked[dep][0], prereleases=True), f"{name} needs {req}, the lock has {locked[dep][0]}"


def test_dev_requirements_do_not_contradict_the_lock():
    locked = lock()
    for req in direct(ROOT / "requirements-dev.txt"):
        name = canonicalize_name(req.name)
        if name in locked:
            assert req.specifier.contains(locked[name][0]), f"requirements-dev.txt {req} conflicts with the lock"


def test_no_registry_address_is_committed():
    for path in ("requirements.in", "requirements.txt", "requirements-dev.txt", "Makefile"):
        text = (ROOT / path).read_text()
        assert not re.search(r"--(extra-)?index-url|--find-links|--trusted-host|https?://|file:", text), path
