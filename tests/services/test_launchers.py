"""Each launcher starts the real Debian daemon on loopback and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest
import redis

from pytest_trinity.services import ServiceError, free_port, require_binary
from pytest_trinity.services.moto import run_moto
from pytest_trinity.services.nginx import run_nginx
from pytest_trinity.services.postgres import run_postgres
from pytest_trinity.services.redis import run_redis


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_nginx_serves_and_stops(tmp_path):
    port = free_port()
    with run_nginx(http=f'server {{ listen 127.0.0.1:{port}; location / {{ return 200 "pong"; }} }}', ready_ports=(port,)) as daemon:
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"pong"
        pid = daemon.proc.pid
    assert _refused(port) and _gone(pid)


def test_nginx_bad_config_quotes_nginx():
    with pytest.raises(ServiceError, match="(?s)nginx rejected its generated config.*unknown directive \"no_such_directive\""):
        with run_nginx(http="no_such_directive on;"):
            pass


def test_redis_runs_without_persistence():
    with run_redis() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
        pid, port = server.daemon.proc.pid, server.port
    assert _refused(port) and _gone(pid)


def test_postgres_accepts_sql():
    psql = require_binary("psql", "postgresql-client")
    import subprocess

    with run_postgres() as server:
        out = subprocess.run([psql, server.dsn, "-Atc", "select 40 + 2"], capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "42", out.stderr
        pid, port = server.daemon.proc.pid, server.port
    assert _refused(port) and _gone(pid)


def test_moto_answers_boto3():
    import boto3

    with run_moto() as server:
        client = boto3.client("cloudwatch", endpoint_url=server.endpoint_url, region_name="us-east-2",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.put_metric_data(Namespace="Trinity", MetricData=[{"MetricName": "tcp_rps", "Value": 7.0}])
        names = [m["MetricName"] for m in client.list_metrics(Namespace="Trinity")["Metrics"]]
        assert names == ["tcp_rps"]
        port = server.port
    assert _refused(port)


def test_missing_binary_names_the_debian_package():
    with pytest.raises(ServiceError, match=r"no-such-daemon not found: install the Debian package 'trinity-pkg' \(apt-get install -y trinity-pkg\)"):
        require_binary("no-such-daemon", "trinity-pkg")


def test_a_daemon_that_dies_at_start_is_reported_with_its_log(tmp_path):
    from pytest_trinity.services import Daemon

    port = free_port()
    daemon = Daemon("liar", ["sh", "-c", "echo 'cannot bind: address in use' >&2; exit 3"], tmp_path, ready_ports=(port,))
    with pytest.raises(ServiceError, match="(?s)liar did not start.*has exited.*cannot bind: address in use"):
        daemon.start()
