"""`make demo`: the watchdog's CLI, unmodified, against the emulated demo subscription.

Three sweeps, as a platform team would try it: a dry run that shows the plan, a sweep that acts
(and proves what it did), and a sweep afterwards. Then what Teams and the webhook received, what
the watchdog asked of "Azure", and the status page the HTTP function serves a browser.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .runtime import Emulator, child_env

TEAMS_HOST = "prod-27.westeurope.logic.azure.com"
WEBHOOK_HOST = "hooks.contoso.com"
STATUS_PAGE = Path(".state") / "status.html"
STEPS = (
    ("1. Dry run: what is wrong, and what the watchdog would do", ["--plan", "--notify"]),
    ("2. Remediate: fix what is safe to fix, with proof", ["--remediate", "--notify"]),
    ("3. The next sweep", ["--notify"]),
)


def _banner(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def demo_env(emulator: Emulator, state: Path) -> dict[str, str]:
    env = child_env(emulator)
    env.update({
        "WATCHDOG_KEY_VAULTS": ",".join(emulator.vault_urls()),
        "WATCHDOG_SQLITE_PATH": str(state / "watchdog.sqlite3"),
        "WATCHDOG_NOTIFY_TARGETS": "teams,ops",
        "WATCHDOG_NOTIFY_TEAMS_KIND": "teams",
        "WATCHDOG_NOTIFY_TEAMS_URL": f"https://{TEAMS_HOST}/workflows/demo/triggers/manual/paths/invoke?sig=demo-sig",
        "WATCHDOG_NOTIFY_OPS_KIND": "webhook",
        "WATCHDOG_NOTIFY_OPS_URL": f"https://{WEBHOOK_HOST}/watchdog",
        "WATCHDOG_NOTIFY_OPS_SECRET": "demo-hmac-secret",
        "WATCHDOG_NOTIFY_OPS_MIN_SEVERITY": "critical",
    })
    return env


class _Tick:
    """What the Functions host hands the timer: a tick on time."""

    past_due = False


class _Unused:
    """The background-run queue output; a GET never queues a run."""

    def set(self, value: str) -> None:
        raise AssertionError("a GET queued a background run")


def write_status_page(env: dict[str, str], path: Path) -> Path:
    """Ask the HTTP function for the page as a browser would (Accept: text/html) and save it."""
    import azure.functions as func

    os.environ.update({**env, "WATCHDOG_LEDGER": "sqlite"})  # the CLI's ledger; the demo process ends next
    from function_app import app

    functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    # GET /api/check answers with the timer's latest report: let the timer sweep once first.
    functions["sweep"](_Tick())
    response = functions["check"](func.HttpRequest(method="GET", url="http://localhost:7071/api/check", params={},
                                                   body=b"", headers={"Accept": "text/html"}), runs=_Unused())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(response.get_body())
    return path.resolve()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="watchdog-demo-") as tmp, Emulator("demo") as emulator:
        env = demo_env(emulator, Path(tmp))
        for title, flags in STEPS:
            _banner(f"{title}\n$ python -m watchdog check {' '.join(flags)}")
            code = subprocess.call([sys.executable, "-m", "watchdog", "check", *flags], env=env)
            print(f"(exit code {code}: 0 healthy, 1 warnings, 2 critical)")
            if code > 2:
                print("demo: the watchdog failed; see the message above", file=sys.stderr)
                return code
        _banner("What Microsoft Teams received (Workflows webhook, Adaptive Card), latest message")
        teams = emulator.deliveries(TEAMS_HOST)
        print(f"{len(teams)} message(s) accepted with 202")
        if teams:
            print(json.dumps(teams[-1].json(), indent=2, ensure_ascii=False)[:6000])
        _banner("What the generic webhook received (critical only)")
        for delivery in emulator.deliveries(WEBHOOK_HOST):
            body = delivery.json()
            alerts = [f"{a['data']['essentials']['monitorCondition']} {a['data']['essentials']['alertRule']}"
                      f" on {a['data']['essentials']['configurationItems'][0]}" for a in body["alerts"]]
            print(f"delivery {body['deliveryId'][:12]}, signed {delivery.headers.get('X-Watchdog-Signature', '')[:19]}..., "
                  f"answered {delivery.status}: {'; '.join(alerts) or 'no alerts'}")
        _banner("What the watchdog asked of Azure (the emulator's journal)")
        calls = Counter(f"{e.service}:{e.op or e.method}" for e in emulator.journal if e.service != "proxy")
        for op, count in sorted(calls.items()):
            print(f"  {count:4d}  {op}")
        print(f"  writes: {[f'{e.method} {e.op}' for e in emulator.journal.writes()]}")
        _banner("The status page (GET /api/check from a browser)")
        page = write_status_page(env, STATUS_PAGE)
        print(f"Written to {page}\nOpen file://{page} in a browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
