"""The status page as text: escaping, secrets, order, the filter and the policy it is served under.
The same page in a real browser is tests/browser/test_status_page.py."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from tests.factories import NOW, SETTINGS, keys, metrics, observation, resource, secret
from tests.unit.test_checks_diagnose import PLANTED, _leaky_world
from tests.unit.test_report import make_report
from watchdog import checks
from watchdog.models import HandlerProbe, ObservationError, Report
from watchdog.models_resource import EventHandler
from watchdog.settings import ConfigError, Settings
from watchdog.links import status_link
from watchdog.status_page import CONTENT_SECURITY_POLICY, render_status_page

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


class _Tags(HTMLParser):
    """Every start tag, with its attributes, as a browser's tokenizer sees them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))


def _report(observations, **kw) -> Report:
    findings = checks.diagnose(observations, [], SETTINGS, NOW)
    return make_report(findings, resources=[o.resource for o in observations], observations=list(observations), **kw)


def _page(report: Report, **kw) -> str:
    return render_status_page(report, generated_at=NOW + timedelta(minutes=3), **kw)


def test_attacker_controlled_text_is_escaped_everywhere() -> None:
    handler = EventHandler(HOSTILE, f"https://evil.example/{HOSTILE}", "evil.example")
    obs = observation(resource(name="wps-prod", tags={HOSTILE: HOSTILE}), handlers=(handler,),
                      probes=(HandlerProbe(handler, False, HOSTILE),))
    page = _page(_report([obs]), base_url="https://status.contoso.com/api/check")
    tags = _Tags(page).tags
    assert [t for t, _ in tags if t in ("img", "iframe", "object")] == []
    assert sum(1 for t, _ in tags if t == "script") == 1  # the page's own, allowed by hash
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_no_key_connection_string_or_query_string_reaches_the_page() -> None:
    leaky = _leaky_world()
    leaky = replace(leaky, resource=replace(leaky.resource, tags={"note": f"https://x.example/?sig={PLANTED}"}))
    page = _page(_report([leaky]), base_url="https://status.contoso.com/api/check")
    assert PLANTED not in page


def test_rows_are_critical_first_then_warning_then_healthy_fullest_first() -> None:
    healthy = observation(resource(name="a-calm"), metrics=metrics({"TotalConnectionCount:Maximum": [100] * 5}))
    busy = observation(resource(name="b-busy"), metrics=metrics({"TotalConnectionCount:Maximum": [850] * 5}))
    full = observation(resource(name="c-full"), metrics=metrics({"TotalConnectionCount:Maximum": [990] * 5}))
    calmer = observation(resource(name="d-calmer"), metrics=metrics({"TotalConnectionCount:Maximum": [50] * 5}))
    page = _page(_report([healthy, busy, full, calmer]))
    rows = re.findall(r'<tr role="row" class="sev-(\w+)" data-name="([^"]+)"', page)
    assert rows == [("critical", "c-full"), ("warning", "b-busy"), ("ok", "a-calm"), ("ok", "d-calmer")]
    assert 'value="99.0"' in page and "99% (990 of 1,000)" in page


def test_key_state_and_handler_probes_are_shown() -> None:
    handler = EventHandler("chat", "https://api.contoso.com/h", "api.contoso.com")
    synced = observation(resource(name="synced"), keys=keys(), secrets=(secret(host="synced.webpubsub.azure.com"),),
                         handlers=(handler,), probes=(HandlerProbe(handler, True),))
    stale = observation(resource(name="stale"), keys=keys(), secrets=(secret("fp-old", host="stale.webpubsub.azure.com"),))
    page = _page(_report([synced, stale]))
    assert "in sync (1 secret)" in page and ">stale-key<" in page
    assert "chat: https://api.contoso.com/h" in page and "b-ok" in page


def test_the_filter_is_preselected_and_checked_by_name() -> None:
    page = _page(_report([observation()]), filter="critical")
    assert re.search(r'id="show-critical" value="critical" checked', page)
    assert len(re.findall(r"\bchecked>", page)) == 1
    with pytest.raises(ValueError, match="critical, warning, info"):
        _page(_report([observation()]), filter="everything")


def test_sweep_age_blind_spots_and_an_empty_estate() -> None:
    report = make_report([], resources=[])
    report.findings = checks.diagnose([], [], SETTINGS, NOW)
    page = _page(report)
    assert "3 min ago" in page and "No Web PubSub resources in scope." in page
    assert "Blind spots (0)" in page
    denied = ObservationError("metrics", "forbidden", "403", resource().id, status=403,
                              permission="Microsoft.Insights/metrics/read")
    blind = make_report(checks.diagnose([observation()], [denied], SETTINGS, NOW))
    section = _page(blind).split('id="blind-h"', 1)[1]
    assert "Blind spots (1)" in section and "Microsoft.Insights/metrics/read" in section


def test_resource_links_carry_only_our_parameters() -> None:
    assert status_link("https://status.contoso.com/api/check") == "https://status.contoso.com/api/check?format=html"
    assert (status_link("https://status.contoso.com/api/check", "chat prod")
            == "https://status.contoso.com/api/check?format=html&resource=chat+prod")
    page = _page(_report([observation(resource(name="wps-prod"))]), base_url="https://status.contoso.com/api/check")
    assert 'href="https://status.contoso.com/api/check?format=html&amp;resource=wps-prod"' in page


def test_the_policy_allows_exactly_the_inline_style_and_script_by_hash() -> None:
    policy = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    page = _page(_report([observation()]))
    assert page.count("<style>") == 1 and page.count("<script>") == 1
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\';', page)


@pytest.mark.parametrize("url", [
    "https://watchdog.azurewebsites.net/api/check?code=abc", "https://user:pw@status.contoso.com/",
    "http://status.contoso.com/", "https://status.contoso.com/#x", "status.contoso.com",
])
def test_a_status_url_that_could_carry_a_key_into_messages_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="WATCHDOG_STATUS_URL"):
        Settings.from_env({"AZURE_SUBSCRIPTION_ID": SETTINGS.subscriptions[0], "WATCHDOG_STATUS_URL": url})


def test_a_plain_status_url_is_kept() -> None:
    url = "https://watchdog.contoso.com:8443/api/check"
    assert Settings.from_env({"AZURE_SUBSCRIPTION_ID": SETTINGS.subscriptions[0], "WATCHDOG_STATUS_URL": url}).status_url == url
