"""The launcher: secrets stay secret, a missing binary names its Debian package, PostgreSQL
usage_logs, and nothing is left running or listening after the cluster stops."""

from __future__ import annotations

import os
import socket
import stat
import time

import httpx
import pytest

from pytest_trinity.reference import ClusterInfo, run_cluster
from pytest_trinity.services import ServiceError
from tests.reference.conftest import Admin, api_client, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_secrets_are_hidden(cluster: ClusterInfo, admin: Admin) -> None:
    secrets = [cluster.public_key.value, cluster.partner_key.value, cluster.admin_token.value]
    text = repr(cluster) + str(cluster)
    assert not any(s in text for s in secrets)
    assert "Secret('***')" in text
    mode = stat.S_IMODE(os.stat(cluster.secrets_file).st_mode)
    assert mode == 0o600
    # Traffic with every secret, then no node log holds any of them.
    with api_client(cluster, cluster.public_key.value) as c:
        c.get(cluster.balanced.api_url + "/price", params={"symbol": "BTC-USD"})
    admin.get(cluster.balanced.admin_url, "/admin/system-mode", mode="no-such-mode")
    for node in cluster.nodes.values():
        log = node.log_path.read_text(errors="replace")
        assert "up: api" in log
        assert not any(s in log for s in secrets)


def test_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # redis-server lives in /usr/bin, outside the fallback dirs
    with pytest.raises(ServiceError, match="install the Debian package 'redis-server'"):
        with run_cluster(nodes=("main",), load_balancer=False):
            pass


def test_postgres_usage_logs_and_clean_teardown() -> None:
    import asyncpg  # noqa: F401  (the dev extra installs it: a missing driver fails, never skips)

    from pytest_trinity.services.postgres import run_postgres

    with run_postgres() as pg:
        with run_cluster(nodes=("main",), dsn=pg.dsn) as info:
            pids, ports = info.pids, info.ports
            assert info.dsn == pg.dsn and len(pids) == 3  # redis, the node, nginx
            with api_client(info, info.partner_key.value) as c:
                for _ in range(5):
                    assert c.get(info.balanced.api_url + "/price", params={"symbol": "BTC-USD"}).status_code == 200

                def rows() -> int:
                    r = c.get(info.balanced.api_url + "/reports/usage", params={"from": time.time() - 60})
                    return r.json()["by_path"].get("/price", 0) if r.status_code == 200 else 0

                wait_until(lambda: rows() >= 5, "usage rows in PostgreSQL")
            headers = {"X-Admin-Token": info.admin_token.value}
            snap = httpx.get(info.direct.admin_url + "/admin/stress-stats", headers=headers, timeout=30).json()
            assert snap["counters"]["batch_flushes"] >= 1 and snap["counters"]["batch_flush_errors"] == 0
            assert snap["counters"]["db_open"] >= 1
            cluster_dir = info.cluster_dir
        assert not any(_alive(p) for p in pids)
        assert not any(_listening(p) for p in ports)
        assert not cluster_dir.exists()


def test_teardown_after_an_error_inside_the_block() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with run_cluster(nodes=("main", "mirror"), load_balancer=False) as info:
            pids, ports = info.pids, info.ports
            raise RuntimeError("boom")
    assert not any(_alive(p) for p in pids)
    assert not any(_listening(p) for p in ports)
