"""Web PubSub Watchdog: finds and fixes what breaks Azure Web PubSub."""

__version__ = "0.1.0"  # the one version constant (`python -m watchdog --version`)
