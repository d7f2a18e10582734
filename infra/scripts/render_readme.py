"""Render the README's generated parts: the rule reference (watchdog.checks.registry), the
configuration reference (watchdog.settings) and the table of rights in the deployment section
(watchdog.permissions).

    .venv/bin/python infra/scripts/render_readme.py          # rewrite README.md
    .venv/bin/python infra/scripts/render_readme.py --check  # exit 1 if README.md is stale

Only the text inside `<!-- section: rules -->` and `<!-- section: configuration -->`, and between
`<!-- rights-table -->` and `<!-- /rights-table -->` (inside the deployment section) is replaced.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from watchdog import permissions, settings  # noqa: E402
from watchdog.checks import registry as rules  # noqa: E402

README = ROOT / "README.md"
SECTION_END = "<!-- /section -->"

CONFIGURATION_INTRO = """\
Every setting the code reads, with its default. In Azure they are app settings of the Function
App (infra/ sets the deployment-specific ones; give any other through the `extraAppSettings`
parameter, notification URLs and secrets as Key Vault references through
`notificationSecretUris`); locally, copy `local.settings.sample.json` to `local.settings.json` or
export them. Settings marked *per target* exist once per notification target named in
`WATCHDOG_NOTIFY_TARGETS` (`<NAME>` is the target name in upper case).

This table is generated from `watchdog/settings.py` (`SETTINGS`) by
`python infra/scripts/render_readme.py`; edit the descriptions there.
"""


RULES_INTRO = """\
Every rule is a pure function of what the sweep collected (`watchdog/checks/`), so each verdict
below is tested without Azure. A finding has a rule, a check id, a severity, a one-line summary
with the numbers, the evidence behind it (plain numbers and strings: never a key, a connection
string or a URL query string) and what to do. Exit codes follow the worst severity: critical 2,
warning 1, info only or nothing 0. *needs* is what the sweep must have observed for the verdict
(a finding resolves only once those were seen again); *remedy* is the remediation that answers it.

These tables are generated from the checks each rule module declares
(`watchdog/checks/registry.py`) by `python infra/scripts/render_readme.py`.
"""


def replace_between(text: str, start: str, end: str, body: str) -> str:
    i = text.index(start) + len(start)
    j = text.index(end, i)
    return text[:i] + "\n" + body.rstrip("\n") + "\n" + text[j:]


def render(text: str) -> str:
    text = replace_between(text, "<!-- section: rules -->", SECTION_END, RULES_INTRO + "\n" + rules.markdown())
    text = replace_between(
        text,
        "<!-- section: configuration -->",
        SECTION_END,
        CONFIGURATION_INTRO + "\n" + settings.markdown_table(),
    )
    if "<!-- rights-table -->" in text:
        text = replace_between(text, "<!-- rights-table -->", "<!-- /rights-table -->", permissions.markdown_table())
    return text


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md is stale: run python infra/scripts/render_readme.py", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
