"""Start and stop the emulator, in-process (tests) or for a CLI; the control API lives here."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from . import clock, dns, sites
from . import scenario as scenario_mod
from .faults import FaultSet
from .server import HttpsApp, apply_before, Journal, JournalEntry, Proxy, issue_token, tls_context
from .services import all_services
from .tls import Authority
from .world import Delivery, Denial, World, utcnow

LOOPBACK = "127.0.0.1"
DNS_SITE = Path(__file__).resolve().parent / "dnssite"


class Emulator:
    """A running emulated Azure. Use as a context manager, or start()/stop()."""

    def __init__(self, scenario: str | Path | dict[str, Any] | World = "demo", state_dir: Path | None = None) -> None:
        self.world = scenario if isinstance(scenario, World) else scenario_mod.load(scenario)
        self.journal = Journal()
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="wps-emulator-"))
        self.identity_header = secrets.token_urlsafe(24)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="azure-emulator", daemon=True)
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.base_events.Server] = []
        self.proxy_port = self.https_port = self.http_port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Emulator":
        clock.reset()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    async def _start(self) -> None:
        authority = Authority(self.state_dir / "tls")
        self.ca_bundle = authority.bundle_path
        https = HttpsApp(self.world, all_services(self.world), self.journal)
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", https.handle)
        self.https_port = await self._serve(app, tls_context(authority, self.world))
        self.http_port = await self._serve(self._control_app(), None)
        proxy = Proxy(self.world, self.https_port, self.journal)
        server = await asyncio.start_server(proxy.handle, LOOPBACK, 0)
        self._servers.append(server)
        self.proxy_port = server.sockets[0].getsockname()[1]
        self.dns_table.write_text(json.dumps(dns.table(self.world.hosts)))

    async def _serve(self, app: web.Application, ssl_context) -> int:  # noqa: ANN001
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context, backlog=1024)
        await site.start()
        self._runners.append(runner)
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def _stop() -> None:
            for server in self._servers:
                server.close()
            # Open tunnels (keep-alive clients) and calls a fault holds (hangs, trickles) end first:
            # the runners' cleanup would otherwise wait for them.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        clock.reset()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a client needs -----------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        proxy = f"http://{LOOPBACK}:{self.proxy_port}"
        return {
            "HTTPS_PROXY": proxy, "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle), "SSL_CERT_FILE": str(self.ca_bundle),
            "IDENTITY_ENDPOINT": f"http://{LOOPBACK}:{self.http_port}/msi/token",
            "IDENTITY_HEADER": self.identity_header,
            "AZURE_SUBSCRIPTION_ID": self.world.subscriptions[0],
            "AZURE_TENANT_ID": self.world.tenant_id,
            "EMULATOR_ADMIN_URL": f"http://{LOOPBACK}:{self.http_port}/admin",
            "EMULATOR_SCENARIO": self.world.name,
            # Child processes resolve the scenario's customer hosts through emulator/dns.py.
            "EMULATOR_DNS": str(self.dns_table),
            "PYTHONPATH": os.pathsep.join(p for p in (str(DNS_SITE), os.environ.get("PYTHONPATH", "")) if p),
        }

    @property
    def dns_table(self) -> Path:
        return self.state_dir / "dns.json"

    def apply_env(self, monkeypatch) -> None:  # noqa: ANN001 - pytest's MonkeyPatch
        for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE",
                     "MSI_ENDPOINT", "MSI_SECRET", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def vault_urls(self) -> list[str]:
        return [v.url for v in self.world.vaults.values()]

    def deliveries(self, host: str) -> list[Delivery]:
        return list(self.world.hosts[host.lower()].deliveries)

    # -- changing the world mid-run ----------------------------------------------------------

    def regenerate_key(self, resource: str, which: str = "primary") -> None:
        self.world.regenerate_key(self._resource_id(resource), which)

    def set_capacity(self, resource: str, capacity: int) -> None:
        self.world.set_capacity(self._resource_id(resource), capacity)

    @property
    def faults(self) -> FaultSet:
        """The fault rules: `emulator.faults.add(service="metrics", operation="getBatch", status=403)`."""
        return self.world.faults

    def delete_resource(self, resource: str) -> None:
        """Delete a Web PubSub resource (name or id) as a person in the portal would."""
        self.world.delete_resource(self._resource_id(resource))

    def deny(self, service: str, scope: str = "", action: str = "", role: str = "") -> None:
        with self.world.lock:
            self.world.denials.append(Denial(service, self._scope(scope), action, role))

    def allow_all(self) -> None:
        with self.world.lock:
            self.world.denials.clear()

    # -- time travel and App Service consumers (emulator/clock.py, emulator/sites.py) ---------

    def now(self) -> datetime:
        """The emulated Azure's time: pass it as the watchdog's `now` after time travel."""
        return clock.now()

    def advance_clock(self, delta: timedelta) -> datetime:
        return clock.advance(delta)

    def add_site(self, name: str, settings: dict[str, str], *, resource_group: str = "rg-apps",
                 subscription: str | None = None, **options: Any) -> sites.Site:
        return sites.add_site(self.world, subscription or self.world.subscriptions[0], resource_group, name,
                              settings=settings, **options)

    def site(self, name: str) -> sites.Site:
        found = next((s for s in self.world.sites.values() if s.name.lower() == name.lower()), None)
        if found is None:
            raise KeyError(f"no site named {name!r}")
        return found

    def consume(self, name: str) -> sites.ConsumerCall:
        """The app `name` makes one data-plane call with the connection string it resolved last."""
        return sites.consume(self.world, self.site(name), f"http://{LOOPBACK}:{self.proxy_port}", str(self.ca_bundle))

    def consume_all(self) -> dict[str, sites.ConsumerCall]:
        """Every app with a consumer makes one call now: site name -> its answer (a rotation test
        calls this between steps to show no consumer was ever rejected)."""
        with self.world.lock:
            consumers = [s for s in self.world.sites.values() if s.consumer_setting is not None]
        proxy = f"http://{LOOPBACK}:{self.proxy_port}"
        return {s.name: sites.consume(self.world, s, proxy, str(self.ca_bundle)) for s in consumers}

    def _resource_id(self, resource: str) -> str:
        return resource if resource.startswith("/") else self.world.resource_by_name(resource).id

    def _scope(self, scope: str) -> str:
        if scope and not scope.startswith("/") and "." not in scope:
            try:
                return self.world.resource_by_name(scope).id
            except KeyError:
                return scope
        return scope

    # -- the plain-HTTP side: managed identity and admin -------------------------------------

    def _control_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/msi/token", self._token)
        app.router.add_get("/admin/journal", self._admin_journal)
        app.router.add_get("/admin/env", self._admin_env)
        app.router.add_get("/admin/deliveries/{host}", self._admin_deliveries)
        app.router.add_get("/admin/faults", self._admin_faults)
        app.router.add_post("/admin/faults", self._admin_add_faults)
        app.router.add_delete("/admin/faults", self._admin_clear_faults)
        app.router.add_delete("/admin/faults/{id}", self._admin_clear_faults)
        app.router.add_post("/admin/{action}", self._admin_action)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return web.json_response({"error": "invalid_request",
                                      "error_description": "X-IDENTITY-HEADER is missing or wrong"}, status=401)
        resource = request.query.get("resource")
        if not resource:
            return web.json_response({"error": "invalid_request", "error_description": "resource is required"},
                                     status=400)
        plan = self.world.faults.plan("identity", "identity.token", "GET", LOOPBACK, "/msi/token", resource.encode())
        faulted = await apply_before(plan, request, lambda f: web.json_response(
            {"error": f.error_code(), "error_description": f.message or f"Emulated identity failure (fault {f.id})."},
            status=f.status or 500, headers=f.headers()))
        self.journal.add(_identity_entry(resource, faulted.status if faulted else 200, ",".join(plan.ids)))
        return faulted or web.json_response(issue_token(self.world, resource))

    async def _admin_env(self, request: web.Request) -> web.Response:
        return web.json_response(self.env)

    async def _admin_journal(self, request: web.Request) -> web.Response:
        return web.json_response([e.to_json() for e in self.journal])

    async def _admin_deliveries(self, request: web.Request) -> web.Response:
        host = request.match_info["host"].lower()
        if host not in self.world.hosts:
            return web.json_response({"error": f"no customer host {host!r} in the scenario"}, status=404)
        return web.json_response([{"at": d.at.isoformat(), "method": d.method, "path": d.path,
                                   "headers": d.headers, "body": d.body.decode("utf-8", "replace"),
                                   "status": d.status} for d in self.deliveries(host)])

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return web.json_response([f.to_json() for f in self.world.faults])

    async def _admin_add_faults(self, request: web.Request) -> web.Response:
        """A rule or a list of rules, as a scenario's `faults:` holds them; answers their ids."""
        try:
            rules = await request.json()
            added = self.world.faults.extend(rules if isinstance(rules, list) else [rules])
        except (ValueError, TypeError) as exc:  # FaultError is a ValueError
            return web.json_response({"error": f"bad fault: {exc}"}, status=400)
        return web.json_response({"ids": [f.id for f in added]})

    async def _admin_clear_faults(self, request: web.Request) -> web.Response:
        fid = request.match_info.get("id")
        try:
            self.world.faults.remove(fid) if fid else self.world.faults.clear(request.query.get("service"))
        except KeyError as exc:
            return web.json_response({"error": exc.args[0]}, status=404)
        return web.json_response({"ok": True})

    async def _admin_action(self, request: web.Request) -> web.Response:
        try:
            args = await request.json()
            action = request.match_info["action"]
            if action == "regenerate-key":
                self.regenerate_key(args["resource"], args.get("key", "primary"))
            elif action == "capacity":
                self.set_capacity(args["resource"], int(args["capacity"]))
            elif action == "deny":
                self.deny(args["service"], args.get("scope", ""), args.get("action", ""), args.get("role", ""))
            elif action == "delete-resource":
                self.delete_resource(args["resource"])
            elif action == "allow-all":
                self.allow_all()
            elif action == "advance-clock":
                now = self.advance_clock(timedelta(minutes=float(args["minutes"])))
                return web.json_response({"ok": True, "now": now.isoformat()})
            elif action == "add-site":
                site = self.add_site(args["name"], dict(args["settings"]), resource_group=args.get("resource_group", "rg-apps"),
                                     kind=args.get("kind", "app"), denied=tuple(args.get("denied", ())),
                                     consumer=args.get("consumer"), hub=args.get("hub", "chat"))
                return web.json_response({"ok": True, "id": site.id})
            elif action == "consume":
                # Blocking HTTP through our own proxy: run it off the event loop.
                done = await asyncio.get_running_loop().run_in_executor(None, self.consume, args["site"])
                return web.json_response({"ok": True, "status": done.status, "detail": done.detail})
            else:
                return web.json_response({"error": f"unknown admin action {action!r}"}, status=404)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"error": f"bad admin request: {exc}"}, status=400)
        return web.json_response({"ok": True})


def _identity_entry(resource: str, status: int, faults: str) -> JournalEntry:
    return JournalEntry(utcnow(), "GET", LOOPBACK, "/msi/token", f"resource={resource}", status, 0.0, "identity",
                        "identity.token", faults=faults)


def write_env_file(env: dict[str, str], path: Path) -> None:
    """A file to `source` (sh) or read as dotenv."""
    path.write_text("".join(f"export {k}={json.dumps(v)}\n" for k, v in env.items()))


def child_env(emulator: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PROXY", "http_proxy")}
    env.update(emulator.env)
    return env
