"""Free loopback ports for the servers and rendezvous the tests start, taken below the kernel's
ephemeral range: a port from that range can become the local port of an outgoing connection
(the Prefect clients make many, twice as many with two test workers) between the moment it was
found free and the moment its server binds it, or between two rounds that bind it again."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(count: int) -> list[int]:
    """`count` distinct ports below the ephemeral range that are free now."""
    low = _ephemeral_low()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    found: list[int] = []
    for _ in range(100 * count):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in found:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"no {count} free ports found below {low}")


def free_port() -> int:
    """One free port below the ephemeral range."""
    return free_ports(1)[0]
