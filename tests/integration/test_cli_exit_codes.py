"""The CLI's exit codes, as a CI gate reads them: a sweep's verdict, bad usage, bad configuration,
and 5 when the watchdog itself fails (never 0 or 1, which a gate would pass)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import watchdog
from watchdog import cli

ROOT = Path(__file__).resolve().parents[2]
SECRET = "AccountKey=c2VjcmV0LWNhbmFyeS1rZXk="


@pytest.mark.parametrize("argv, code", [
    (["check", "--resource", "presence-eu"], 0),  # info findings only
    (["check", "--resource", "chat-prod"], 2),  # a stale key: critical
    (["check", "--plan", "--resource", "chat-prod", "--format", "json"], 2),
    (["check", "--resource", "a b"], 3),  # malformed name
    (["check", "--subscription", "not-a-guid"], 3),
    (["check", "--plan", "--remediate"], 3),
    (["check", "--colour"], 3),  # unknown flag
    (["sweep"], 3),  # unknown command
])
def test_exit_codes_of_a_sweep_and_of_bad_usage(emulator, monkeypatch, tmp_path, capsys, argv, code) -> None:
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    try:
        assert cli.main(argv) == code
    except SystemExit as exit_:  # argparse's own exits (usage)
        assert exit_.code == code
    assert "Traceback" not in capsys.readouterr().err


def test_subscription_alone_is_enough(emulator, monkeypatch, tmp_path, capsys) -> None:
    subscription = os.environ["AZURE_SUBSCRIPTION_ID"]
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    monkeypatch.delenv("WATCHDOG_SUBSCRIPTIONS", raising=False)
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    assert cli.main(["check", "--subscription", subscription, "--resource", "presence-eu"]) == 0
    assert "presence-eu" in capsys.readouterr().out


@pytest.mark.parametrize("env, code, says", [
    ({"AZURE_SUBSCRIPTION_ID": "", "WATCHDOG_SUBSCRIPTIONS": ""}, 4, "AZURE_SUBSCRIPTION_ID"),
    ({"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001", "WATCHDOG_WINDOW_MINUTES": "soon"}, 4,
     "WATCHDOG_WINDOW_MINUTES"),
])
def test_a_configuration_error_exits_4_naming_the_setting(monkeypatch, capsys, env, code, says) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["check"]) == code
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_version_prints_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"watchdog {watchdog.__version__}"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("flag, tty, env, expected", [
    (None, True, {}, True),
    (None, False, {}, False),
    (None, True, {"NO_COLOR": "1"}, False),
    (None, True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
    (True, False, {"NO_COLOR": "1"}, True),  # an explicit --color wins
    (False, True, {}, False),
])
def test_colour_follows_the_terminal_and_no_color(flag, tty, env, expected) -> None:
    assert cli.use_color(flag, _Stream(tty), env) is expected


_CRASH = """
import sys
import watchdog.sweep
from watchdog import cli

def run_sweep(*args, **kwargs):
    connection = "Endpoint=https://x.webpubsub.azure.com;{secret};Version=1.0"
    raise RuntimeError("could not sweep with " + connection)

watchdog.sweep.run_sweep = run_sweep
sys.exit(cli.main(sys.argv[1:]))
""".replace("{secret}", SECRET)


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_exits_5_with_one_line_and_no_secret(tmp_path, debug) -> None:
    env = {**os.environ, "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
           "WATCHDOG_SQLITE_PATH": str(tmp_path / "ledger.sqlite3")}
    argv = ["check", *(["--debug"] if debug else [])]
    done = subprocess.run([sys.executable, "-c", _CRASH, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 5
    first = done.stderr.splitlines()[0]
    assert first.startswith("watchdog: internal error: builtins.RuntimeError in run_sweep")
    assert SECRET not in first
    if debug:
        assert "Traceback" in done.stderr
    else:
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
