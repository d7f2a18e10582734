"""The status page in a real browser: headless Chromium loads the page the HTTP function served on
the demo scenario (with a hostile tag planted) and the tests read the rendered DOM.

Screenshots at desktop and phone widths land in test-output/status-page/ (`make screenshots`
copies them to docs/).
"""
from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Iterator

import azure.functions as func
import pytest
import yaml

from emulator.runtime import Emulator
from emulator.scenario import SCENARIO_DIR
from tests.browser.cdp import Browser, Page, find_chromium
from tests.functions.test_functions_e2e import Timer
from tests.functions.test_wiring import Out, functions

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "status-page"
HOSTILE = "<img src=x onerror=alert(1)>"
WIDTHS = {"desktop": (1280, False), "phone": (390, True)}
PHONE_SCREENS = 2  # the phone picture: the first two screens (the full page is a long scroll of cards)



def _scenario() -> dict:
    data = yaml.safe_load((SCENARIO_DIR / "demo.yaml").read_text())
    group = data["subscriptions"][0]["resource_groups"][0]
    free_dev = next(r for r in group["webpubsub"] if r["name"] == "free-dev")
    free_dev["tags"]["owner"] = HOSTILE  # tags are whatever anyone with tag write access typed
    return data


class _Served:
    def __init__(self, response: func.HttpResponse, writes: list[str]) -> None:
        self.response, self.writes = response, writes
        self.body = response.get_body()
        # The host builds Content-Type from mimetype and charset; the rest are the function's own headers.
        self.headers = {**dict(response.headers), "Content-Type": f"{response.mimetype}; charset={response.charset}"}


