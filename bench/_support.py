"""Shared pieces of the driver benchmarks: the fixed-cost nginx target (123-byte
`return 200`, keep-alive, loopback) and running a child process with its CPU time measured.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_trinity.services.nginx import run_nginx  # noqa: E402
from pytest_trinity.services.ports import free_port  # noqa: E402

BODY_123 = "x" * 123


def static_site_conf(port: int, body: str = BODY_123) -> str:
    """nginx `http {}` body: one keep-alive server answering every path with `body`."""
    return (f"server {{\n  listen 127.0.0.1:{port} backlog=65535 reuseport;\n"
            f"  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n"
            f"  location / {{ return 200 \"{body}\"; }}\n}}\n")


@contextlib.contextmanager
def fixed_cost_nginx(worker_connections: int = 4096) -> Iterator[int]:
    port = free_port()
    with run_nginx(http=static_site_conf(port), ready_ports=(port,), worker_connections=worker_connections):
        yield port


def run_measured(argv: list[str]) -> tuple[str, float, float]:
    """Run `argv`; return (stdout, wall seconds, CPU seconds of the child, user+sys)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}:\n{out}")
    return out, time.monotonic() - t0, ru.ru_utime + ru.ru_stime


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
