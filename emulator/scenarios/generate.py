"""Large generated subscriptions for benchmarks: N Web PubSub resources across regions, resource
groups and workspaces, with a realistic mix and a latency profile per service close to Azure's.

    python -m emulator.scenarios.generate 1000 [--seed 1] [--no-latency] > big.yaml

`generate(n, seed)` returns a scenario dict (scenario.py's format), deterministic for (n, seed).

The mix (shares of resources; rounded per resource from a seeded RNG):
- SKUs: Standard_S1 60 %, Premium_P1 20 %, Free_F1 15 %, Premium_P2 5 %; units skewed small
  (most real estates run 1-2 units), Premium_P2 at 100-300.
- Connections at 5-65 % of the cap, ServerLoad about half the utilisation, normal closes.
- 1-3 hubs; 60 % of resources have event handlers on one of a few shared customer hosts.
- 90 % send resource logs to their region's workspace; 10 % have local auth disabled;
  40 % of the others have a Key Vault secret holding their connection string, bound either by the
  resource tag `watchdog-secrets` or by the secret tag `webpubsub-resource-id` (half each);
  3 % of Premium resources have an autoscale setting.
- Problems, a few per hundred: stale key in a secret (1 %; `--stale-ratio` sets the share of
  bound secrets, e.g. 0.2 for 1 secret in 5), secondary key (1 %), capacity at
  92 % (1 %), Free tier at its cap with throttled closes (0.5 %), handler answering 500 (1 %),
  handler missing the allowed-origin header (0.5 %), no diagnostic settings (the 10 % above),
  with the matching log rows in the workspaces.

LATENCY (per call, log-normal, median / p99 in milliseconds; scenario `faults.<service>.latency_ms`).
Microsoft publishes no latency SLO for these APIs, so these are ESTIMATES, chosen to be plausible
rather than flattering:
- arm 90 / 600: ARM reads from inside Azure are typically tens to low hundreds of ms; ARM
  exposes its own `Latency` metric on `microsoft.resources/subscriptions` where a user can see
  theirs. The p99 covers list pages and the RP's slower tail.
- metrics 250 / 1500: the batch metrics API (`metrics:getBatch`) reads up to 50 resources'
  time series per call; Microsoft recommends it over per-resource calls for throttling and
  performance ("How to migrate from the metrics API to the getBatch API"), without figures.
- logs 700 / 4000: a Log Analytics query over 30 minutes of a workspace is usually sub-second to
  a few seconds (the API's default timeout is 3 minutes, "Timeouts" in the Logs query API docs).
- keyvault 25 / 250: secret reads are small, regional and cached by Key Vault; its documented
  limits are per 10 s windows (e.g. 4,000 GET per vault), far above what a sweep sends.
- dataplane 30 / 300: one HEAD to the Web PubSub REST API in the resource's region.
- customer 80 / 1200: the customer's own event handlers (often Functions with cold starts).
ARM throttling is on: token buckets per subscription and caller, reads 250 / 25 per s, writes
(incl. listKeys) 200 / 10 per s (Microsoft's "request limits and throttling", 2024 model).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from typing import Any

REGIONS = ("eastus", "westeurope", "southeastasia", "westus2")
RESOURCES_PER_GROUP = 25
LATENCY: dict[str, dict[str, float]] = {
    "arm": {"median": 90, "p99": 600},
    "metrics": {"median": 250, "p99": 1500},
    "logs": {"median": 700, "p99": 4000},
    "keyvault": {"median": 25, "p99": 250},
    "dataplane": {"median": 30, "p99": 300},
    "customer": {"median": 80, "p99": 1200},
}
# ARM list page size. UNCONFIRMED for Microsoft.SignalRService: the emulator's default (50) is
# kept, the conservative choice: more pages means more ARM reads for the watchdog.
PAGE_SIZE = 50
HANDLER_HOSTS = ("events.contoso-apps.com", "hooks.fabrikam-apps.com", "api.northwind-apps.com")
BROKEN_HANDLER = "legacy.contoso-apps.com"  # answers 500
NO_ORIGIN_HANDLER = "gateway.fabrikam-apps.com"  # forgets WebHook-Allowed-Origin
STALE_RATIO = 0.025  # of bound secrets: about 1 % of all resources
UNITS = {"Standard_S1": (1, 1, 1, 2, 2, 3, 5, 10), "Premium_P1": (1, 2, 2, 3, 5, 10, 20),
         "Premium_P2": (100, 200, 300), "Free_F1": (1,)}
PER_UNIT = {"Free_F1": 20, "Standard_S1": 1000, "Premium_P1": 1000, "Premium_P2": 1000}


def generate(n: int, seed: int = 1, regions: tuple[str, ...] = REGIONS, latency: bool = True,
             arm_throttling: bool = True, subscription_id: str | None = None,
             stale_ratio: float = STALE_RATIO) -> dict[str, Any]:
    """A scenario dict with `n` Web PubSub resources; `stale_ratio`: the share of bound secrets
    holding a key the resource no longer has."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 <= stale_ratio <= 0.975:
        raise ValueError("stale_ratio must be between 0 and 0.975 (the secondary-key share comes on top)")
    rng = random.Random(seed)
    sub = subscription_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    monitoring = {"name": "rg-monitoring", "location": regions[0],
                  "workspaces": [{"name": f"law-{r}", "tables": {"WebPubSubConnectivity": [],
                                                                "WebPubSubMessaging": []}} for r in regions],
                  "vaults": [{"name": _vault(r, seed), "secrets": []} for r in regions]}
    workspaces = {w["name"]: w for w in monitoring["workspaces"]}
    vaults = {v["name"]: v for v in monitoring["vaults"]}
    groups: list[dict[str, Any]] = []
    for i in range(n):
        if i % RESOURCES_PER_GROUP == 0:
            region = regions[(i // RESOURCES_PER_GROUP) % len(regions)]
            groups.append({"name": f"rg-app{len(groups):03d}-{region}", "location": region, "webpubsub": []})
        group = groups[-1]
        res, secret, rows = _resource(rng, f"wps-{i:05d}-{seed}", group["location"], seed, stale_ratio)
        group["webpubsub"].append(res)
        if secret is not None:
            vaults[_vault(group["location"], seed)]["secrets"].append(secret)
        for table, row in rows:
            workspaces[f"law-{group['location']}"]["tables"][table].append(row)
    hosts: dict[str, Any] = {h: {"kind": "handler", "behaviour": "ok"} for h in HANDLER_HOSTS}
    hosts[BROKEN_HANDLER] = {"kind": "handler", "behaviour": "status", "status": 500}
    hosts[NO_ORIGIN_HANDLER] = {"kind": "handler", "behaviour": "missing-origin"}
    scenario: dict[str, Any] = {
        "name": f"generated-{n}",
        "description": f"{n} generated Web PubSub resources across {len(regions)} regions (seed {seed}).",
        "seed": seed, "arm_throttling": arm_throttling, "page_size": PAGE_SIZE,
        "subscriptions": [{"id": sub, "resource_groups": [monitoring, *groups]}],
        "hosts": hosts,
    }
    if latency:
        scenario["faults"] = {service: {"latency_ms": dict(figures)} for service, figures in LATENCY.items()}
    return scenario


def _vault(region: str, seed: int) -> str:
    return f"kv-{region[:12]}-{seed}"


def _resource(rng: random.Random, name: str, region: str, seed: int,
              stale_ratio: float) -> tuple[dict[str, Any], dict[str, Any] | None, list[tuple[str, dict[str, Any]]]]:
    """One resource, its bound secret (if any) and its log rows; problems drawn by share."""
    sku = rng.choices(("Standard_S1", "Premium_P1", "Free_F1", "Premium_P2"), (60, 20, 15, 5))[0]
    units = rng.choice(UNITS[sku])
    cap = PER_UNIT[sku] * units
    roll = rng.random()  # one roll per resource picks at most one capacity problem
    res: dict[str, Any] = {"name": name, "sku": sku, "units": units, "tags": {"env": rng.choice(("prod", "dev"))}}
    rows: list[tuple[str, dict[str, Any]]] = []
    if sku == "Free_F1" and roll < 0.033:  # ~0.5 % of all resources: Free at cap, closes throttled
        res["demand"] = 26
    elif roll < 0.01:
        res["demand"] = round(cap * 0.92)
    else:
        utilisation = rng.uniform(0.05, 0.65)
        connections = round(cap * utilisation)
        res["metrics"] = {"TotalConnectionCount": connections,
                          "ConnectionQuotaUtilization": round(100 * connections / cap, 1),
                          "ServerLoad": round(100 * utilisation / 2, 1),
                          "ConnectionCloseCount/Normal": rng.randint(0, 40),
                          "OutboundTraffic": rng.randint(10_000, 5_000_000)}
    if rng.random() < 0.9:
        res["diagnostics"] = [{"workspace": f"law-{region}"}]
    res["hubs"] = []
    for h in range(rng.choice((1, 1, 2, 3))):
        hub: dict[str, Any] = {"name": f"hub{h}"}
        if rng.random() < 0.6:
            draw = rng.random()
            host = BROKEN_HANDLER if draw < 0.01 else NO_ORIGIN_HANDLER if draw < 0.015 else rng.choice(HANDLER_HOSTS)
            hub["event_handlers"] = [{"url_template": f"https://{host}/api/{name}/{{hub}}/{{event}}",
                                      "user_event_pattern": "*", "system_events": ["connect", "disconnected"]}]
            if host == BROKEN_HANDLER and "diagnostics" in res:
                rows.append(("WebPubSubConnectivity", _row(name, f"hub{h}", region, rng)))
        res["hubs"].append(hub)
    if sku == "Premium_P1" and rng.random() < 0.03:
        res["autoscale"] = {"min": units, "max": min(units * 2, 10), "default": units}
    secret = None
    if rng.random() < 0.1:
        res["disable_local_auth"] = True
    elif rng.random() < 0.4:
        draw = rng.random()
        key = "stale" if draw < stale_ratio else "secondary" if draw < stale_ratio + 0.025 else "primary"
        secret = {"name": f"{name}-connection", "value": {"connection_string": name, "key": key},
                  "content_type": "text/plain"}
        if rng.random() < 0.5:
            res["tags"]["watchdog-secrets"] = f"https://{_vault(region, seed)}.vault.azure.net/secrets/{secret['name']}"
        else:
            secret["tags"] = {"webpubsub-resource-id": f"${{id:{name}}}"}
    return res, secret, rows


def _row(name: str, hub: str, region: str, rng: random.Random) -> dict[str, Any]:
    connection = f"c-{rng.getrandbits(32):08x}"
    return {"minutes_ago": rng.randint(1, 20), "OperationName": "EventHandlerInvokeFailed", "Level": "Warning",
            "Message": f"Failed to send event to upstream. hub:{hub},event:connect,type:sys,"
                       f"connectionId:{connection} got unexpected response with status code 500.",
            "ConnectionId": connection, "UserId": f"user-{rng.randint(1, 999)}", "CallerIpAddress": "203.0.113.7",
            "Location": region, "_ResourceId": f"${{id:{name}}}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.scenarios.generate",
                                     description="Write a generated benchmark scenario (YAML) to stdout.")
    parser.add_argument("n", type=int, help="number of Web PubSub resources")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-latency", action="store_true", help="answer at once (no latency faults)")
    parser.add_argument("--no-throttling", action="store_true", help="switch ARM throttling off")
    parser.add_argument("--stale-ratio", type=float, default=STALE_RATIO,
                        help=f"share of bound secrets holding a stale key (default {STALE_RATIO})")
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    args = parser.parse_args(argv)
    try:
        data = generate(args.n, args.seed, latency=not args.no_latency, arm_throttling=not args.no_throttling,
                        stale_ratio=args.stale_ratio)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        json.dump(data, sys.stdout, indent=1)
    else:
        import yaml
        yaml.safe_dump(data, sys.stdout, sort_keys=False, width=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
