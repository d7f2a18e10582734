"""Pure parsing and classification of the collectors: log messages, probe verdicts, errors."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from watchdog.azure import call_kind
from watchdog.collect import handlers, keys, logs, metrics
from watchdog.collect.errors import brief, to_error
from watchdog.collect.inventory import ignored
from watchdog.collect.secrets import parse_uri
from watchdog.ledger.base import KeyRecord
from watchdog.models import BoundSecret, DataPlaneProof
from watchdog.models_resource import EventHandler, Resource
from watchdog.redact import redact_url

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
RID = "/subscriptions/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/a"


@pytest.mark.parametrize("message, expected", [
    ("Failed to send event to upstream. hub:chat,event:connect,type:sys,connectionId:c-1 got unexpected "
     "response with status code 404.", ("chat", "connect", "404", logs.UNEXPECTED, None)),
    ("hub:orders, event:message,type:user got unexpected response with status code 503.",
     ("orders", "message", "503", logs.UNEXPECTED, None)),
    ("Abuse protection for 'https://h.example.com/api/events?code=k3y' missing allowed origins: .",
     (logs.UNKNOWN_HUB, "validate", "missing-allowed-origin", logs.MISSING_ORIGIN, "https://h.example.com/api/events")),
    ("Abuse protection for 'https://h.example.com/x' failed: 401.",
     (logs.UNKNOWN_HUB, "validate", "401", logs.INVALID_STATUS, "https://h.example.com/x")),
    ("Connection aborted. Reason: normal closure.", None),
    ("Connection count reaches limit", None),
])
def test_parse_message(message, expected):
    parsed = logs.parse_message(message)
    got = None if parsed is None else (parsed.hub, parsed.event, parsed.status, parsed.kind, parsed.url)
    assert got == expected


def test_group_rows_maps_abuse_protection_to_the_hub_and_redacts_samples():
    handler = EventHandler(hub="orders", url_redacted="https://h.example.com/api/{event}", host="h.example.com")
    t1, t2 = NOW, NOW + timedelta(minutes=1)
    rows = [
        (t1, RID.upper(), "Abuse protection for 'https://h.example.com/api/validate?code=k3y' missing allowed origins: ."),
        (t2, RID, "Abuse protection for 'https://h.example.com/api/validate?code=k3y' missing allowed origins: ."),
        (t1, RID, "hub:chat,event:connect,type:sys got unexpected response with status code 500."),
        (t1, "/subscriptions/x/other", "hub:chat,event:connect got unexpected response with status code 500."),
    ]
    grouped = logs.group_rows(rows, {RID.lower(): [handler]})
    got = {(e.hub, e.event, e.status, e.count, e.last_seen) for e in grouped[RID.lower()]}
    assert got == {("orders", "validate", "missing-allowed-origin", 2, t2), ("chat", "connect", "500", 1, t1)}
    samples = [e.sample for e in grouped[RID.lower()]]
    assert all("k3y" not in s for s in samples) and any("api/validate?<redacted>'" in s for s in samples)


def test_assign_workspaces_reads_each_resource_once():
    got = logs.assign_workspaces({"a": ("/W2", "/w1"), "b": ("/w1",), "c": ()})
    assert got == {"/w1": ["a", "b"]}


@pytest.mark.parametrize("status, origin, cause", [
    (200, "*", None), (204, "a.webpubsub.azure.com", None), (200, "https://a.webpubsub.azure.com", None),
    (200, "x.example.com, a.webpubsub.azure.com", None), (200, None, "missing-allowed-origin"),
    (200, "b.webpubsub.azure.com", "missing-allowed-origin"), (301, "*", "redirect"), (307, None, "redirect"),
    (401, "*", "status"), (500, None, "status"),
])
def test_classify_response(status, origin, cause):
    assert handlers.classify_response(status, origin, "a.webpubsub.azure.com") == cause


@pytest.mark.parametrize("exc, cause", [
    (requests.exceptions.SSLError("certificate verify failed"), "tls"),
    (requests.exceptions.ConnectTimeout("timed out"), "timeout"),
    (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
    (requests.exceptions.ProxyError("Tunnel connection failed: 502 Failed to resolve host"), "dns"),
    (requests.exceptions.ConnectionError("NameResolutionError: Name or service not known"), "dns"),
    (requests.exceptions.ConnectionError("Connection refused"), "connection"),
])
def test_classify_exception(exc, cause):
    assert handlers.classify_exception(exc) == cause


def test_fill_and_redact():
    assert handlers.fill("https://h/api/{hub}/{event}?code=x", "chat") == "https://h/api/chat/validate?code=x"
    assert redact_url("https://user:pw@H.example.com:8443/api/{event}?code=x#frag") == (
        "https://h.example.com:8443/api/{event}")


def test_brief_scrubs_and_keeps_one_short_line():
    text = brief("GET https://h/x?code=abc failed;\n Endpoint=https://a;AccessKey=Zm9v;Version=1.0; Bearer eyJ.a.b")
    assert "abc" not in text and "Zm9v" not in text and "eyJ" not in text and "\n" not in text
    assert len(brief("x " * 400)) == 300 and brief("x " * 400).endswith("…")


def test_to_error_names_the_action_azure_checked():
    from azure.core.exceptions import HttpResponseError

    class Response:
        status_code, reason, headers = 403, "Forbidden", {}
        def text(self): return ('{"error":{"code":"AuthorizationFailed","message":"The client does not have '
                                "authorization to perform action 'Microsoft.Insights/Metrics/Read' over scope "
                                "'/subscriptions/x?sig=abc'\"}}")
    error = to_error(HttpResponseError(response=Response()), "metrics", resource_id=RID, action="fallback")
    assert (error.kind, error.status, error.permission) == ("forbidden", 403, "Microsoft.Insights/Metrics/Read")
    assert "sig=abc" not in error.message
    throttled = to_error(HttpResponseError(message="busy", response=type("R", (Response,), {"status_code": 529})()),
                         "metrics")
    assert throttled.kind == "throttled"


@pytest.mark.parametrize("method, url, kind", [
    ("GET", "https://management.azure.com/subscriptions/x", "arm-read"),
    ("POST", "https://management.azure.com/x/listKeys", "arm-write"),
    ("PATCH", "https://management.azure.com/x", "arm-write"),
    ("POST", "https://eastus.metrics.monitor.azure.com/subscriptions/x/metrics:getBatch", "metrics"),
    ("POST", "https://api.loganalytics.io/v1/workspaces/x/query", "logs"),
    ("GET", "https://kv.vault.azure.net/secrets/x", "keyvault"),
    ("HEAD", "https://a.webpubsub.azure.com/api/hubs/x", "dataplane"),
    ("GET", "http://127.0.0.1:1234/msi/token", None),
])
def test_call_kind(method, url, kind):
    assert call_kind(method, url) == kind


def _resource(**kw) -> Resource:
    base = dict(id=RID, subscription_id="s", resource_group="rg", name="a", location="eastus",
                host_name="a.webpubsub.azure.com", sku_name="Standard_S1", sku_tier="Standard", capacity=1)
    return Resource(**{**base, **kw})


def _secret(fp: str | None, outcome: str = "accepted", updated: datetime | None = NOW,
            proved_at: datetime | None = None) -> BoundSecret:
    return BoundSecret(uri="u", vault_url="v", name="n", version="1", enabled=True, expires_on=None,
                       content_type=None, tags={}, key_fingerprint=fp, updated_on=updated,
                       proof=DataPlaneProof(404 if outcome == "accepted" else 401, outcome), proved_at=proved_at)


BEFORE = NOW - timedelta(hours=1)


@pytest.mark.parametrize("resource, secrets, record, listed", [
    (_resource(), [], None, False),  # nothing bound: never
    (_resource(disable_local_auth=True), [_secret("p")], None, False),  # keys do not work: never
    (_resource(), [_secret("p")], None, True),  # no record yet
    (_resource(), [_secret("p")], KeyRecord(RID, "p", "s", NOW), False),  # matches the record
    (_resource(), [_secret("s")], KeyRecord(RID, "p", "s", NOW), False),
    (_resource(), [_secret("x")], KeyRecord(RID, "p", "s", BEFORE), True),  # written since: new or drifted
    (_resource(), [_secret("x", "rejected", BEFORE)], KeyRecord(RID, "p", "s", NOW), False),  # known stale
    (_resource(), [_secret("x", updated=None)], KeyRecord(RID, "p", "s", NOW), True),  # no date: list
    (_resource(), [_secret("p", "rejected")], KeyRecord(RID, "p", "s", BEFORE), True),  # regenerated since
    (_resource(), [_secret("p", "rejected", proved_at=BEFORE)], KeyRecord(RID, "p", "s", BEFORE), True),
    # a rejection older than the keys listed since: listing again learns nothing until it is re-proven
    (_resource(), [_secret("p", "rejected", proved_at=BEFORE)], KeyRecord(RID, "p", "s", NOW), False),
    (_resource(), [_secret("x", "rejected", BEFORE), _secret("p", "rejected", BEFORE)],
     KeyRecord(RID, "p", "s", NOW), True),  # a secret that matched the record now fails
    (_resource(), [_secret("p")], KeyRecord(RID, "p", "s", NOW - keys.RECONCILE_AFTER), True),
])
def test_why_list_keys(resource, secrets, record, listed):
    assert (keys.why_list(resource, secrets, record, NOW) is not None) is listed


def test_metric_batches_group_by_subscription_and_region():
    rs = [_resource(id=f"{RID}{i}", location="eastus" if i < 120 else "westeurope") for i in range(130)]
    batches = metrics.plan_batches(rs)
    assert [(b.region, len(b.resources)) for b in batches] == [("eastus", 50), ("eastus", 50), ("eastus", 20),
                                                                 ("westeurope", 10)]
    assert metrics.owner_of(f"{RID}1/providers/Microsoft.Insights/metrics/ServerLoad".upper(), metrics.owners([RID, f"{RID}1"])) == f"{RID}1"


@pytest.mark.parametrize("uri, parsed", [
    ("https://kv-a.vault.azure.net/secrets/conn", ("https://kv-a.vault.azure.net", "conn")),
    (" https://KV-A.vault.azure.net/secrets/conn/0123456789abcdef0123456789abcdef ", ("https://kv-a.vault.azure.net", "conn")),
    ("https://evil.example.com/secrets/conn", None), ("kv-a/conn", None),
])
def test_parse_secret_uri(uri, parsed):
    assert parse_uri(uri) == parsed


def test_ignore_tag():
    assert ignored({"Watchdog-Ignore": ""}) and ignored({"watchdog-ignore": "yes"})
    assert not ignored({"watchdog-ignore": "False"}) and not ignored({})
