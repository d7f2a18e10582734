"""The kept-report codec (watchdog/functions/runs.py) stores what a timer report holds."""
from __future__ import annotations

from datetime import datetime, timezone

from watchdog.functions.runs import dumps, loads
from watchdog.models import Report
from watchdog.notify.delivery import DeliveryStatus


def test_a_notifiers_enum_is_kept_as_its_value_and_sets_round_trip():
    report = Report(started_at=datetime(2026, 12, 2, tzinfo=timezone.utc))
    report.notifications = [{"target": "teams", "status": DeliveryStatus.DELIVERED}]
    report.deleted = {"/subscriptions/x/resourcegroups/g/providers/microsoft.signalrservice/webpubsub/gone"}
    report.coverage = {"/r": frozenset({"metrics", "logs"})}
    kept = loads(dumps(report))
    assert kept.notifications == [{"target": "teams", "status": "delivered"}]
    assert kept.deleted == report.deleted and kept.coverage == report.coverage
