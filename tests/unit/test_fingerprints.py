"""Key fingerprints are what the ledger keeps between sweeps: they must agree across processes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from watchdog.models import Sensitive

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdefghijABCDEFGHIJ+/0123456789="


def test_a_fingerprint_is_the_same_in_another_process() -> None:
    code = f"from watchdog.models import Sensitive; print(Sensitive({KEY!r}).fingerprint())"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == Sensitive(KEY).fingerprint()


def test_a_fingerprint_reveals_nothing_and_tells_keys_apart() -> None:
    fp = Sensitive(KEY).fingerprint()
    assert len(fp) == 16 and KEY[:8] not in fp
    assert fp != Sensitive(KEY[:-2] + "A=").fingerprint()
    assert repr(Sensitive(KEY)) == str(Sensitive(KEY)) == "Sensitive(<redacted>)"
