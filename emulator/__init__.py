"""Azure in a box: a local emulator of the Azure APIs the watchdog uses. Never imported by watchdog/."""
