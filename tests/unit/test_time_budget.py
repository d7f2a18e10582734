"""The sweep fits the host: budget under functionTimeout, timeouts on every Azure client, and the
data-plane proof never raising (issue 11)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from azure.core.exceptions import ServiceResponseError

from watchdog.azure import AzureClients
from watchdog.collect import dataplane
from watchdog.connstr import parse
from watchdog.settings import Settings, load

ROOT = Path(__file__).parents[2]


def _function_timeout_seconds() -> int:
    h, m, s = (int(x) for x in json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":"))
    return h * 3600 + m * 60 + s


def test_the_default_sweep_budget_is_under_the_function_timeout():
    settings, _ = load({"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"})
    assert settings.sweep_budget_seconds < _function_timeout_seconds()
    assert settings.sweep_deadline_seconds < settings.sweep_budget_seconds


def test_every_azure_client_has_connect_and_read_timeouts_and_a_bounded_retry():
    settings = Settings(subscriptions=("s",), connect_timeout_seconds=3, read_timeout_seconds=7, sweep_budget_seconds=100)
    with AzureClients(settings, credential=object()) as clients:
        options = clients._options()  # noqa: SLF001 - what every client is built with
        transport = options["transport"]
        assert (transport.connection_config.timeout, transport.connection_config.read_timeout) == (3, 7)
        retry = options["retry_policy"]
        assert retry.timeout == 20 and retry.read_retries == 1 and retry.total_retries <= 8


def test_prove_reports_a_read_that_failed_as_unreachable_instead_of_raising():
    def client_for(_cs, _hub):  # noqa: ANN001, ANN202
        class Client:
            def connection_exists(self, _id):  # noqa: ANN001, ANN202
                raise ServiceResponseError("Connection aborted")
        return Client()

    cs = parse("Endpoint=https://wps.webpubsub.azure.com;AccessKey=" + "a" * 44 + ";Version=1.0;")
    proof = dataplane.prove(client_for, cs)
    assert (proof.status, proof.outcome) == (None, "unreachable")
    assert "ServiceResponseError" in proof.detail and not re.search("a{44}", proof.detail)
