"""The sweep, stage by stage: pipeline.py (run_sweep, observe, the hooks after diagnosis),
runner.py (pools and error capture), schedule.py (the collector waves), budget.py (which cold
ARM reads fit before the deadline). Each source's submit and fold logic lives beside its
collector in watchdog/collect/."""
from __future__ import annotations

from watchdog.collect.caches import Caches
from watchdog.sweep.pipeline import Observed, SweepContext, notification_stage, observe, remediation_stage, run_sweep

__all__ = ["Caches", "Observed", "SweepContext", "notification_stage", "observe", "remediation_stage", "run_sweep"]
