"""Loopback ports: pick free ones and wait until a listener answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"


def free_port(kind: str = "tcp") -> int:
    """Return a port that is free on 127.0.0.1 for `kind` ("tcp", "udp" or "both")."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port: int = s.getsockname()[1]
        if kind == "tcp":
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((LOOPBACK, port))
        except OSError:
            continue
        return port
    raise OSError("no free loopback port found")


def wait_for_tcp(port: int, timeout: float, host: str = LOOPBACK, alive: Callable[[], bool] = lambda: True) -> None:
    """Block until `host:port` accepts a TCP connection.

    `alive` is polled between attempts so a daemon that died is reported at once instead of
    after the whole timeout. Raises TimeoutError naming the address.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if not alive():
            raise ConnectionRefusedError(f"{host}:{port}: the process that should listen there has exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.0f} s")
        time.sleep(0.05)
