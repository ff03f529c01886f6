"""The acceptance path: an HTTPS /price through nginx with a public key, and 3 nodes listed."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from tests.reference.conftest import Admin, api_client


def test_https_price_through_the_load_balancer(cluster, admin: Admin) -> None:
    with api_client(cluster, cluster.public_key.value) as c:
        r = c.get(cluster.balanced.api_url + "/price", params={"symbol": "BTC-USD"})
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == "BTC-USD" and body["source"] in ("syncmap", "cache", "rest") and body["price"] > 0


def test_cluster_stats_lists_every_node(cluster, admin: Admin, plan) -> None:
    view = admin.cluster_stats(cluster.balanced.admin_url)
    assert sorted(view["nodes"]) == sorted(plan.telemetry.nodes)
    assert view["missing"] == []


def test_the_alb_path_is_real_tls(cluster, admin: Admin) -> None:
    with pytest.raises(httpx.ConnectError):  # nginx's certificate is signed by the cluster's own CA
        httpx.get(cluster.balanced.api_url + "/healthz", verify=ssl.create_default_context(), timeout=10)
    host, port = cluster.balanced.api_url.removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with cluster.ssl_context().wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(f"GET /price?symbol=BTC-USD HTTP/1.1\r\nHost: x\r\nX-API-Key: {cluster.public_key.value}\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and b'"symbol":"BTC-USD"' in data
