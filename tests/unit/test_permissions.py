"""The rights infra/ grants are exactly the rights watchdog/permissions.py lists.

No Bicep compiler is available here, so these tests read the Bicep text. They rely on the
conventions the files follow (and say so when they are broken):
- infra/app/watchdog-role.bicep declares the custom role's actions as `var <name> = [ '...' ]`
  string arrays and sets `actions:` to an expression of those vars with `reportOnly ? a : b`,
  `concat(...)` or `union(...)`;
- every role definition GUID in infra/ is one of the built-in roles the manifest names.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from watchdog import permissions as perms

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ROLE_FILE = INFRA / "app" / "watchdog-role.bicep"
MAIN = INFRA / "main.bicep"
# main.bicep parameters that are not the user's to set (none today).
DERIVED_PARAMS: set[str] = set()


# --- reading Bicep text -------------------------------------------------------------------

def strip_comments(text: str) -> str:
    """Remove // and /* */ comments outside single-quoted strings."""
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif c == "'":
                in_str = False
        elif c == "'":
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def block_after(text: str, start: int, open_: str = "{", close: str = "}") -> str:
    """The text between the first `open_` at or after `start` and its matching `close`."""
    i = text.index(open_, start)
    depth, in_str = 0, False
    for j in range(i, len(text)):
        c = text[j]
        if c == "'":
            in_str = not in_str
        elif not in_str and c == open_:
            depth += 1
        elif not in_str and c == close:
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    raise AssertionError(f"unbalanced {open_}{close} after offset {start}")


def string_arrays(text: str) -> dict[str, list[str]]:
    """`var name = [ 'a' 'b' ]` -> {name: [a, b]} (string-only arrays)."""
    arrays = {}
    for m in re.finditer(r"^var\s+(\w+)\s*=\s*\[", text, re.M):
        body = block_after(text, m.end() - 1, "[", "]")
        items = re.findall(r"'([^']*)'", body)
        leftover = re.sub(r"'[^']*'", "", body).strip()
        if items and not leftover:
            arrays[m.group(1)] = items
    return arrays


