"""HTTP driver correctness against real loopback servers: exact counts and every outcome class."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import closed_port, http_stats, server_process

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadResult, LoadSpec, Target, run_load, run_load_async, run_load_inline


def spec_for(port: int, kinds: tuple[HttpRequest, ...], requests: int, concurrency: int, **kw) -> LoadSpec:
    base = dict(max_requests=requests, max_seconds=60.0, timeout=10.0)
    base.update(kw)
    return LoadSpec(Target("127.0.0.1", port), kinds, ClosedModel(requests, concurrency), **base)


def run(spec: LoadSpec) -> LoadResult:
    return asyncio.run(run_load_async(spec))


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio-buffered", "uvloop-stream"])
def test_every_status_class_is_counted_in_its_own_bucket(http_server: int, use_uvloop: bool) -> None:
    kinds = (
        HttpRequest("ok", "/status/200", weight=2),
        HttpRequest("created", "/status/201"),
        HttpRequest("unauth", "/status/401"),
        HttpRequest("rl", "/429/rate_limited"),
        HttpRequest("cap", "/429/monthly_cap"),
        HttpRequest("nf", "/status/404"),
        HttpRequest("e500", "/status/500"),
        HttpRequest("e503", "/status/503"),
        HttpRequest("redirect", "/status/302"),
        HttpRequest("chunked", "/chunked"),
        HttpRequest("close", "/close"),
        HttpRequest("eof", "/eof"),
    )
    per_cycle = sum(k.weight for k in kinds)
    n = per_cycle * 40
    r = run_load_inline(spec_for(http_server, kinds, n, 7, use_uvloop=use_uvloop), handle_sigint=False)
    k = r.kinds
    assert r.stop_reason == "completed"
    assert k["ok"].outcomes.ok == 80 and k["ok"].outcomes.sent == 80
    assert k["created"].outcomes.ok == 40
    assert k["unauth"].outcomes.unauthorized == 40 and k["unauth"].outcomes.ok == 0
    assert k["rl"].outcomes.rate_limited == 40 and k["rl"].outcomes.monthly_cap == 0
    assert k["cap"].outcomes.monthly_cap == 40 and k["cap"].outcomes.rate_limited == 0
    assert k["nf"].outcomes.client_errors == {404: 40}
    assert k["e500"].outcomes.server_errors == {500: 40}
    assert k["e503"].outcomes.server_errors == {503: 40}
    assert k["redirect"].outcomes.other_status == {302: 40}
    assert k["chunked"].outcomes.ok == 40
    assert k["close"].outcomes.ok == 40
    assert k["eof"].outcomes.ok == 40
    total = r.outcomes
    assert total.completed == n and total.sent == n
    assert total.errors_5xx == 80
    assert total.reset == total.protocol_error == total.timeout == total.connect_error == 0
    # the server saw exactly what the driver says it sent
    stats = http_stats(http_server)
    assert sum(stats.values()) == n
    assert stats["/chunked"] == 40 and stats["/status/200"] == 80
    # latency recorded for every completed response, per kind
    assert k["e503"].latency.count == 40
    assert r.latency.count == n


def test_cache_hits_get_their_own_histogram(http_server: int) -> None:
    kinds = (HttpRequest("hit", "/price/syncmap"), HttpRequest("miss", "/price/rest"))
    r = run(spec_for(http_server, kinds, 200, 4))
    assert r.kinds["hit"].outcomes.cache_hits == 100
    assert r.kinds["hit"].cache_hits.count == 100
    assert r.kinds["miss"].outcomes.cache_hits == 0 and r.kinds["miss"].cache_hits.count == 0
    assert r.kinds["miss"].outcomes.ok == 100
    assert r.cache_hits.count == 100


def test_exact_counts_across_worker_processes(http_server: int) -> None:
    spec = spec_for(http_server, (HttpRequest("a", "/a", weight=3), HttpRequest("b", "/b")), 4001, 13,
                    processes=2)
    seen = []
    r = run_load(spec, on_progress=seen.append)
    assert r.shards == 2
    assert r.outcomes.ok == r.outcomes.sent == 4001
    stats = http_stats(http_server)
    assert stats["/a"] + stats["/b"] == 4001
    assert stats["/a"] == r.kinds["a"].outcomes.sent and stats["/b"] == r.kinds["b"].outcomes.sent
    assert json.loads(json.dumps(r.to_dict()))["totals"]["outcomes"]["ok"] == 4001


def test_request_limit_caps_the_run(http_server: int) -> None:
    spec = LoadSpec(Target("127.0.0.1", http_server), (HttpRequest("a", "/a"),), ClosedModel(1000, 5),
                    max_requests=123, max_seconds=60, timeout=10)
    r = run(spec)
    assert r.outcomes.sent == 123 and r.outcomes.ok == 123
    assert r.stop_reason == "request_limit"
    assert http_stats(http_server)["/a"] == 123


def test_time_limit_stops_and_counts_abandoned(http_server: int) -> None:
    spec = spec_for(http_server, (HttpRequest("hang", "/hang"),), 50, 5, max_seconds=1.0, timeout=30.0)
    r = run(spec)
    assert r.stop_reason == "time_limit"
    assert r.outcomes.sent == 5 and r.outcomes.abandoned == 5 and r.outcomes.ok == 0
    assert r.elapsed < 10


def test_timeout(http_server: int) -> None:
    spec = spec_for(http_server, (HttpRequest("hang", "/hang"),), 6, 3, timeout=0.5)
    r = run(spec)
    assert r.outcomes.timeout == 6 and r.outcomes.sent == 6
    assert r.stop_reason == "completed"


def test_connect_error_on_closed_port() -> None:
    r = run(spec_for(closed_port(), (HttpRequest("a", "/"),), 25, 5))
    assert r.outcomes.connect_error == 25
    assert r.outcomes.sent == 0 and r.outcomes.ok == 0


def test_reset(http_server: int) -> None:
    r = run(spec_for(http_server, (HttpRequest("reset", "/reset"), HttpRequest("ok", "/ok")), 40, 4))
    assert r.kinds["reset"].outcomes.reset == 20
    assert r.kinds["ok"].outcomes.ok == 20
    assert http_stats(http_server)["/reset"] == 20


def test_protocol_error(http_server: int) -> None:
    r = run(spec_for(http_server, (HttpRequest("bad", "/garbage"), HttpRequest("ok", "/ok")), 30, 3))
    assert r.kinds["bad"].outcomes.protocol_error == 15
    assert r.kinds["ok"].outcomes.ok == 15


def test_nginx_keepalive_and_api_key_never_in_results(nginx_port: int) -> None:
    kinds = (HttpRequest("price", "/price?symbol=BTC-USD", api_key="s3cr3t-key-value"),
             HttpRequest("nf", "/nf", api_key="s3cr3t-key-value"))
    spec = spec_for(nginx_port, kinds, 2000, 16)
    r = run(spec)
    assert r.kinds["price"].outcomes.ok == 1000
    assert r.kinds["price"].outcomes.cache_hits == 1000
    assert r.kinds["nf"].outcomes.client_errors == {404: 1000}
    text = json.dumps(r.to_dict()) + json.dumps(spec.to_dict()) + repr(spec) + repr(kinds)
    assert "s3cr3t" not in text
    assert b"X-API-Key: s3cr3t-key-value" in kinds[0].request_bytes("h")
    # results round-trip through JSON
    back = LoadResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.outcomes == r.outcomes
    assert back.latency.percentile_us(99) == r.latency.percentile_us(99)


def test_per_second_series_and_progress(http_server: int) -> None:
    with server_process("http", "--delay-ms", "2") as port:
        spec = spec_for(port, (HttpRequest("a", "/a"),), 100000, 4, max_seconds=2.5)
        progress: list[dict] = []
        r = asyncio.run(run_load_async(spec, on_progress=lambda i, d: progress.append(d)))
    assert r.stop_reason == "time_limit"
    assert len(r.series) >= 2
    assert sum(s.requests for s in r.series) == r.outcomes.completed
    assert all(s.p50_us >= 1500 for s in r.series if s.requests)
    assert len(progress) >= 2 and progress[-1]["done"] <= r.outcomes.completed
    assert progress[0]["total"] == 100000


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio-buffered", "uvloop-stream"])
def test_refusal_words_are_the_targets_contract(http_server: int, use_uvloop: bool) -> None:
    words = (("monthly_cap", "quota_exceeded"), ("rate_limited", "slow_down"))
    reverse = (("rate_limited", "rate_limited"), ("monthly_cap", "monthly_cap"))
    kinds = (
        HttpRequest("quota", "/429/quota_exceeded", refusals=words),
        HttpRequest("slow", "/429/slow_down", refusals=words),
        HttpRequest("default_words", "/429/quota_exceeded"),  # not a word of the default contract
        HttpRequest("no_words", "/429/monthly_cap", refusals=()),
        HttpRequest("both", "/429/monthly_cap+rate_limited"),  # the first matching pair wins
        HttpRequest("both_reversed", "/429/monthly_cap+rate_limited", refusals=reverse),
    )
    n = len(kinds) * 20
    r = run_load_inline(spec_for(http_server, kinds, n, 5, use_uvloop=use_uvloop), handle_sigint=False)
    o = {name: k.outcomes for name, k in r.kinds.items()}
    assert o["quota"].monthly_cap == 20 and o["quota"].rate_limited == 0
    assert o["slow"].rate_limited == 20 and o["slow"].monthly_cap == 0
    assert o["default_words"].client_errors == {429: 20} and o["default_words"].monthly_cap == 0
    assert o["no_words"].client_errors == {429: 20} and o["no_words"].monthly_cap == 0
    assert o["both"].monthly_cap == 20 and o["both"].rate_limited == 0
    assert o["both_reversed"].rate_limited == 20 and o["both_reversed"].monthly_cap == 0


def test_refusals_name_a_429_outcome_and_a_word() -> None:
    with pytest.raises(ValueError, match="refusals"):
        HttpRequest("x", refusals=(("timeout", "slow"),))
    with pytest.raises(ValueError, match="refusals"):
        HttpRequest("x", refusals=(("rate_limited", ""),))
