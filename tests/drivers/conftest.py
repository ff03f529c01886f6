"""Fixtures for the driver tests: loopback servers started as real processes (the asyncio
test servers of servers.py, Debian's nginx) and a helper to read their request counts."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a clean checkout without an install
    sys.path.insert(0, str(ROOT))

from pytest_trinity.services.ports import free_port  # noqa: E402

SERVERS = Path(__file__).with_name("servers.py")


def _raise_priority() -> None:
    """preexec_fn: run a timing-critical test server ahead of the machine's other work
    (needs root or CAP_SYS_NICE; silently keeps the normal priority otherwise)."""
    try:
        os.nice(-10)
    except OSError:
        pass


@contextlib.contextmanager
def server_process(*args: str, priority: bool = False) -> Iterator[int]:
    """Start servers.py with `args` (port is filled in) and yield the port."""
    kind = args[0]
    port = free_port("udp" if kind == "udp" else "tcp")
    proc = subprocess.Popen([sys.executable, str(SERVERS), kind, str(port), *args[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_raise_priority if priority else None)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise RuntimeError(f"test server did not start: {line}{proc.stdout.read()}")  # type: ignore[union-attr]
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]


def http_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=10) as r:
        return json.loads(r.read())


def udp_stats(port: int) -> dict[str, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"stats", ("127.0.0.1", port))
        return json.loads(s.recv(65536))


@pytest.fixture
def http_server() -> Iterator[int]:
    with server_process("http") as port:
        yield port


@pytest.fixture(scope="module")
def nginx_port() -> Iterator[int]:
    from pytest_trinity.services.nginx import run_nginx

    port = free_port()
    conf = (f"server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000;\n"
            f"  location / {{ return 200 '{{\"source\":\"syncmap\",\"price\":1}}'; }}\n"
            f"  location /nf {{ return 404 'nope'; }} }}\n")
    with run_nginx(http=conf, ready_ports=(port,)):
        yield port


def closed_port() -> int:
    """A loopback port with nothing listening."""
    return free_port()


@pytest.fixture
def cpu_count() -> int:
    return os.cpu_count() or 1
