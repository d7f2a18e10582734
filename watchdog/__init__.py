"""Web PubSub Watchdog: finds and fixes what breaks Azure Web PubSub."""
