"""Whether the process that left something behind is provably gone: same host, same pid
namespace, and no process with its pid. Anything else (another machine, another container,
an unknown namespace, a live or reused pid) is never judged dead."""

from __future__ import annotations

import os
import socket


def pid_namespace() -> str:
    """This process's pid namespace ("" when unknown: nothing is then judged dead by pid)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def host_name() -> str:
    return socket.gethostname().replace("/", "_")


def gone(host: str, namespace: str, pid: int) -> bool:
    """True when process `pid` ran here (this host and pid namespace) and no longer exists."""
    if not namespace or namespace != pid_namespace() or host != host_name() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return False
