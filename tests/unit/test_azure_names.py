"""Names from Microsoft, not memory: every RBAC action infra/ grants or watchdog/permissions.py
lists is in Microsoft's published provider operation lists, and every resource type@apiVersion in
infra/**/*.bicep is in the Bicep type index. ARM refuses a custom role naming an unknown action
(InvalidActionOrNotAction) and Bicep refuses an unknown type or version, so a miss here is a
deployment that fails. The lists are the in-repo copies in tests/data/azure/ (PROVENANCE.md).
"""
from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path

import pytest

from tests.specs import SPECS_DIR
from tests.unit.test_permissions import INFRA, ROOT, custom_role_permissions, strip_comments
from watchdog import permissions as perms

OPERATIONS = SPECS_DIR / "operations"
TYPES = SPECS_DIR / "bicep-types" / "resource-types.txt"


@lru_cache(maxsize=None)
def published(data: bool) -> frozenset[str]:
    """Every action (data=False) or data action (data=True) of the lists we carry, lower-case."""
    wanted = "[dataactions]" if data else "[actions]"
    names: set[str] = set()
    for path in OPERATIONS.glob("*.txt"):
        section = None
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.lower()
            elif section == wanted:
                names.add(line.lower())
    return frozenset(names)


def unpublished(actions, data: bool = False) -> list[str]:
    """The actions that no published operation matches (a `*` in ours may cover several)."""
    known = published(data)
    return [a for a in actions if not (a.lower() in known or ("*" in a and fnmatch.filter(known, a.lower())))]


def provider_has_list(action: str) -> bool:
    return (OPERATIONS / f"{action.split('/')[0]}.txt").exists()


def bicep_types() -> list[tuple[str, str]]:
    """(file, 'Type@apiVersion') for every resource and `existing` declaration in infra/."""
    found = []
    for path in sorted(INFRA.rglob("*.bicep")):
        text = strip_comments(path.read_text())
        for m in re.finditer(r"^\s*resource\s+\w+\s+'([^']+)'", text, re.M):
            found.append((str(path.relative_to(ROOT)), m.group(1)))
    return found


# --- the check itself can fail ------------------------------------------------------------

def test_the_lists_are_the_in_repo_copy_and_not_empty():
    assert SPECS_DIR == ROOT / "tests" / "data" / "azure"
    assert len(published(False)) > 2000 and len(published(True)) > 50
    for provider in ("Microsoft.SignalRService", "Microsoft.Insights", "Microsoft.OperationalInsights",
                     "Microsoft.KeyVault", "Microsoft.Authorization", "Microsoft.Storage", "Microsoft.Web"):
        assert (OPERATIONS / f"{provider}.txt").exists(), provider


def test_a_made_up_action_fails_and_case_does_not_matter():
    made_up = "Microsoft.SignalRService/WebPubSub/madeUpThing/read"
    assert unpublished([made_up]) == [made_up]
    # The five names issue 13 found in the role: none is published, so ARM would refuse the role.
    wrong = ["Microsoft.SignalRService/locations/operationStatuses/read",
             "Microsoft.SignalRService/locations/operationResults/read",
             "Microsoft.Insights/logs/WebPubSubConnectivity/read",
             "Microsoft.Insights/logs/WebPubSubMessaging/read",
             "Microsoft.Insights/logs/WebPubSubHttpRequest/read"]
    assert unpublished(wrong) == wrong
    assert unpublished(["microsoft.signalrservice/webpubsub/READ", "Microsoft.Insights/Metrics/Read"]) == []
    # An action is not a data action and the other way round.
    assert unpublished(["Microsoft.KeyVault/vaults/secrets/getSecret/action"]) != []
    assert unpublished(["Microsoft.KeyVault/vaults/secrets/getSecret/action"], data=True) == []
    assert unpublished(["Microsoft.KeyVault/vaults/secrets/nothing*"], data=True) != []


