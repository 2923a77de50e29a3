"""Listening TCP sockets of this machine, read from /proc/net/tcp."""

from __future__ import annotations

import socket
from pathlib import Path

_LISTEN = "0A"


def listening() -> set[tuple[str, int]]:
    """Every (IPv4 address, port) something listens on."""
    found: set[tuple[str, int]] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN:
            continue
        address_hex, port_hex = fields[1].split(":")
        # /proc shows the address as a little-endian 32-bit number.
        octets = [str(int(address_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)]
        found.add((".".join(octets), int(port_hex, 16)))
    return found


def hold_address(host: str) -> socket.socket:
    """A socket listening on `host` (on any free port), seen by `listening()` until it is closed."""
    sock = socket.socket()
    try:
        sock.bind((host, 0))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock
