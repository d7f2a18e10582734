"""The emulator's own machinery: proxy, TLS, managed identity, audiences, faults, scenarios, CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from azure.identity import DefaultAzureCredential

from emulator.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-00000000000a"


def scenario(**extra) -> dict:
    base = {"name": "core", "subscriptions": [{"id": SUB, "resource_groups": [{"name": "rg", "webpubsub": [
        {"name": "chat-one", "sku": "Standard_S1", "units": 2}]}]}]}
    base.update(extra)
    return base


HOSTS = {
    "ok.contoso.com": {"kind": "handler"},
    "fails.contoso.com": {"kind": "handler", "behaviour": "status", "status": 500},
    "noorigin.contoso.com": {"kind": "handler", "behaviour": "missing-origin"},
    "slow.contoso.com": {"kind": "handler", "behaviour": "timeout"},
    "refused.contoso.com": {"kind": "handler", "behaviour": "refused"},
    "nodns.contoso.com": {"kind": "handler", "behaviour": "dns"},
    "badtls.contoso.com": {"kind": "handler", "behaviour": "tls"},
    "teams.contoso.com": {"kind": "teams"},
    "flaky.contoso.com": {"kind": "webhook", "behaviour": "status", "status": 503, "fail_times": 2, "retry_after": 3},
}


def probe(host: str, **kw) -> requests.Response:
    return requests.options(f"https://{host}/api/validate?code=secret", timeout=2,
                            headers={"WebHook-Request-Origin": "chat-one.webpubsub.azure.com"}, **kw)


def test_unknown_hosts_are_refused_by_the_emulator_itself(emulator_factory) -> None:
    emu = emulator_factory(scenario())
    with pytest.raises(requests.exceptions.ProxyError, match="403 Host Not In Scenario"):
        requests.get("https://www.example.org/", timeout=5)
    assert emu.journal.where(service="proxy", host="www.example.org", status=403)


def test_customer_hosts_behave_as_the_scenario_says(emulator_factory) -> None:
    emu = emulator_factory(scenario(hosts=HOSTS))
    ok = probe("ok.contoso.com")
    assert ok.status_code == 200 and ok.headers["WebHook-Allowed-Origin"] == "chat-one.webpubsub.azure.com"
    assert probe("fails.contoso.com").status_code == 500
    missing = probe("noorigin.contoso.com")
    assert missing.status_code == 200 and "WebHook-Allowed-Origin" not in missing.headers
    with pytest.raises(requests.exceptions.ReadTimeout):
        probe("slow.contoso.com")
    with pytest.raises(requests.exceptions.ProxyError, match="Connection refused"):
        probe("refused.contoso.com")
    with pytest.raises(requests.exceptions.ProxyError, match="Failed to resolve"):
        probe("nodns.contoso.com")
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        probe("badtls.contoso.com")
    assert requests.post("https://teams.contoso.com/workflows/x", json={"type": "message"}, timeout=5).status_code == 202
    recorded = emu.deliveries("ok.contoso.com")
    assert [(d.method, d.path, d.query) for d in recorded] == [("OPTIONS", "/api/validate", "code=secret")]


def test_a_recovering_target_fails_n_times_with_retry_after_then_accepts(emulator_factory) -> None:
    emu = emulator_factory(scenario(hosts=HOSTS))
    answers = [requests.post("https://flaky.contoso.com/hook", json={}, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert [d.status for d in emu.deliveries("flaky.contoso.com")] == [503, 503, 200]


def test_managed_identity_protocol_and_audiences(emulator_factory) -> None:
    emu = emulator_factory(scenario())
    endpoint, header = os.environ["IDENTITY_ENDPOINT"], os.environ["IDENTITY_HEADER"]
    assert requests.get(endpoint, params={"api-version": "2019-08-01", "resource": "https://vault.azure.net"},
                        timeout=5).status_code == 401  # no X-IDENTITY-HEADER
    token = DefaultAzureCredential().get_token("https://vault.azure.net/.default").token
    # A Key Vault token is no good for ARM: Azure checks the audience.
    arm = requests.get(f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.SignalRService/webPubSub",
                       params={"api-version": "2024-03-01"}, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert arm.status_code == 401
    assert arm.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert header and emu.journal.where(service="identity")


def test_faults_throttle_every_nth_call_with_retry_after(emulator_factory) -> None:
    emulator_factory(scenario(faults={"customer": {"throttle_every": 2, "retry_after": 7}}, hosts=HOSTS))
    statuses = [requests.post("https://teams.contoso.com/x", json={}, timeout=5) for _ in range(4)]
    assert [s.status_code for s in statuses] == [202, 429, 202, 429]
    assert statuses[1].headers["Retry-After"] == "7"


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "subscriptions": [{"id": "nope"}]}, "at subscriptions/0/id"),
    ({"name": "x", "subscriptions": [{"id": SUB, "resource_groups": [{"name": "rg", "webpubsub": [
        {"name": "abc", "sku": "Standard_S1", "units": 11}]}]}]}, "11 is not an allowed unit count"),
    ({"name": "x", "subscriptions": [{"id": SUB, "resource_groups": [{"name": "rg", "vaults": [
        {"name": "kv-one", "secrets": [{"name": "s", "value": {"connection_string": "ghost"}}]}]}]}]},
     "no Web PubSub resource named 'ghost'"),
    ({"name": "x", "subscriptions": [{"id": SUB}], "hosts": {"h.example": {"behaviour": "explode"}}}, "hosts/h.example/behaviour"),
])
def test_bad_scenarios_name_the_path_and_the_problem(data: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load(data)


def test_bad_scenario_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nsubscriptions: [{id: 1}]\n")
    with pytest.raises(ScenarioError, match=r"broken\.yaml: at subscriptions/0/id"):
        load(path)


def test_cli_run_gives_the_command_the_emulated_azure() -> None:
    code = ("import os, requests; r = requests.options('https://handler.contoso.com/x', timeout=5); "
            "print(os.environ['AZURE_SUBSCRIPTION_ID'], r.status_code); raise SystemExit(7)")
    out = subprocess.run([sys.executable, "-m", "emulator", "run", "--scenario", "demo", "--", sys.executable, "-c", code],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 7, out.stderr  # the command's exit code is passed through
    assert out.stdout.split() == ["6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f", "200"]


def test_cli_rejects_a_bad_scenario_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "subscriptions": []}')
    out = subprocess.run([sys.executable, "-m", "emulator", "run", "--scenario", str(bad), "--", "true"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "bad.json" in out.stderr and "subscriptions" in out.stderr


def test_cli_serve_writes_an_env_file_and_admin_changes_state(tmp_path: Path) -> None:
    env_file = tmp_path / "azure.env"
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--scenario", "demo", "--env-file", str(env_file)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        env = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
        admin = json.loads(env["EMULATOR_ADMIN_URL"])
        assert requests.post(f"{admin}/regenerate-key", json={"resource": "chat-prod", "key": "primary"},
                             timeout=5).json() == {"ok": True}
        assert requests.post(f"{admin}/regenerate-key", json={"key": "primary"}, timeout=5).status_code == 400
        assert requests.get(f"{admin}/journal", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_an_sdk_only_script_does_everything_the_issue_lists_inside_emulator_run() -> None:
    """The emulator issue's definition of done, run exactly as a user would."""
    out = subprocess.run([sys.executable, "-m", "emulator", "run", "--scenario", "demo", "--",
                          sys.executable, "emulator/examples/sdk_tour.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    steps = dict(line.split(None, 1) if " " in line else (line, "") for line in
                 (" ".join(line.split()).replace("diagnostic settings", "diagnostic-settings")
                  .replace("autoscale settings", "autoscale-settings").replace("batch metrics", "batch-metrics")
                  .replace("log rows", "log-rows").replace("get secret", "get-secret")
                  .replace("set secret", "set-secret") for line in out.stdout.splitlines()))
    from emulator.scenario import load

    assert steps["resources"] == str(sorted(r.name for r in load("demo").resources.values()))
    assert steps["diagnostic-settings"] == "law-demo"
    assert steps["batch-metrics"] == "1840.0"
    assert steps["log-rows"] == "3"
    assert steps["regenerateKey"] == "True"
    assert steps["scale"] == "2 -> 3 units"
