"""The API contract on a node: /price through its three layers, /reports/usage, status codes,
HTTP/1.1 keep-alive and pipelining, and the UDP datagram contract."""

from __future__ import annotations

import socket
import time

from pytest_trinity.reference.settings import running_profile
from tests.reference.conftest import Admin, api_client, udp_call, wait_until


def test_price_from_the_feed_map(cluster, admin: Admin) -> None:
    with api_client(cluster, cluster.partner_key.value) as c:
        r = c.get(cluster.direct.api_url + "/price", params={"symbol": "ETH-USD"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"symbol", "price", "source", "ts"}
    assert body["source"] == "syncmap" and body["symbol"] == "ETH-USD"
    assert abs(body["ts"] - time.time()) < 60


def test_miss_goes_to_rest_then_the_other_nodes_hit_the_cache(cluster, admin: Admin) -> None:
    symbol = f"Z{time.time_ns() % 10**8}-EUR"  # no feed lists it
    before = {n: admin.node_stats(n)["counters"] for n in cluster.nodes}
    with api_client(cluster, cluster.partner_key.value) as c:
        first = c.get(cluster.nodes["main"].api_url + "/price", params={"symbol": symbol}).json()
        again = c.get(cluster.nodes["main"].api_url + "/price", params={"symbol": symbol}).json()
        other = c.get(cluster.nodes["mirror"].api_url + "/price", params={"symbol": symbol}).json()
    assert (first["source"], again["source"], other["source"]) == ("rest", "syncmap", "cache")
    assert first["price"] == again["price"] == other["price"]
    after = {n: admin.node_stats(n)["counters"] for n in cluster.nodes}
    assert after["main"]["rest_fallbacks"] - before["main"]["rest_fallbacks"] == 1
    assert after["mirror"]["cache_hits"] - before["mirror"]["cache_hits"] == 1


def test_status_codes(cluster, admin: Admin) -> None:
    base = cluster.direct.api_url
    with api_client(cluster, cluster.partner_key.value) as c:
        assert c.get(base + "/price").status_code == 400
        assert c.get(base + "/price", params={"symbol": "not a symbol"}).json() == {"error": "bad_symbol"}
        assert c.get(base + "/nope").status_code == 404
        assert c.get(base + "/healthz").json()["status"] == "ok"
    with api_client(cluster, "tb_wrong") as c:
        r = c.get(base + "/price", params={"symbol": "BTC-USD"})
        assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    with api_client(cluster, None) as c:
        assert c.get(base + "/price", params={"symbol": "BTC-USD"}).status_code == 401


def test_errors_are_counted(cluster, admin: Admin) -> None:
    admin.reset()
    with api_client(cluster, "tb_wrong") as c:
        for _ in range(3):
            c.get(cluster.direct.api_url + "/price", params={"symbol": "BTC-USD"})
    with api_client(cluster, cluster.partner_key.value) as c:
        c.get(cluster.direct.api_url + "/nope")
    counters = admin.node_stats("main")["counters"]
    assert counters["auth_failures"] == 3
    assert counters["errors_4xx"] == 4
    assert counters["tcp_requests"] == 4
    assert counters["errors_5xx"] == 0


def test_keep_alive_and_pipelining_on_one_connection(cluster, admin: Admin) -> None:
    host, port = cluster.direct.api_url.removeprefix("http://").split(":")
    key = cluster.partner_key.value
    one = f"GET /price?symbol=BTC-USD HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
    slow = f"GET /price?symbol=Q{time.time_ns() % 10**8}-EUR HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
    last = f"GET /price?symbol=SOL-USD HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(one + slow + one + last)  # a slow REST answer in the middle must not reorder
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # the server closed after `Connection: close`
            data += chunk
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 4
    assert all(a.startswith(b"200 OK") for a in answers)
    assert [b'"source":"rest"' in a for a in answers] == [False, True, False, False]
    assert b'"symbol":"SOL-USD"' in answers[3] and b"Connection: close" in answers[3]


def test_bad_request_line_is_400_and_closes(cluster, admin: Admin) -> None:
    host, port = cluster.direct.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 400 ")
        assert s.recv(65536) == b""


def test_reports_usage_reads_usage_logs(cluster, admin: Admin, plan) -> None:
    start = time.time() - 1
    key_id = cluster.partner_key_id
    with api_client(cluster, cluster.partner_key.value) as c:
        for _ in range(7):
            assert c.get(cluster.direct.api_url + "/price", params={"symbol": "BTC-USD"}).status_code == 200
        flush_s = running_profile(plan, plan.restore.profile).flush_ms / 1000

        def report() -> dict:
            r = c.get(cluster.nodes["lrs"].api_url + "/reports/usage", params={"key_id": key_id, "from": start})
            assert r.status_code == 200
            return r.json()

        body = wait_until(lambda: (b := report())["by_path"].get("/price", 0) >= 7 and b, "usage rows", timeout=flush_s + 30)
        assert body["key_id"] == key_id and body["by_status"]["200"] >= 7 and body["by_proto"]["tcp"] >= 7
        assert c.get(cluster.direct.api_url + "/reports/usage", params={"key_id": cluster.public_key_id}).status_code == 403
        assert c.get(cluster.direct.api_url + "/reports/usage", params={"from": "yesterday"}).status_code == 400
    lrs = admin.node_stats("lrs")["counters"]["lrs_requests"]
    assert lrs >= 1


def test_udp_contract(cluster, admin: Admin) -> None:
    key = cluster.partner_key.value
    answers = udp_call(cluster.direct.udp, [
        {"id": 1, "key": key, "symbol": "BTC-USD"},
        {"id": 2, "key": "tb_wrong", "symbol": "BTC-USD"},
        {"id": 3, "key": key, "symbol": "bad symbol"},
        {"id": 2**63 + 5, "key": key, "symbol": "ETH-USDT"},
    ])
    assert set(answers[1]) == {"id", "symbol", "price", "ts"} and answers[1]["symbol"] == "BTC-USD"
    assert answers[2] == {"id": 2, "error": "unauthorized"}
    assert answers[3] == {"id": 3, "error": "bad_symbol"}
    assert answers[2**63 + 5]["symbol"] == "ETH-USDT"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"not json", cluster.direct.udp)
        assert s.recv(65535) == b'{"id":null,"error":"bad_request"}'
