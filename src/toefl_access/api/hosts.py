"""Is a host this machine? One answer for the client, the mock, the alerts and ``serve``."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["is_loopback"]


def is_loopback(host: str, *, resolve: bool = False) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``, brackets allowed).

    With ``resolve``, a name is looked up and must name loopback addresses only.
    """
    host = host.strip("[]")
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not resolve:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )
