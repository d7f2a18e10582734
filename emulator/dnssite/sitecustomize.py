"""Put on PYTHONPATH by the emulator's env: child processes (the demo, the bench, `emulator run`)
resolve the scenario's customer hosts through emulator/dns.py. Does nothing without EMULATOR_DNS."""
import os

if os.environ.get("EMULATOR_DNS"):
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location("_emulator_dns", Path(__file__).resolve().parent.parent / "dns.py")
    if _spec is not None and _spec.loader is not None:
        _dns = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_dns)
        try:
            _dns.install_from_file(os.environ["EMULATOR_DNS"])
        except (OSError, ValueError):
            pass  # the emulator has stopped and taken its table along (or is writing it): real DNS only
