from datetime import timedelta

import pytest

from tests.factories import NOW, SETTINGS, keys, observation, resource, secret
from watchdog.checks import key_drift
from watchdog.models import DataPlaneProof, Severity

ACCEPTED = DataPlaneProof(404, "accepted")
REJECTED = DataPlaneProof(401, "rejected", "401 Unauthorized")
UNREACHABLE = DataPlaneProof(None, "unreachable", "timeout")


def run(*secrets, res=None, with_keys=True):
    obs = observation(res or resource(), keys=keys() if with_keys else None, secrets=secrets)
    return key_drift.check(obs, SETTINGS, NOW)


def verdicts(findings):
    return [(f.check, f.severity) for f in findings]


@pytest.mark.parametrize(
    "sec, with_keys, expected",
    [
        # healthy: primary key, proof accepted
        (secret("fp-primary", proof=ACCEPTED), True, []),
        (secret("fp-primary", proof=None), True, []),
        # secondary: valid today, breaks at the next rotation
        (secret("fp-secondary", proof=ACCEPTED), True, [("secondary-key", Severity.WARNING)]),
        (secret("fp-secondary", tags={"webpubsub-key": "secondary"}), True, []),
        (secret("fp-secondary", proof=REJECTED), True, [("key-rejected", Severity.CRITICAL)]),
        # neither key
        (secret("fp-old", proof=REJECTED), True, [("stale-key", Severity.CRITICAL)]),
        (secret("fp-old", proof=UNREACHABLE), True, [("stale-key", Severity.CRITICAL)]),
        (secret("fp-old", proof=None), True, [("stale-key", Severity.CRITICAL)]),
        # the proof is fresher than listKeys: keys rotated mid-sweep
        (secret("fp-old", proof=ACCEPTED), True, [("stale-key", Severity.WARNING)]),
        # primary per fingerprint, but the service says 401
        (secret("fp-primary", proof=REJECTED), True, [("key-rejected", Severity.CRITICAL)]),
        # listKeys failed: only the proof decides
        (secret("fp-old", proof=REJECTED), False, [("key-rejected", Severity.CRITICAL)]),
        (secret("fp-old", proof=ACCEPTED), False, []),
        # wrong host, of every kind
        (secret(host="wps-staging.webpubsub.azure.com"), True, [("wrong-endpoint", Severity.CRITICAL)]),
        (secret(host="chat.service.signalr.net"), True, [("wrong-endpoint", Severity.CRITICAL)]),
        (secret(host="ns.servicebus.windows.net"), True, [("wrong-endpoint", Severity.CRITICAL)]),
        (secret(host="WPS-PROD.webpubsub.azure.com"), True, []),
        # not a connection string
        (secret(None, None, parse_error="no AccessKey property"), True, [("not-connection-string", Severity.CRITICAL)]),
        # lifecycle
        (secret(enabled=False), True, [("secret-disabled", Severity.CRITICAL)]),
        (secret(enabled=False, has_value=False, fingerprint=None, host=None, proof=None), True,
         [("secret-disabled", Severity.CRITICAL)]),
        (secret(expires_on=NOW - timedelta(days=2)), True, [("secret-expired", Severity.CRITICAL)]),
        (secret(expires_on=NOW), True, [("secret-expired", Severity.CRITICAL)]),
        (secret(expires_on=NOW + timedelta(days=5)), True, [("secret-expiring", Severity.WARNING)]),
        (secret(expires_on=NOW + timedelta(days=30)), True, [("secret-expiring", Severity.WARNING)]),
        (secret(expires_on=NOW + timedelta(days=31)), True, []),
        # lifecycle and value problems are both reported
        (secret("fp-old", proof=REJECTED, expires_on=NOW + timedelta(days=1)), True,
         [("secret-expiring", Severity.WARNING), ("stale-key", Severity.CRITICAL)]),
    ],
)
def test_key_drift_verdicts(sec, with_keys, expected):
    assert verdicts(run(sec, with_keys=with_keys)) == expected


@pytest.mark.parametrize(
    "sec, expected",
    [
        (secret("fp-old"), [("local-auth-disabled", Severity.WARNING)]),
        (secret("fp-primary", expires_on=NOW - timedelta(days=9)), [("local-auth-disabled", Severity.WARNING)]),
        (secret(None, None, has_value=False, proof=None), []),
    ],
)
def test_local_auth_disabled_only_reports_leftover_keys(sec, expected):
    assert verdicts(run(sec, res=resource(disable_local_auth=True))) == expected


def test_every_verdict_carries_the_proof():
    [f] = run(secret("fp-old", proof=REJECTED))
    assert f.evidence["proof_status"] == 401
    assert f.evidence["proof_outcome"] == "rejected"
    assert f.evidence["matches"] == "neither"
    assert "401" in f.summary and "broken for real" in f.summary
    assert f.subject == "https://kv-prod.vault.azure.net/secrets/wps-conn"
    assert f.rule == "key-drift" and f.resource_id.endswith("/wps-prod")


def test_wrong_endpoint_names_both_hosts_and_kind():
    [f] = run(secret(host="chat.service.signalr.net"))
    assert f.evidence["endpoint_host"] == "chat.service.signalr.net"
    assert f.evidence["expected_host"] == "wps-prod.webpubsub.azure.com"
    assert f.evidence["host_kind"] == "signalr"
    assert "wps-prod.webpubsub.azure.com" in f.summary


def test_expiring_counts_days_and_uses_the_setting():
    [f] = run(secret(expires_on=NOW + timedelta(days=3, hours=12)))
    assert f.evidence["days_left"] == 3.5
    assert f.evidence["window_days"] == 30
    assert "3.5 days" in f.summary


def test_each_secret_is_judged_separately():
    other = secret("fp-old", proof=REJECTED)
    other = type(other)(**{**other.__dict__, "uri": "https://kv-prod.vault.azure.net/secrets/other", "name": "other"})
    findings = run(secret(), other)
    assert [(f.subject.rsplit("/", 1)[-1], f.check) for f in findings] == [("other", "stale-key")]


def _deferred(*secrets):
    from watchdog.models import ObservationError

    error = ObservationError("keys", "deferred", "keys not listed this sweep: budget", resource().id)
    return key_drift.check(observation(resource(), keys=None, secrets=secrets, errors=(error,)), SETTINGS, NOW)


def test_keys_deferred_by_the_budget_leave_the_verdict_to_the_proof_and_say_so():
    # 401 convicts on its own; the finding says the keys were not listed.
    (rejected,) = _deferred(secret("fp-primary", proof=REJECTED))
    assert (rejected.check, rejected.severity) == ("key-rejected", Severity.CRITICAL)
    assert rejected.evidence["keys"] == "not listed this sweep: budget" and "budget" in rejected.summary
    # Accepted: primary or secondary cannot be told without the keys, so no secondary warning.
    assert _deferred(secret("fp-secondary", proof=ACCEPTED)) == []
    # Other verdicts on the same secret carry the same evidence.
    (expiring,) = _deferred(secret("fp-primary", proof=ACCEPTED, expires_on=NOW + timedelta(days=5)))
    assert expiring.evidence["keys"] == "not listed this sweep: budget"
