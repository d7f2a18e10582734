"""The validator the emulator's fidelity tests rely on: Microsoft's own examples pass, broken
bodies fail. If this validator accepted anything, every fidelity test would be hollow."""
from __future__ import annotations

import copy
import json

import pytest

from tests.specs import SPECS_DIR, SpecMismatch, validate_response

WPS = "webpubsub/resource-manager/Microsoft.SignalRService/stable/2024-03-01/webpubsub.json"
RES = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.SignalRService/webPubSub/{resourceName}"
BATCH = "monitor/data-plane/Microsoft.Insights/stable/2024-02-01/metricBatch.json"


def example(rel: str) -> dict:
    return json.loads((SPECS_DIR / rel).read_text(encoding="utf-8-sig"))


def wps_get_body() -> dict:
    return example("webpubsub/resource-manager/Microsoft.SignalRService/stable/2022-10-01/examples/WebPubSub_Get.json")["responses"]["200"]["body"]


def test_microsofts_examples_pass() -> None:
    validate_response(WPS, RES, "GET", 200, wps_get_body())
    keys = example("webpubsub/resource-manager/Microsoft.SignalRService/stable/2024-03-01/examples/WebPubSub_ListKeys.json")
    validate_response(WPS, RES + "/listKeys", "POST", 200, keys["responses"]["200"]["body"])
    la = example("operationalinsights/data-plane/Microsoft.OperationalInsights/stable/v1/examples/la-get-example.json")
    validate_response("operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/OperationalInsights.json",
                      "/workspaces/{workspaceId}/query", "GET", 200, la["responses"]["200"]["body"])
    batch = example("monitor/data-plane/Microsoft.Insights/stable/2024-02-01/examples/MetricBatchExample.json")
    validate_response(BATCH, "/subscriptions/{subscriptionId}/metrics:getBatch", "POST", 200, batch["responses"]["200"]["body"])


@pytest.mark.parametrize("break_it, where", [
    (lambda b: b["sku"].__setitem__("capacity", "two"), "sku/capacity"),
    (lambda b: b["properties"].__setitem__("hostNmae", "typo.webpubsub.azure.com"), "properties"),
    (lambda b: b["properties"].__setitem__("publicPort", "443"), "properties/publicPort"),
    (lambda b: b.__setitem__("tags", ["not", "a", "map"]), "tags"),
])
def test_broken_bodies_fail(break_it, where: str) -> None:
    body = copy.deepcopy(wps_get_body())
    break_it(body)
    with pytest.raises(SpecMismatch, match=where):
        validate_response(WPS, RES, "GET", 200, body)


def test_unknown_status_and_unexpected_body_fail() -> None:
    with pytest.raises(SpecMismatch, match="no body"):
        validate_response(WPS, RES, "PATCH", 202, {"unexpected": True})
