"""Notification targets from settings: every malformed setting is named, no URL or secret leaks."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import finding
from watchdog.models import Severity
from watchdog.notify.targets import load_notify_config
from watchdog.redact import redact_url
from watchdog.settings import SETTINGS, ConfigError, Settings

SIG = "c2VjcmV0LXNpZ25hdHVyZQ"
TEAMS_URL = f"https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig={SIG}"
HOOK_URL = "https://hooks.example.com/watchdog"
SECRET = "0123456789abcdef0123"


def env(**extra: str) -> dict[str, str]:
    base = {
        "WATCHDOG_NOTIFY_TARGETS": "ops,platform",
        "WATCHDOG_NOTIFY_OPS_URL": TEAMS_URL,
        "WATCHDOG_NOTIFY_OPS_KIND": "teams",
        "WATCHDOG_NOTIFY_PLATFORM_URL": HOOK_URL,
        "WATCHDOG_NOTIFY_PLATFORM_KIND": "webhook",
        "WATCHDOG_NOTIFY_PLATFORM_SECRET": SECRET,
        "WATCHDOG_NOTIFY_PLATFORM_MIN_SEVERITY": "critical",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_valid_configuration():
    config = load_notify_config(env(WATCHDOG_NOTIFY_DEFAULT="ops"))
    assert list(config.targets) == ["ops", "platform"]
    ops, platform = config.targets["ops"], config.targets["platform"]
    assert (ops.kind, ops.min_severity, ops.secret) == ("teams", Severity.WARNING, None)
    assert (platform.kind, platform.min_severity) == ("webhook", Severity.CRITICAL)
    assert platform.secret is not None and platform.secret.reveal() == SECRET
    assert config.defaults == ("ops",)
    assert config.repeat == timedelta(hours=4)
    assert ops.url.reveal() == TEAMS_URL


def test_nothing_configured_means_no_targets():
    config = load_notify_config({})
    assert config.targets == {} and config.defaults == ()


def test_default_empty_means_all_and_none_means_tag_only():
    assert load_notify_config(env()).defaults == ("ops", "platform")
    assert load_notify_config(env(WATCHDOG_NOTIFY_DEFAULT="none")).defaults == ()


def test_repeat_zero_disables_reminders():
    assert load_notify_config(env(WATCHDOG_NOTIFY_REPEAT_HOURS="0")).repeat == timedelta(0)


@pytest.mark.parametrize(
    "extra, setting",
    [
        ({"WATCHDOG_NOTIFY_OPS_URL": f"http://example.com/hook?sig={SIG}"}, "WATCHDOG_NOTIFY_OPS_URL"),
        ({"WATCHDOG_NOTIFY_OPS_URL": ""}, "WATCHDOG_NOTIFY_OPS_URL"),
        ({"WATCHDOG_NOTIFY_OPS_URL": f"https:///nohost?sig={SIG}"}, "WATCHDOG_NOTIFY_OPS_URL"),
        ({"WATCHDOG_NOTIFY_OPS_URL": f"https://user:{SIG}@example.com/"}, "WATCHDOG_NOTIFY_OPS_URL"),
        ({"WATCHDOG_NOTIFY_OPS_URL": f"https://[::1/x?sig={SIG}"}, "WATCHDOG_NOTIFY_OPS_URL"),
        (
            {"WATCHDOG_NOTIFY_OPS_URL": f"@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/{SIG})"},
            "WATCHDOG_NOTIFY_OPS_URL",
        ),
        ({"WATCHDOG_NOTIFY_OPS_KIND": "slack"}, "WATCHDOG_NOTIFY_OPS_KIND"),
        ({"WATCHDOG_NOTIFY_OPS_KIND": ""}, "WATCHDOG_NOTIFY_OPS_KIND"),
        ({"WATCHDOG_NOTIFY_OPS_MIN_SEVERITY": "high"}, "WATCHDOG_NOTIFY_OPS_MIN_SEVERITY"),
        ({"WATCHDOG_NOTIFY_OPS_SECRET": SECRET}, "WATCHDOG_NOTIFY_OPS_SECRET"),
        ({"WATCHDOG_NOTIFY_PLATFORM_SECRET": "short"}, "WATCHDOG_NOTIFY_PLATFORM_SECRET"),
        ({"WATCHDOG_NOTIFY_TARGETS": "ops,plat-form"}, "WATCHDOG_NOTIFY_TARGETS"),
        ({"WATCHDOG_NOTIFY_TARGETS": "ops,none"}, "WATCHDOG_NOTIFY_TARGETS"),
        ({"WATCHDOG_NOTIFY_DEFAULT": "ops,oncall"}, "WATCHDOG_NOTIFY_DEFAULT"),
        ({"WATCHDOG_NOTIFY_REPEAT_HOURS": "four"}, "WATCHDOG_NOTIFY_REPEAT_HOURS"),
        ({"WATCHDOG_NOTIFY_REPEAT_HOURS": "-1"}, "WATCHDOG_NOTIFY_REPEAT_HOURS"),
        ({"WATCHDOG_NOTIFY_DEADLINE_SECONDS": "0"}, "WATCHDOG_NOTIFY_DEADLINE_SECONDS"),
        ({"WATCHDOG_NOTIFY_ONCALL_URL": HOOK_URL}, "WATCHDOG_NOTIFY_ONCALL_URL"),
    ],
)
def test_malformed_setting_is_named_and_nothing_secret_is_echoed(extra, setting):
    with pytest.raises(ConfigError) as info:
        load_notify_config(env(**extra))
    message = str(info.value)
    assert message.startswith(setting), message
    assert SIG not in message and SECRET not in message


def test_settings_from_env_validates_notifications_at_start_up():
    base = {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000"}
    assert Settings.from_env({**base, **env()}).notify.targets["ops"].kind == "teams"
    with pytest.raises(ConfigError, match="^WATCHDOG_NOTIFY_OPS_KIND"):
        Settings.from_env({**base, **env(WATCHDOG_NOTIFY_OPS_KIND="email")})


def test_every_notify_setting_is_declared_including_per_target_patterns():
    for name in env(WATCHDOG_NOTIFY_DEFAULT="ops", WATCHDOG_NOTIFY_REPEAT_HOURS="1", WATCHDOG_NOTIFY_DEADLINE_SECONDS="30"):
        assert any(s.matches(name) for s in SETTINGS), name
    assert not any(s.matches("WATCHDOG_NOTIFY_OPS_COLOUR") for s in SETTINGS)


def test_target_repr_and_display_url_hide_the_signature():
    ops = load_notify_config(env()).targets["ops"]
    assert SIG not in repr(ops) and SIG not in ops.display_url
    assert ops.display_url == "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
    assert redact_url("https://h.example/p?code=x#frag") == "https://h.example/p"


@pytest.mark.parametrize(
    "severity, tag, expected, unknown",
    [
        (Severity.WARNING, None, ("ops",), ()),
        (Severity.CRITICAL, None, ("ops",), ()),
        (Severity.INFO, None, (), ()),  # below ops' default minimum (warning)
        (Severity.CRITICAL, "platform", ("ops", "platform"), ()),
        (Severity.WARNING, "platform", ("ops",), ()),  # platform wants critical only
        (Severity.CRITICAL, " Platform , oncall", ("ops", "platform"), ("oncall",)),
        (Severity.CRITICAL, "ops", ("ops",), ()),  # no duplicate when a tag names a default
    ],
)
def test_routing_defaults_plus_tag_filtered_by_min_severity(severity, tag, expected, unknown):
    config = load_notify_config(env(WATCHDOG_NOTIFY_DEFAULT="ops"))
    tags = {} if tag is None else {"Watchdog-Notify": tag}
    assert config.route(finding(severity=severity), tags) == (expected, unknown)


def test_sample_settings_load_and_are_inert():
    import json
    from pathlib import Path

    values = json.loads((Path(__file__).parents[2] / "local.settings.sample.json").read_text())["Values"]
    config = load_notify_config(values)
    assert config.targets == {} and config.repeat == timedelta(hours=4)