def split_args(args: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for c in args:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    return [p.strip() for p in parts + [cur] if p.strip()]


def evaluate(expr: str, arrays: dict[str, list[str]], report_only: bool) -> list[str]:
    """Evaluate the small expression language the role's `actions:` may use."""
    expr = expr.strip()
    m = re.fullmatch(r"!?\s*reportOnly\s*\?(.+?):(.+)", expr, re.S)
    if m:
        take_first = report_only if not expr.startswith("!") else not report_only
        return evaluate(m.group(1) if take_first else m.group(2), arrays, report_only)
    m = re.fullmatch(r"(concat|union)\((.*)\)", expr, re.S)
    if m:
        result: list[str] = []
        for arg in split_args(m.group(2)):
            for item in evaluate(arg, arrays, report_only):
                if m.group(1) == "concat" or item not in result:
                    result.append(item)
        return result
    if expr.startswith("["):
        return re.findall(r"'([^']*)'", expr)
    if re.fullmatch(r"\w+", expr):
        assert expr in arrays, f"{ROLE_FILE.name}: `{expr}` is not a `var {expr} = [ ... ]` string array"
        return arrays[expr]
    raise AssertionError(f"{ROLE_FILE.name}: cannot read the actions expression {expr!r}; keep it to vars, concat/union and reportOnly ? : ")


def custom_role_permissions(report_only: bool) -> dict[str, list[str]]:
    text = strip_comments(ROLE_FILE.read_text())
    m = re.search(r"resource\s+\w+\s+'Microsoft\.Authorization/roleDefinitions@[\w-]+'\s*=", text)
    assert m, f"{ROLE_FILE} declares no Microsoft.Authorization/roleDefinitions resource"
    body = block_after(text, m.end())
    perms_body = block_after(body, body.index("permissions"), "[", "]")
    arrays = string_arrays(text)
    found = {}
    for key in ("actions", "notActions", "dataActions", "notDataActions"):
        km = re.search(rf"^\s*{key}\s*:\s*(.+)$", perms_body, re.M)
        assert km, f"{ROLE_FILE.name}: the role's permissions have no `{key}:`"
        found[key] = evaluate(km.group(1), arrays, report_only)
    return found


def lower_set(items) -> set[str]:
    return {i.lower() for i in items}


# --- the custom role equals the manifest --------------------------------------------------

@pytest.mark.parametrize("report_only", [False, True], ids=["full", "report-only"])
def test_custom_role_grants_exactly_the_manifest(report_only):
    role = custom_role_permissions(report_only)
    granted, wanted = lower_set(role["actions"]), lower_set(perms.role_actions(report_only))
    missing = sorted(wanted - granted)
    extra = sorted(granted - wanted)
    assert not missing, f"the custom role ({'report-only' if report_only else 'full'}) lacks {missing}: add them to {ROLE_FILE.name}"
    assert not extra, f"the custom role ({'report-only' if report_only else 'full'}) grants {extra} that watchdog/permissions.py does not list"
    assert len(role["actions"]) == len(granted), f"{ROLE_FILE.name}: an action is listed twice"
    assert lower_set(role["dataActions"]) == lower_set(perms.role_data_actions(report_only))
    assert role["notActions"] == [] and role["notDataActions"] == []


def test_custom_role_is_assignable_only_in_this_subscription_and_assigned_to_the_app():
    text = strip_comments(ROLE_FILE.read_text())
    assert re.search(r"^targetScope\s*=\s*'subscription'", text, re.M)
    assert re.search(r"assignableScopes\s*:\s*\[\s*subscription\(\)\.id\s*\]", text)
    assert re.search(r"'Microsoft\.Authorization/roleAssignments@[\w-]+'", text)
    assert re.search(r"roleDefinitionId\s*:\s*role\.id", text)
    assert "principalType: 'ServicePrincipal'" in text
    main = strip_comments(MAIN.read_text())
    module = block_after(main, main.index("'app/watchdog-role.bicep'"))
    assert re.search(r"reportOnly\s*:\s*reportOnly", module), "main.bicep must pass reportOnly to the role module"
    assert re.search(r"principalId\s*:\s*app\.outputs\.principalId", module)


def test_no_wildcards_and_report_only_cannot_write():
    for action in perms.role_actions():
        assert "*" not in action, f"{action}: the custom role lists exact actions, no wildcards"
        assert action.split("/")[0] in ("Microsoft.SignalRService", "Microsoft.Insights", "Microsoft.OperationalInsights",
                                        "Microsoft.Web")
    report = perms.role_actions(report_only=True)
    assert not [a for a in report if a.lower().endswith("/write") or "regeneratekey" in a.lower()]
    # Report-only reads apps' reference status; it never refreshes or restarts an app.
    assert not [a for a in report if a.lower().startswith("microsoft.web/") and not a.lower().endswith("/read")]
    assert not [a for a in perms.vault_data_actions(report_only=True) if "set" in a.lower()]
    assert {f.name for f in perms.FEATURES} - {f.name for f in perms.features(report_only=True)} == set(perms.WRITE_FEATURES)
    assert not [a for a in perms.role_actions() if a.lower().endswith("/delete")]
    # Only the staged rotation regenerates keys, and only with the full role.
    regenerating = {f.name for f in perms.FEATURES if any("regeneratekey" in a.lower() for a in f.actions)}
    assert regenerating == {"rotate"}


def test_manifest_names_every_feature_the_issue_asks_for():
    names = {f.name for f in perms.FEATURES}
    assert {"discovery", "keys", "metrics", "logs", "diagnostics", "autoscale", "secrets-read", "secret-sync", "scaling",
            "consumers", "consumer-refresh", "consumer-restart", "rotate"} <= names
    for f in perms.FEATURES:
        assert f.scope in (perms.SUBSCRIPTION, perms.KEY_VAULT, perms.OWN_STORAGE)
        assert f.why.strip(), f"{f.name}: say why"


# --- Key Vault and storage: built-in roles on their own scopes ----------------------------

@pytest.mark.parametrize("report_only", [False, True], ids=["full", "report-only"])
def test_vault_role_covers_the_manifest_and_report_only_reads_only(report_only):
    role = perms.vault_role(report_only)
    wanted = perms.vault_data_actions(report_only)
    uncovered = [w for w in wanted if not any(perms.grants(g, w) for g in role.data_actions)]
    assert not uncovered, f"{role.name} does not grant {uncovered}"
    if report_only:
        # Secrets User grants exactly what report-only reads: nothing more.
        assert lower_set(role.data_actions) == lower_set(wanted)


def test_main_assigns_the_manifest_vault_roles_per_vault_in_its_resource_group():
    main = strip_comments(MAIN.read_text())
    ids = dict(re.findall(r"^var\s+(\w+)\s*=\s*'([0-9a-f-]{36})'", main, re.M))
    module = block_after(main, main.index("module vaultAccess"))
    m = re.search(r"roleDefinitionId\s*:\s*reportOnly\s*\?\s*(\w+)\s*:\s*(\w+)", module)
    assert m, "vaultAccess must choose the vault role with reportOnly ? <user> : <officer>"
    assert ids[m.group(1)] == perms.VAULT_ROLE_REPORT_ONLY.id
    assert ids[m.group(2)] == perms.VAULT_ROLE_FULL.id
    assert re.search(r"for\s*\(\s*\w+\s*,\s*\w+\s*\)\s*in\s+keyVaultResourceIds", main)
    assert "scope: resourceGroup(split(" in module, "assign on the vault, from a module in the vault's resource group"
    vault_module = strip_comments((INFRA / "app" / "vault-access.bicep").read_text())
    assert re.search(r"scope\s*:\s*vault\b", vault_module), "the vault role is assigned on the vault itself"


def test_storage_roles_only_on_its_own_storage_account():
    rbac = strip_comments((INFRA / "app" / "rbac.bicep").read_text())
    storage_ids = string_arrays(rbac)["storageRoles"]
    assert storage_ids == [r.id for r in perms.STORAGE_ROLES]
    for m in re.finditer(r"'Microsoft\.Authorization/roleAssignments@[\w-]+'", rbac):
        scope = re.search(r"scope\s*:\s*(\w+)", block_after(rbac, m.end()))
        assert scope and scope.group(1) in ("storage", "applicationInsights"), "rbac.bicep assigns on its own resources only"
    storage = strip_comments((INFRA / "core" / "storage" / "storage-account.bicep").read_text())
    assert re.search(r"allowSharedKeyAccess\s*:\s*false", storage)


def test_every_role_guid_in_infra_is_a_manifest_role():
    known = {r.id for r in (*perms.STORAGE_ROLES, perms.MONITORING_METRICS_PUBLISHER, perms.KEY_VAULT_SECRETS_USER, perms.KEY_VAULT_SECRETS_OFFICER,
                                perms.EVENT_DEAD_LETTER_ROLE)}
    for path in INFRA.rglob("*.bicep"):
        for guid in re.findall(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'", path.read_text()):
            assert guid in known, f"{path.relative_to(ROOT)} uses role {guid}, which watchdog/permissions.py does not name"


# --- the azd wiring -----------------------------------------------------------------------

def test_parameters_file_names_only_main_bicep_params():
    raw = (INFRA / "main.parameters.json").read_text()
    # azd substitutes ${NAME} and ${NAME=default} before parsing; do the same with defaults.
    text = re.sub(r"\$\{(\w+)=([^}]*)\}", r"\2", raw)
    text = re.sub(r"\$\{(\w+)\}", r"x", text)
    params = json.loads(text)["parameters"]
    declared = set(re.findall(r"^param\s+(\w+)\s", strip_comments(MAIN.read_text()), re.M))
    assert set(params) <= declared, f"unknown parameters: {sorted(set(params) - declared)}"
    assert set(params) == declared - DERIVED_PARAMS, \
        f"parameters a user cannot set with `azd env set`: {sorted(declared - DERIVED_PARAMS - set(params))}"
    assert params["reportOnly"]["value"] is False and params["keyVaultResourceIds"]["value"] == []
    assert params["extraAppSettings"]["value"] is None and params["notificationSecretUris"]["value"] is None
    # Every value comes from an azd variable (a literal would need an edit of this tracked file).
    for name, entry in json.loads(re.sub(r"\$\{[^}]*\}", "0", raw))["parameters"].items():
        assert re.search(rf'"{name}"\s*:\s*\{{\s*"value"\s*:\s*"?\$\{{', raw), f"{name} is not read from an azd variable"


def test_object_parameters_given_as_null_fall_back_to_empty():
    main = strip_comments(MAIN.read_text())
    for name in ("extraAppSettings", "notificationSecretUris"):
        assert re.search(rf"^param\s+{name}\s+object\?", main, re.M), f"{name} must accept null (unset azd variable)"
        assert f"{name} ?? {{}}" in main


def test_location_offers_only_flex_consumption_regions():
    main = strip_comments(MAIN.read_text())
    decorators = main[: main.index("param location string")].rsplit("param ", 1)[1]
    assert re.search(r"@metadata\(\{\s*azd:\s*\{\s*type:\s*'location'\s*\}\s*\}\)", decorators)
    allowed = re.findall(r"'([a-z0-9]+)'", decorators[decorators.index("@allowed"):])
    assert len(allowed) >= 20 and "eastus" in allowed and "westeurope" in allowed
    assert not [r for r in allowed if r.endswith("euap")], "canary regions are not for users"


def test_settings_are_written_after_every_role_the_app_uses():
    main = strip_comments(MAIN.read_text())
    module = block_after(main, main.index("module appSettings"))
    deps = re.search(r"dependsOn\s*:\s*\[([^\]]*)\]", module)
    assert deps, "the app settings module must wait for the role assignments (dependsOn)"
    assert set(deps.group(1).split()) >= {"appRbac", "watchdogRole", "vaultAccess", "referencedVaultAccess"}
    assert "@Microsoft.KeyVault" not in (INFRA / "app" / "function-app.bicep").read_text()
    assert "Microsoft.Web/sites/config" not in (INFRA / "app" / "function-app.bicep").read_text()


def test_azure_yaml_requires_an_azd_that_reads_funcignore_and_object_parameters():
    text = (ROOT / "azure.yaml").read_text()
    m = re.search(r'^requiredVersions:\s*\n\s+azd:\s*"?>=\s*(\d+)\.(\d+)\.(\d+)"?', text, re.M)
    assert m and tuple(map(int, m.groups())) >= (1, 23, 13)


def test_azure_yaml_deploys_the_root_as_a_python_function():
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^\s+project:\s*\.\s*$", text, re.M)
    assert re.search(r"^\s+language:\s*python\s*$", text, re.M)
    assert re.search(r"^\s+host:\s*function\s*$", text, re.M)
    app = strip_comments((INFRA / "app" / "function-app.bicep").read_text())
    service = re.search(r"^\s+(\w[\w-]*):\s*$", text.split("services:")[1], re.M).group(1)
    assert f"'azd-service-name': '{service}'" in app
    assert "'FC1'" in app and "name: 'python'" in app and "version: '3.11'" in app
    assert "type: 'SystemAssigned'" in app and "type: 'SystemAssignedIdentity'" in app