def _serve(pages: dict[str, tuple[bytes, dict[str, str]]]) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body, headers = pages.get(self.path.split("?")[0], (b"not found", {"Content-Type": "text/plain"}))
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    """One sweep through the HTTP function, as a browser asks for it (Accept: text/html)."""
    with pytest.MonkeyPatch.context() as mp, Emulator(_scenario()) as emulator:
        emulator.apply_env(mp)
        mp.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
        mp.setenv("WATCHDOG_LEDGER", "sqlite")
        mp.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path_factory.mktemp("ledger") / "watchdog.sqlite3"))
        mp.setenv("WATCHDOG_STATUS_URL", "https://watchdog.contoso.com/api/check")
        functions()["sweep"].get_user_function()(Timer())  # the page shows the timer's latest report
        emulator.journal.clear()
        request = func.HttpRequest(method="GET", url="https://watchdog.azurewebsites.net/api/check", params={},
                                   body=b"", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        response = functions()["check"].get_user_function()(request, Out())
        yield _Served(response, [e.op for e in emulator.journal.writes()])


@pytest.fixture(scope="module")
def site(served: _Served) -> Iterator[str]:
    headers = {"Content-Type": served.headers["Content-Type"],
               "Content-Security-Policy": served.headers["Content-Security-Policy"],
               "X-Content-Type-Options": served.headers["X-Content-Type-Options"]}
    # The same page with one byte of its script changed: its hash no longer matches the CSP.
    tampered = served.body.replace(b"// Optional:", b"// optional:", 1)
    assert tampered != served.body
    server, url = _serve({"/status": (served.body, headers), "/tampered": (tampered, headers)})
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:  # `make test` installs it first; never a silent skip
        pytest.fail("no chromium on PATH: run `make chromium` (installs Debian's chromium package)")
    chromium = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    tab = browser.new_page()
    tab.set_width(1280)
    yield tab
    tab.close()


def _rows(page: Page) -> list[dict]:
    return page.evaluate("""Array.from(document.querySelectorAll("#resources tbody tr")).map((tr) => ({
        name: tr.dataset.name, state: tr.className, visible: tr.getClientRects().length > 0,
        units: Number(tr.cells[3].dataset.key)}))""")


def test_the_http_function_serves_a_self_contained_page_under_a_strict_policy(served: _Served) -> None:
    assert served.response.status_code == 200
    assert set(served.writes) <= {"arm.listKeys"}  # the page changes nothing (listKeys is a POST that reads)
    assert served.headers["Content-Type"] == "text/html; charset=utf-8"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(d.strip().split(" ", 1) for d in served.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["style-src"].startswith("'sha256-") and policy["script-src"].startswith("'sha256-")
    body = served.body.decode()
    assert HOSTILE not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<link" not in body and "src=" not in body.replace("&lt;img src=x", "")  # loads nothing
    for secret in ("demo-function-key", "demo-signature", "sig=", "code=", "AccessKey"):
        assert secret not in body


def demo_names() -> list[str]:
    """The demo scenario's Web PubSub resources, sorted."""
    demo = yaml.safe_load((SCENARIO_DIR / "demo.yaml").read_text())
    return sorted(w["name"] for sub in demo["subscriptions"] for group in sub["resource_groups"]
                  for w in group.get("webpubsub", []))


def test_critical_rows_come_first_and_every_resource_is_listed(page: Page, site: str) -> None:
    page.open(f"{site}/status")
    rows = _rows(page)
    states = [r["state"] for r in rows]
    assert sorted(r["name"] for r in rows) == demo_names()
    rank = {"sev-critical": 0, "sev-warning": 1, "sev-ok": 2}
    assert [rank[s] for s in states] == sorted(rank[s] for s in states)
    assert {r["name"] for r in rows if r["state"] == "sev-critical"} >= {"chat-prod", "free-dev", "notify-prod"}
    assert rows[-1]["state"] == "sev-ok"
    assert page.problems() == []
    assert page.evaluate("window.__cspViolations") == []


def test_a_hostile_tag_is_rendered_as_text(page: Page, site: str) -> None:
    page.open(f"{site}/status")
    assert page.evaluate("document.querySelectorAll('img, [onerror]').length") == 0
    tags = page.evaluate("document.querySelector('tr[data-name=\"free-dev\"] .tags').textContent")
    assert f"owner={HOSTILE}" in tags
    assert page.events("Page.javascriptDialogOpening") == []


def test_the_severity_filter_works_without_script(page: Page, site: str) -> None:
    page.set_width(1280, scripts=False)
    page.open(f"{site}/status")
    assert all(r["visible"] for r in _rows(page))
    page.evaluate("document.getElementById('show-critical').click()")
    rows = _rows(page)
    assert {r["state"] for r in rows if r["visible"]} == {"sev-critical"}
    assert {r["state"] for r in rows if not r["visible"]} >= {"sev-ok"}
    page.evaluate("document.getElementById('show-warning').click()")
    assert {r["state"] for r in _rows(page) if r["visible"]} <= {"sev-critical", "sev-warning"}
    assert page.evaluate("document.getElementById('name-filter').closest('p').hidden") is True


def test_the_filter_is_reachable_by_keyboard(page: Page, site: str) -> None:
    page.open(f"{site}/status")
    for _ in range(10):
        page.key("Tab", "Tab", key_code=9)
        if page.evaluate("document.activeElement.name") == "show":
            break
    assert page.evaluate("document.activeElement.id") == "show-all"
    page.key("ArrowRight", "ArrowRight", key_code=39)
    page.key("ArrowRight", "ArrowRight", key_code=39)
    assert page.evaluate("document.activeElement.id") == "show-critical"
    assert {r["state"] for r in _rows(page) if r["visible"]} == {"sev-critical"}
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_sorting_and_the_name_filter_work_with_script(page: Page, site: str) -> None:
    page.open(f"{site}/status")
    page.evaluate("document.querySelectorAll('#resources th button')[3].click()")  # Units
    units = [r["units"] for r in _rows(page)]
    assert units == sorted(units) and units != [r["units"] for r in reversed(_rows(page))]
    assert page.evaluate("document.querySelectorAll('#resources th')[3].getAttribute('aria-sort')") == "ascending"
    page.evaluate("""const box = document.getElementById('name-filter'); box.value = 'prod';
                     box.dispatchEvent(new Event('input'))""")
    assert sorted(r["name"] for r in _rows(page) if r["visible"]) == [n for n in demo_names() if "prod" in n]
    assert "chat-prod" in demo_names() and "presence-eu" not in [n for n in demo_names() if "prod" in n]
    assert page.problems() == [] and page.evaluate("window.__cspViolations") == []


def test_a_script_that_does_not_match_its_hash_is_blocked_and_seen(page: Page, site: str) -> None:
    # The check above can fail: the same page with a changed script is caught by the same probes.
    page.open(f"{site}/tampered")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__cspViolations"))
    assert any("Content Security Policy" in p for p in page.problems())
    assert page.evaluate("document.getElementById('name-filter').closest('p').hidden") is True


# WCAG 2 contrast of every text node's colour against the first opaque background behind it.
_CONTRAST = """(() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] === 1) return c.slice(0, 3); } return [255, 255, 255]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const worst = [];
  for (let node; (node = walker.nextNode());) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.getClientRects().length || el.closest("script, style, .skip")) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(`${ratio.toFixed(2)} ${node.textContent.trim().slice(0, 40)}`);
  }
  return worst;
})()"""


def test_every_text_has_enough_contrast_and_the_page_has_landmarks(page: Page, site: str) -> None:
    page.open(f"{site}/status")
    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate("['header', 'main', 'footer', 'h1', 'table caption', 'th[scope=col]']"
                         ".every((s) => document.querySelector(s))") is True
    assert page.evaluate("document.documentElement.lang") == "en"
    page.evaluate("document.querySelector('h1').style.color = '#bbbbbb'")  # the probe can fail
    assert [t for t in page.evaluate(_CONTRAST) if "Web PubSub watchdog status" in t]


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshots_at_desktop_and_phone_widths(page: Page, site: str, width: str) -> None:
    pixels, mobile = WIDTHS[width]
    page.set_width(pixels, mobile=mobile)
    page.open(f"{site}/status")
    # Readable on a phone: nothing wider than the screen, every resource's state visible.
    assert page.evaluate("document.documentElement.scrollWidth") <= pixels
    assert all(r["visible"] for r in _rows(page))
    page.screenshot(OUTPUT / f"status-{width}.png", max_height=PHONE_SCREENS * 844 if mobile else None)
    assert (OUTPUT / f"status-{width}.png").stat().st_size > 10_000
    assert page.problems() == []
