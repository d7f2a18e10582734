"""Event-driven checks: Event Grid tells the watchdog the moment a Web PubSub resource or a
watched Key Vault secret changes, and the one thing that changed is swept at once (types.py:
the event names; parse.py: both delivery schemas to one Change; gate.py: what the ledger says
about an event; handle.py: event -> scoped sweep)."""
