"""README "The guide, automated": every check id it names is registered (or comes from a branch
the lead merges), and every check issue 14 adds from configuration is listed."""
from __future__ import annotations

import re
from pathlib import Path

from watchdog.checks import registry as rules
from watchdog.remediate import registry as remediations

README = Path(__file__).resolve().parents[2] / "README.md"
ISSUE_14 = {"network/unreachable", "network/private-endpoint-pending", "network/acl-denies",
            "posture/resource-stopped", "hubs/none", "hubs/no-handler", "hubs/system-events",
            "posture/diagnostic-categories", "posture/no-alerts", "posture/missing-tags",
            "posture/free-in-production", "upstream/cross-region", "replicas/utilisation", "replicas/throttled",
            "replicas/server-load"}


def guide() -> str:
    text = README.read_text()
    return text.split("<!-- section: guide -->", 1)[1].split("<!-- /section -->", 1)[0]


def registered() -> set[str]:
    return {f"{r.name}/{c.id}" for r in rules.rules() for c in r.checks}


def test_every_id_in_the_guide_is_registered():
    named = set(re.findall(r"`([a-z-]+/[a-z*-]+)`", guide()))
    wildcards = {n for n in named if n.endswith("/*")}
    for w in wildcards:
        assert any(r.startswith(w[:-1]) for r in registered()), w
    unknown = named - wildcards - registered()
    assert not unknown, f"the guide names checks nobody registers: {sorted(unknown)}"


def test_every_configuration_check_of_issue_14_is_in_the_guide():
    assert ISSUE_14 <= registered()
    missing = {c for c in ISSUE_14 if f"`{c}`" not in guide() and f"`{c.split('/')[0]}/*`" not in guide()}
    assert not missing, sorted(missing)


def test_remediations_the_guide_names_exist_or_come_from_another_branch():
    named = set(re.findall(r"the `([a-z-]+)` remediation", guide()))
    assert named - set(remediations.kinds()) <= {"rotate"}  # rotate: the rotation work's remediation
