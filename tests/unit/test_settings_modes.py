"""One rule for what a caller's request means per remediation kind (CLI flags, HTTP `mode`)."""
from __future__ import annotations

import pytest

from tests.factories import SUB
from watchdog.settings import Settings

CONFIGURED = {"WATCHDOG_SECRET_SYNC": "on", "WATCHDOG_SCALE": "plan", "WATCHDOG_SCALE_IN": "off"}


@pytest.mark.parametrize("requested, expected", [
    # the timer: as configured (consumer refresh follows secret sync unless set)
    (None, {"secret-sync": "on", "consumer-refresh": "on", "rotate": "off", "scale": "plan", "scale-in": "off",
             "alerts": "off"}),
    ("off", {"secret-sync": "off", "consumer-refresh": "off", "rotate": "off", "scale": "off", "scale-in": "off",
             "alerts": "off"}),
    # A dry run shows what acting would do: a kind switched off is neither planned nor done.
    ("plan", {"secret-sync": "plan", "consumer-refresh": "plan", "rotate": "off", "scale": "plan", "scale-in": "off",
             "alerts": "off"}),
    # A request lowers a mode, never raises it: scale is configured plan and stays plan.
    ("on", {"secret-sync": "on", "consumer-refresh": "on", "rotate": "off", "scale": "plan", "scale-in": "off",
             "alerts": "off"}),
])
def test_a_request_takes_the_lower_of_configured_and_requested(requested, expected) -> None:
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, **CONFIGURED})
    assert settings.modes(requested) == expected


def test_an_unknown_request_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'yolo'"):
        Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB}).modes("yolo")
