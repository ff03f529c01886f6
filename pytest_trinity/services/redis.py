"""redis-server from Debian on loopback, in its own temp dir, with no persistence."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_trinity.services.ports import LOOPBACK, free_port
from pytest_trinity.services.process import Daemon, require_binary


@dataclass(frozen=True)
class RedisServer:
    port: int
    daemon: Daemon

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"


@contextlib.contextmanager
def run_redis(port: int | None = None) -> Iterator[RedisServer]:
    """Start redis-server on 127.0.0.1 (no RDB, no AOF) and yield its URL; stop it on exit."""
    binary = require_binary("redis-server", "redis-server")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="trinity-redis-") as tmp:
        argv = [
            binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", tmp, "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "10000",
        ]
        with Daemon("redis", argv, Path(tmp), ready_ports=(port,)) as daemon:
            yield RedisServer(port, daemon)
