"""The event-latency benchmark end to end on two trials: every figure is measured (none missing)
and the table renders. Timings are not asserted beyond the 60-second goal: this machine's speed
is not under test, but an event path that needed the timer would miss it by minutes."""
from __future__ import annotations

import pytest

from bench import events
from tests.functions.test_wiring import functions

pytestmark = pytest.mark.integration


def test_event_latency_bench_measures_every_trial_and_renders(tmp_path) -> None:
    result = events.run(trials=2, delay=0.2, jitter=0.1, functions=functions(), log=lambda _m: None)
    ev, tm = result["events"], result["timer"]
    assert ev["card"]["n"] == 2 and ev["card"]["missing"] == 0, "a card for every trial"
    assert ev["fixed_and_proven"]["missing"] == 0 and tm["sweep_to_card"]["missing"] == 0
    assert ev["card"]["worst_s"] < 60 < tm["card_median_s"]
    table = events.markdown(result)
    assert "| Event Grid → events function |" in table and "| timer only" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{events.BEGIN}\nold\n{events.END}\nafter\n")
    events.update_readme(result, readme)
    assert readme.read_text() == f"before\n{events.BEGIN}\n{table}\n{events.END}\nafter\n"
