"""`python -m pytest_trinity.reference`: run the reference cluster in the foreground until Ctrl-C.

Prints the URLs and the path of the 0600 secrets file (never the secrets themselves).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pytest_trinity.reference.cluster import DEFAULT_PLAN, run_cluster
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.services import ServiceError


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pytest_trinity.reference", description=__doc__.splitlines()[0])
    p.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="the plan file the nodes read (default: %(default)s)")
    p.add_argument("--faults", action="store_true", help="allow the fault knobs (/admin/faults)")
    p.add_argument("--dsn", help="PostgreSQL DSN for usage_logs (default: SQLite in the cluster dir)")
    p.add_argument("--postgres", action="store_true", help="start a throw-away PostgreSQL for usage_logs")
    p.add_argument("--mode", help="profile applied at start (default: the plan's restore profile)")
    p.add_argument("--dialect", type=Path, metavar="FILE.json",
                   help="report under other names (a JSON dialect: fields, counters, config_keys, refusals; default: the standard contract)")
    return p.parse_args(argv)


def _without_password(dsn: str) -> str:
    """The DSN as it may be printed: any password replaced by ***."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        dialect = Dialect.from_file(args.dialect) if args.dialect is not None else None
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as stack:
            dsn = args.dsn
            if args.postgres:
                from pytest_trinity.services.postgres import run_postgres
                dsn = stack.enter_context(run_postgres()).dsn
            info = stack.enter_context(run_cluster(args.plan, faults=args.faults, dsn=dsn, mode=args.mode, dialect=dialect))
            print("pytest-trinity reference cluster is up", flush=True)
            for node in info.nodes.values():
                print(f"  node {node.name:<7} api {node.api_url}  admin {node.admin_url}  udp {node.udp[0]}:{node.udp[1]}")
            print(f"  balanced api   {info.balanced.api_url}  (TLS, CA file {info.ca_file})")
            print(f"  balanced admin {info.balanced.admin_url}")
            print(f"  balanced udp   {info.balanced.udp[0]}:{info.balanced.udp[1]}")
            print(f"  redis          {info.redis_url}")
            print(f"  usage_logs     {'PostgreSQL ' + _without_password(dsn) if dsn else 'SQLite in ' + str(info.cluster_dir)}")
            print(f"  keys and admin token: {info.secrets_file} (mode 0600; public key id {info.public_key_id}, "
                  f"partner key id {info.partner_key_id})")
            if not info.dialect.is_identity:
                print(f"  dialect        {args.dialect}")
            print(f"  faults {'enabled' if info.faults_enabled else 'disabled'}; Ctrl-C stops everything", flush=True)
            while not stop.wait(0.5):
                pass
            print("stopping ...", flush=True)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
