"""moto's server mode on loopback: the local stand-in for the AWS APIs that boto3 calls.

moto is started through `moto_server.py`, which adds CloudWatch's percentile statistics
(`p99`, …) that moto lacks before it starts moto's own server.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_trinity.services.ports import LOOPBACK, free_port
from pytest_trinity.services.process import Daemon, ServiceError


@dataclass(frozen=True)
class MotoServer:
    port: int
    daemon: Daemon

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@contextlib.contextmanager
def run_moto(port: int | None = None) -> Iterator[MotoServer]:
    """Start moto's server (with percentiles: `moto_server.py`) on 127.0.0.1 and yield its endpoint URL; stop it on exit."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise ServiceError("moto's server mode is missing: pip install 'moto[server]'") from None
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="trinity-moto-") as tmp:
        argv = [sys.executable, "-m", "pytest_trinity.services.moto_server", "-H", LOOPBACK, "-p", str(port)]
        with Daemon("moto", argv, Path(tmp), ready_ports=(port,)) as daemon:
            yield MotoServer(port, daemon)
