"""Every setting the code reads is documented, in the local sample, and deployed.

"Read by the code" = every Setting in watchdog.settings.SETTINGS, plus every string literal in
watchdog/ and function_app.py that names a WATCHDOG_* setting. A literal ending in `_` (such
as the `WATCHDOG_NOTIFY_` of an f-string or a regex) is a prefix of per-target settings.

Each must be:
- in the README's configuration reference (generated from SETTINGS by
  `python infra/scripts/render_readme.py`; the test also fails when that table is stale);
- in local.settings.sample.json with its default (per-target settings: one example target);
- in the Function App's app settings in infra/, unless the README documents it as optional with
  a default. Per-target notification settings are wired through the `notificationSecretUris`
  (Key Vault references) and `extraAppSettings` parameters.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.factories import SUB
from watchdog import settings as settings_module
from watchdog.settings import PLACEHOLDER, SETTINGS, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"WATCHDOG_[A-Z0-9_]+")


# --- what the code reads ------------------------------------------------------------------

def code_files() -> list[Path]:
    files = sorted((ROOT / "watchdog").rglob("*.py"))
    if (ROOT / "function_app.py").exists():
        files.append(ROOT / "function_app.py")
    return files


def literal_names() -> dict[str, set[str]]:
    """WATCHDOG_* names in string literals (f-string parts included) -> files naming them."""
    found: dict[str, set[str]] = {}
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for name in NAME.findall(node.value):
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def declared(name: str) -> bool:
    if name.endswith("_"):  # a prefix: some setting must start with it
        return any(s.name.startswith(name) for s in SETTINGS)
    return any(s.matches(name) for s in SETTINGS)


def test_every_setting_named_in_the_code_is_declared_in_settings():
    undeclared = {n: sorted(f) for n, f in literal_names().items() if not declared(n)}
    assert not undeclared, (
        f"settings read by the code but not declared in watchdog/settings.py SETTINGS (so not in the README): "
        f"{undeclared}; add a Setting with its default and description, then run python infra/scripts/render_readme.py"
    )


# --- README -------------------------------------------------------------------------------

def readme_section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = f"<!-- section: {name} -->"
    assert start in text, f"README.md has no {start}"
    i = text.index(start) + len(start)
    return text[i : text.index("<!-- /section -->", i)]


def readme_rows() -> dict[str, str]:
    """Setting name -> its Default cell, from the configuration section's table."""
    rows = {}
    for line in readme_section("configuration").splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*([^|]*?)\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def documented_in_readme(name: str, rows: dict[str, str]) -> bool:
    if name.endswith("_"):
        return any(r.startswith(name) for r in rows)
    specs = {s.name: s for s in SETTINGS}
    return name in rows or any(r in specs and specs[r].matches(name) for r in rows)


def test_readme_documents_every_setting():
    rows = readme_rows()
    missing = [s.name for s in SETTINGS if s.name not in rows]
    missing += [n for n in literal_names() if not documented_in_readme(n, rows)]
    assert not missing, f"missing from README.md's configuration section: {sorted(set(missing))}; run python infra/scripts/render_readme.py"


def test_readme_configuration_table_is_current():
    table = settings_module.markdown_table()
    assert table in readme_section("configuration"), (
        "README.md's configuration table differs from watchdog/settings.py; run python infra/scripts/render_readme.py"
    )


def test_readme_rights_table_is_current():
    from watchdog import permissions

    assert permissions.markdown_table() in readme_section("deployment"), (
        "README.md's table of rights differs from watchdog/permissions.py; run python infra/scripts/render_readme.py"
    )


def optional_with_default(name: str, rows: dict[str, str]) -> bool:
    """Documented as optional: its README row gives a default rather than (required)."""
    return not rows.get(name, "(required)").startswith("(required")


# --- local.settings.sample.json -----------------------------------------------------------

def sample_values() -> dict[str, str]:
    data = json.loads((ROOT / "local.settings.sample.json").read_text())
    assert data.get("IsEncrypted") is False
    return data["Values"]


def test_sample_has_every_setting_with_its_default():
    values = sample_values()
    assert values.get("FUNCTIONS_WORKER_RUNTIME") == "python"
    assert values.get("AzureWebJobsStorage") == "UseDevelopmentStorage=true", "locally the host and ledger use Azurite"
    problems = []
    for s in SETTINGS:
        keys = [k for k in values if s.matches(k)]
        if not keys:
            problems.append(f"{s.name} is missing")
        for key in keys:
            if key == "AzureWebJobsStorage":
                continue
            if values[key] != (s.default or ""):
                problems.append(f"{key}={values[key]!r}, but its default is {s.default or ''!r}")
    for name in literal_names():
        if not name.endswith("_") and name not in values and not any(
            s.matches(name) and any(s.matches(k) for k in values) for s in SETTINGS
        ):
            problems.append(f"{name} is missing")
    assert not problems, f"local.settings.sample.json: {problems}"


def test_sample_names_no_unknown_setting():
    unknown = [k for k in sample_values() if k != "FUNCTIONS_WORKER_RUNTIME" and not any(s.matches(k) for s in SETTINGS)]
    assert not unknown, f"local.settings.sample.json sets {unknown}, which watchdog/settings.py does not declare"


# --- infra: the Function App's app settings -----------------------------------------------

def object_keys(path: Path, var: str) -> set[str]:
    text = path.read_text()
    m = re.search(rf"^var\s+{var}\s*=\s*\{{", text, re.M)
    assert m, f"{path.relative_to(ROOT)} has no `var {var} = {{ ... }}`"
    depth, i = 1, m.end()
    body_start = i
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    body = text[body_start : i - 1]
    keys, depth = set(), 0
    for line in body.splitlines():
        if depth == 0:
            km = re.match(r"^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:", line)
            if km:
                keys.add(km.group(1))
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return keys


