# Plugins shared by the whole suite. Keep this a list: each plugin owner adds its own line.
pytest_plugins = [
    "tests.azurite",
    "emulator.testing",
    "tests.ledger_faults",
]
