"""One daemon process: start it with its log in a work dir, wait until ready, stop it for sure."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_trinity.services.ports import wait_for_tcp


class ServiceError(RuntimeError):
    """A daemon could not be found, started or made ready; the message says what to fix."""


def require_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """Return the path of `name`, or raise ServiceError naming the Debian package to install."""
    path = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path is None:
        raise ServiceError(f"{name} not found: install the Debian package '{package}' (apt-get install -y {package})")
    return path


@dataclass
class Daemon:
    """A started daemon. Use as a context manager, or call `stop()`; both are idempotent."""

    name: str
    argv: list[str]
    workdir: Path
    ready_ports: tuple[int, ...] = ()
    ready_timeout: float = 30.0
    env: dict[str, str] | None = None
    preexec: Callable[[], None] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> Daemon:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env=self.env, preexec_fn=self.preexec, start_new_session=True,
            )
        finally:
            log.close()
        try:
            for port in self.ready_ports:
                wait_for_tcp(port, self.ready_timeout, alive=self.alive)
        except OSError as exc:
            self.stop()
            raise ServiceError(f"{self.name} did not start ({exc}); its log says:\n{self.log_tail()}") from None
        return self

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the daemon's whole process group, then SIGKILL what is left after `grace` s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        _reap_group(proc.pid)

    def __enter__(self) -> Daemon:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _reap_group(pgid: int) -> None:
    """Kill any process still in the group (e.g. nginx workers whose master died)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