def infra_settings() -> set[str]:
    return object_keys(ROOT / "infra" / "main.bicep", "watchdogSettings") | object_keys(
        ROOT / "infra" / "app" / "app-settings.bicep", "appSettings"
    )


def test_infra_sets_every_setting_not_documented_as_optional():
    rows, deployed = readme_rows(), infra_settings()
    missing = [
        s.name
        for s in SETTINGS
        if PLACEHOLDER not in s.name and s.name not in deployed and not optional_with_default(s.name, rows)
    ]
    missing += [
        n for n in literal_names()
        if not n.endswith("_") and not any(s.matches(n) and PLACEHOLDER in s.name for s in SETTINGS)
        and n not in deployed and not optional_with_default(n, rows)
    ]
    assert not missing, f"required settings the Function App in infra/ does not set: {sorted(set(missing))}"


def test_infra_wires_per_target_settings_as_key_vault_references():
    main = (ROOT / "infra" / "main.bicep").read_text()
    assert re.search(r"^param\s+notificationSecretUris\s+object", main, re.M)
    assert re.search(r"^param\s+extraAppSettings\s+object", main, re.M)
    assert "'@Microsoft.KeyVault(SecretUri=${item.value})'" in main
    # later objects win in union(): extra settings cannot override the deployment's own.
    assert "var extraSettings = extraAppSettings ?? {}" in main
    assert "union(extraSettings, notificationSettings, watchdogSettings)" in main


def test_infra_sets_no_undeclared_watchdog_setting():
    unknown = [k for k in infra_settings() if k.startswith("WATCHDOG_") and not any(s.matches(k) for s in SETTINGS)]
    assert not unknown, f"infra/ sets {unknown}, which watchdog/settings.py does not declare (a typo?)"


def test_infra_host_storage_is_identity_based():
    """Blobs (host), tables (ledger) and the queue of background checks, each with its role."""
    keys = object_keys(ROOT / "infra" / "app" / "app-settings.bicep", "appSettings")
    assert {"AzureWebJobsStorage__credential", "AzureWebJobsStorage__blobServiceUri",
            "AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__queueServiceUri"} <= keys
    assert "AzureWebJobsStorage" not in keys, "no connection string: the storage account has shared keys disabled"


# --- Settings.from_env: errors name the setting -------------------------------------------

INT_SETTINGS = [s.name for s in SETTINGS if s.default is not None and s.default.isdigit()]


@pytest.mark.parametrize("name", INT_SETTINGS)
def test_from_env_names_a_malformed_number(name):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, name: "twelve"})
    assert name in str(err.value) and "number" in str(err.value)


@pytest.mark.parametrize(
    "env, names",
    [
        ({}, ["AZURE_SUBSCRIPTION_ID", "WATCHDOG_SUBSCRIPTIONS"]),
        ({"WATCHDOG_SUBSCRIPTIONS": "prod"}, ["WATCHDOG_SUBSCRIPTIONS"]),
        ({"WATCHDOG_CONCURRENCY": "0"}, ["WATCHDOG_CONCURRENCY"]),
        ({"WATCHDOG_WINDOW_MINUTES": "100000"}, ["WATCHDOG_WINDOW_MINUTES"]),
        ({"WATCHDOG_SECRET_SYNC": "yes"}, ["WATCHDOG_SECRET_SYNC"]),
        ({"WATCHDOG_SCALE": "auto"}, ["WATCHDOG_SCALE"]),
        ({"WATCHDOG_SCALE_IN": "true"}, ["WATCHDOG_SCALE_IN"]),
        ({"WATCHDOG_KEY_VAULTS": "http://kv.vault.azure.net"}, ["WATCHDOG_KEY_VAULTS"]),
        ({"WATCHDOG_CAPACITY_WARN_PCT": "95"}, ["WATCHDOG_CAPACITY_WARN_PCT", "WATCHDOG_CAPACITY_CRIT_PCT"]),
        ({"WATCHDOG_SCALE_TARGET_PCT": "90"}, ["WATCHDOG_SCALE_TARGET_PCT", "WATCHDOG_SCALE_THRESHOLD_PCT"]),
        ({"WATCHDOG_LEDGER": "mongo"}, ["WATCHDOG_LEDGER"]),
        ({"WATCHDOG_NOTIFY_TARGETS": "ops"}, ["WATCHDOG_NOTIFY_OPS_URL"]),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, list) else None,
)
def test_from_env_errors_name_the_setting(env, names):
    base = {} if not env else {"AZURE_SUBSCRIPTION_ID": SUB}
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**base, **env})
    for name in names:
        assert name in str(err.value), f"{err.value!s} does not name {name}"


def test_from_env_defaults_match_the_documented_defaults():
    s = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB})
    assert s.subscriptions == (SUB,)
    assert (s.secret_sync, s.scale, s.scale_in) == ("plan", "plan", "off")
    assert s.schedule == next(x.default for x in SETTINGS if x.name == "WATCHDOG_SCHEDULE")


def test_binding_expression_settings_are_always_set():
    """`%NAME%` in a trigger (e.g. the timer's schedule) is resolved by the Functions host, which
    knows no defaults: such a setting must be set in infra/ and in the sample whatever its default."""
    names = set()
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(re.findall(r"%(WATCHDOG_[A-Z0-9_]+)%", node.value))
    deployed, values = infra_settings(), sample_values()
    missing = sorted(n for n in names if n not in deployed or not values.get(n))
    assert not missing, f"binding-expression settings not set in infra/ or local.settings.sample.json: {missing}"
