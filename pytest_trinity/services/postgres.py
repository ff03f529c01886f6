"""PostgreSQL from Debian on loopback: a throw-away cluster made with initdb for one run.

PostgreSQL refuses to run as root, so when we are root the cluster is created and run as
the `postgres` user that the Debian package adds.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_trinity.services.ports import LOOPBACK, free_port
from pytest_trinity.services.process import Daemon, ServiceError, require_binary

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PostgresServer:
    port: int
    daemon: Daemon

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"


def _bin_dirs() -> tuple[str, ...]:
    return tuple(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))


def _demote() -> tuple[Callable[[], None], pwd.struct_passwd] | None:
    """preexec_fn: become the `postgres` user when running as root."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("running as root needs the 'postgres' user: install the Debian package 'postgresql'") from None

    def demote() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return demote, user


def _wait_accepting(port: int, daemon: Daemon, timeout: float = READY_TIMEOUT_S) -> None:
    """Until the server accepts connections: its port opens while it is still "starting up"."""
    isready = require_binary("pg_isready", "postgresql", _bin_dirs())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([isready, "-q", "-h", LOOPBACK, "-p", str(port), "-U", "postgres"], capture_output=True, timeout=10)
        if done.returncode == 0:
            return
        if not daemon.alive():
            raise ServiceError(f"postgres exited while starting; its log says:\n{daemon.log_tail()}")
        time.sleep(0.1)
    raise ServiceError(f"postgres on {LOOPBACK}:{port} did not accept connections within {timeout:.0f} s")


@contextlib.contextmanager
def run_postgres(port: int | None = None) -> Iterator[PostgresServer]:
    """initdb a fresh cluster (trust auth, fsync off) and run it on 127.0.0.1; remove it on exit."""
    initdb = require_binary("initdb", "postgresql", _bin_dirs())
    postgres = require_binary("postgres", "postgresql", _bin_dirs())
    port = port or free_port()
    demoted = _demote()
    preexec = demoted[0] if demoted else None
    tmp = tempfile.mkdtemp(prefix="trinity-pg-")
    try:
        workdir = Path(tmp)
        if demoted:
            shutil.chown(tmp, demoted[1].pw_uid, demoted[1].pw_gid)
        data = workdir / "data"
        init = subprocess.run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
            capture_output=True, text=True, preexec_fn=preexec, cwd=tmp,
        )
        if init.returncode != 0:
            raise ServiceError(f"initdb failed:\n{init.stderr.strip() or init.stdout.strip()}")
        argv = [
            postgres, "-D", str(data), "-h", LOOPBACK, "-p", str(port), "-k", tmp,
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=500",
        ]
        with Daemon("postgres", argv, workdir, ready_ports=(port,), preexec=preexec) as daemon:
            _wait_accepting(port, daemon)
            yield PostgresServer(port, daemon)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
