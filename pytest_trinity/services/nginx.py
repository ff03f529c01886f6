"""nginx from Debian on loopback, with a config generated for the run.

`run_nginx` takes the bodies of the `http {}` and `stream {}` blocks and wraps them in a
complete nginx.conf whose every path (pid, logs, temp dirs) lives in a private work dir.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pytest_trinity.services.process import Daemon, ServiceError, require_binary

MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules")


def dynamic_module(name: str, package: str) -> str:
    """The path of a dynamic nginx module (e.g. "ngx_stream_module"), or a ServiceError naming
    the Debian package that ships it (Debian builds the stream module as libnginx-mod-stream)."""
    for folder in MODULE_DIRS:
        path = Path(folder) / f"{name}.so"
        if path.exists():
            return str(path)
    raise ServiceError(f"nginx module {name} not found: install the Debian package '{package}' (apt-get install -y {package})")


def nginx_conf(
    workdir: Path, http: str | None, stream: str | None, worker_connections: int, workers: str,
    modules: tuple[str, ...] = (),
) -> str:
    temps = "\n".join(
        f"    {name}_temp_path {workdir / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    parts = [
        *(f"load_module {m};" for m in modules),
        "user root;" if os.geteuid() == 0 else "",
        f"worker_processes {workers};",
        f"worker_rlimit_nofile {worker_connections * 2 + 64};",
        f"pid {workdir / 'nginx.pid'};",
        f"error_log {workdir / 'error.log'} warn;",
        "daemon off;",
        f"events {{ worker_connections {worker_connections}; multi_accept on; }}",
    ]
    if http is not None:
        parts.append(f"http {{\n    access_log off;\n{temps}\n{http}\n}}")
    if stream is not None:
        parts.append(f"stream {{\n{stream}\n}}")
    return "\n".join(p for p in parts if p) + "\n"


@contextlib.contextmanager
def run_nginx(
    http: str | None = None,
    stream: str | None = None,
    ready_ports: tuple[int, ...] = (),
    worker_connections: int = 4096,
    workers: str = "1",
    modules: tuple[str, ...] = (),
) -> Iterator[Daemon]:
    """Run nginx in the foreground with the given `http`/`stream` block bodies.

    `modules` are paths of dynamic modules to load (see `dynamic_module`).
    Waits until every TCP port in `ready_ports` accepts connections. The config is checked
    with `nginx -t` first, so a bad config is a ServiceError quoting nginx's own message.
    """
    binary = require_binary("nginx", "nginx")
    with tempfile.TemporaryDirectory(prefix="trinity-nginx-") as tmp:
        workdir = Path(tmp)
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(workdir, http, stream, worker_connections, workers, modules))
        argv = [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
        check = Daemon("nginx-check", [*argv, "-t", "-q"], workdir)
        with check:
            assert check.proc is not None  # started by __enter__
            code = check.proc.wait(30)
        if code != 0:
            raise ServiceError(f"nginx rejected its generated config {conf}:\n{check.log_tail()}")
        with Daemon("nginx", argv, workdir, ready_ports=ready_ports) as daemon:
            yield daemon
