import pytest

from tests.factories import NOW, resource
from watchdog.checks import blind_spots
from watchdog.models import ObservationError, Severity

RID = resource().id


@pytest.mark.parametrize(
    "error, check, words",
    [
        (ObservationError("metrics", "forbidden", "403 Forbidden", RID, status=403), "metrics-forbidden",
         "Monitoring Reader"),
        (ObservationError("keys", "forbidden", "403", RID, status=403), "keys-forbidden", "listKeys/action"),
        (ObservationError("secrets", "forbidden", "403", RID, subject="https://kv.vault.azure.net/secrets/x",
                          status=403, permission="Key Vault Secrets User on kv"), "secrets-forbidden",
         "Key Vault Secrets User on kv"),
        (ObservationError("logs", "throttled", "429", RID, status=429), "logs-throttled", "WATCHDOG_CONCURRENCY"),
        (ObservationError("metrics", "throttled", "529", None, status=529), "metrics-throttled", "Retry-After"),
        (ObservationError("handlers", "timeout", "timed out", RID), "handlers-timeout", "network reachability"),
        (ObservationError("inventory", "unauthorized", "401", None, subject="sub-1", status=401),
         "inventory-unauthorized", "Reader on the subscription"),
        (ObservationError("mystery", "error", "boom", RID), "mystery-error", "next sweep retries"),
    ],
)
def test_each_error_becomes_a_finding_with_a_fix(error, check, words):
    [f] = blind_spots.check_errors([error], NOW)
    assert (f.rule, f.check, f.severity) == ("blind-spot", check, Severity.WARNING)
    assert words in f.guidance
    assert f.resource_id == (error.resource_id or error.subject or error.source)
    assert f.evidence["source"] == error.source and f.evidence["status"] == error.status


def test_permission_only_in_evidence_for_denials():
    denied, slow = blind_spots.check_errors(
        [ObservationError("metrics", "forbidden", "403", RID, status=403),
         ObservationError("metrics", "timeout", "slow", RID)], NOW)
    assert "Monitoring Reader" in denied.evidence["permission"]
    assert slow.evidence["permission"] is None


def test_no_errors_no_findings():
    assert blind_spots.check_errors([], NOW) == []
