"""A DNS stand-in for the scenario's customer hosts (they do not exist in real DNS).

The watchdog resolves a handler's host before probing it (netguard) and calls only
`socket.getaddrinfo`; this wraps that function so scenario hosts answer with their `addresses`
(default DEFAULT_ADDRESS, a TEST-NET-2 address nobody routes), `behaviour: dns` hosts do not
resolve, and every other name goes to the real resolver. A scenario can map a hostile name to
127.0.0.1 or 169.254.169.254 to test that the probe refuses it.

Installed in-process by the pytest plugin (emulator/testing.py) and in child processes by
emulator/dnssite/sitecustomize.py, which the emulator's env puts on PYTHONPATH with EMULATOR_DNS
naming the JSON table. Self-contained (no package imports): sitecustomize loads it by path.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Callable, Mapping

DEFAULT_ADDRESS = "198.51.100.10"
Answers = Callable[[str], "list[str] | None"]  # None: not ours, ask the real resolver; []: no such name


def answer(hosts: Mapping[str, Any], name: str) -> list[str] | None:
    """What `name` resolves to among the world's CustomerHosts; None when it is not one."""
    spec = hosts.get(name)
    if spec is None:
        return None
    return [] if spec.behaviour == "dns" else list(spec.addresses or [DEFAULT_ADDRESS])


def table(hosts: Mapping[str, Any]) -> dict[str, list[str] | None]:
    return {name: answer(hosts, name) for name in hosts}


def _port(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    return int(port) if str(port).isdigit() else socket.getservbyname(str(port), "tcp")


def resolver(answers: Answers, real: Callable[..., Any]) -> Callable[..., Any]:
    """A getaddrinfo that asks `answers` first and `real` for names it does not know."""

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,  # noqa: A002
                    flags: int = 0) -> list[tuple[Any, ...]]:
        name = host.decode() if isinstance(host, bytes) else host
        found = answers(name.rstrip(".").lower()) if isinstance(name, str) else None
        if found is None:
            return real(host, port, family, type, proto, flags)
        out = []
        for address in found:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (0, socket.AF_UNSPEC, fam):
                continue
            sockaddr = (address, _port(port), 0, 0) if fam == socket.AF_INET6 else (address, _port(port))
            out.append((fam, type or socket.SOCK_STREAM, proto or socket.IPPROTO_TCP, "", sockaddr))
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return out

    getaddrinfo.emulator_dns = True  # type: ignore[attr-defined]
    return getaddrinfo


def install_from_file(path: str | Path) -> None:
    """For child processes: answer from a JSON table written by the emulator at start."""
    known = json.loads(Path(path).read_text())
    socket.getaddrinfo = resolver(known.get, socket.getaddrinfo)  # type: ignore[assignment]