def test_a_made_up_type_or_version_fails():
    index = {ln.lower() for ln in TYPES.read_text().splitlines() if not ln.startswith("#")}
    assert "microsoft.web/sites@2024-04-01" in index
    assert "microsoft.web/sites@2024-04-02" not in index
    assert "microsoft.web/sitez@2024-04-01" not in index


# --- what infra/ and the manifest name ----------------------------------------------------

@pytest.mark.parametrize("report_only", [False, True], ids=["full", "report-only"])
def test_every_custom_role_action_is_published(report_only):
    role = custom_role_permissions(report_only)
    assert unpublished(role["actions"]) == [], "unknown actions: ARM refuses the role (InvalidActionOrNotAction)"
    assert unpublished(role["dataActions"], data=True) == []


def test_every_manifest_action_and_data_action_is_published():
    for feature in perms.FEATURES:
        for action in (*feature.actions, *feature.data_actions):
            assert provider_has_list(action), f"{action}: add the provider's operation list to tests/data/azure"
        assert unpublished(feature.actions) == [], feature.name
        assert unpublished(feature.data_actions, data=True) == [], feature.name
    for role in (perms.KEY_VAULT_SECRETS_USER, perms.KEY_VAULT_SECRETS_OFFICER, perms.STORAGE_QUEUE_DATA_CONTRIBUTOR):
        assert unpublished(role.data_actions, data=True) == [], role.name
    assert unpublished(perms.role_actions()) == []
    assert unpublished(perms.vault_data_actions(), data=True) == []


def test_every_bicep_resource_type_and_api_version_is_in_the_type_index():
    index = {ln.strip().lower() for ln in TYPES.read_text().splitlines() if ln.strip() and not ln.startswith("#")}
    found = bicep_types()
    assert len(found) >= 10, "the Bicep reader found too few resources"
    missing = [f"{where}: {t}" for where, t in found if t.lower() not in index]
    assert not missing, f"not in {TYPES.relative_to(ROOT)} (Bicep would not compile them): {missing}"


def test_the_collectors_action_constants_are_published():
    """Actions the code names in blind-spot findings (the right that is missing) are real too."""
    names = set()
    for path in (ROOT / "watchdog").rglob("*.py"):
        names.update(re.findall(r"[\"'](Microsoft\.[A-Za-z]+/[A-Za-z/*]+/(?:read|write|action|delete))[\"']",
                                path.read_text()))
    assert names, "no action constants found in watchdog/"
    data = {n for n in names if "/vaults/secrets/" in n or "/queues/messages/" in n}
    assert unpublished(sorted(names - data)) == []
    assert unpublished(sorted(data), data=True) == []


def test_the_arm_api_versions_the_code_calls_are_in_the_type_index():
    """The versions the watchdog's own requests and its pinned SDKs send for the resource types."""
    import inspect

    from azure.mgmt.monitor.operations import _autoscale_settings_operations as autoscale_ops
    from azure.mgmt.webpubsub._configuration import WebPubSubManagementClientConfiguration

    from watchdog.azure import DIAGNOSTIC_SETTINGS_API
    from watchdog.collect import sites

    index = {ln.strip().lower() for ln in TYPES.read_text().splitlines() if ln.strip() and not ln.startswith("#")}
    wps = re.search(r'api_version.*?"(\d{4}-\d\d-\d\d[\w-]*)"', inspect.getsource(WebPubSubManagementClientConfiguration.__init__))
    autoscale = set(re.findall(r'"api-version", "(\d{4}-\d\d-\d\d[\w-]*)"', inspect.getsource(autoscale_ops)))
    assert wps and len(autoscale) == 1
    used = [f"Microsoft.Insights/diagnosticSettings@{DIAGNOSTIC_SETTINGS_API}",
            f"Microsoft.SignalRService/webPubSub@{wps.group(1)}",
            f"Microsoft.Insights/autoscalesettings@{autoscale.pop()}",
            f"Microsoft.Web/sites@{sites.API_VERSION}"]
    assert [u for u in used if u.lower() not in index] == []
