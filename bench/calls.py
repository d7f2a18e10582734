"""API calls by kind, counted from the emulator's journal (what Azure would have seen and billed
against its limits), never from the client's own counters."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from emulator.server import JournalEntry

# The kinds the benchmark reports, in table order.
KINDS = ("arm_reads", "arm_writes", "list_keys", "arm_metrics", "batch_metrics", "log_queries", "keyvault",
         "dataplane", "handler_probes", "notifications", "identity")
ARM_WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})  # ARM counts POST actions as writes
THROTTLED = frozenset({429, 529})  # 529: the batch metrics API's throttling status


def count(entries: Iterable[JournalEntry]) -> dict[str, int]:
    """Calls by kind plus `total` and `throttled` (429/529 answers met, retries included).

    `list_keys` is also in `arm_writes`, `arm_metrics` (per-resource ARM metrics) also in
    `arm_reads`: the sub-kinds show where the budget went. Proxy-level records (CONNECT refusals)
    are not API calls and are left out.
    """
    counts: Counter[str] = Counter({kind: 0 for kind in KINDS})
    throttled = total = 0
    for e in entries:
        if e.service == "proxy":
            continue
        total += 1
        throttled += e.status in THROTTLED
        if e.service == "arm":
            counts["arm_writes" if e.method in ARM_WRITE_METHODS else "arm_reads"] += 1
            counts["list_keys"] += e.op == "arm.listKeys"
            counts["arm_metrics"] += e.op == "arm.metrics"
        elif e.service == "metrics":
            counts["batch_metrics"] += 1
        elif e.service == "logs":
            counts["log_queries"] += 1
        elif e.service in ("keyvault", "dataplane", "identity"):
            counts[e.service] += 1
        elif e.service == "customer":
            counts["handler_probes" if e.method == "OPTIONS" else "notifications"] += 1
    return {**counts, "total": total, "throttled": throttled}


def arm_operations(entries: Iterable[JournalEntry]) -> dict[str, int]:
    """ARM calls by operation (e.g. arm.listHubs): where the read and write budgets went."""
    return dict(Counter(e.op or f"{e.method} (no route)" for e in entries if e.service == "arm").most_common())
