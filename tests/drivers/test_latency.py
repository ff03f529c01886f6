"""Latency correctness: a fixed server delay shows up as p50; a server stall during an
open-model run shows in the coordinated-omission-corrected view and not in the service-time
view; merged shard histograms equal one histogram of all samples."""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from conftest import http_stats, server_process

from pytest_trinity.drivers import ClosedModel, HttpRequest, Latency, LoadSpec, OpenModel, Target, run_load_async
from pytest_trinity.drivers.latency import encode, fold, merge_encoded, new_histogram
from pytest_trinity.drivers.result import LoadResult


def _blocking_client_p50_us(port: int, n: int) -> float:
    """The reference: one blocking socket, perf_counter around each request and its reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def test_fixed_5ms_delay_gives_p50_within_5_percent() -> None:
    # The server answers exactly 5 ms after each request arrives. What a client sees on top of
    # that (thread wake-ups, loopback) is the machine's, and on a busy shared VM it alone can
    # exceed 5 % of 5 ms. So the driver's p50 is held to +-5 % of 5 ms around what an obviously
    # correct blocking client measures against the same server in the same attempt, and may
    # never be below the delay itself. A run can be descheduled wholesale; the driver must
    # get it right in one of three attempts (a biased driver fails all three).
    delay_us, tolerance_us = 5000, 250
    seen = []
    with server_process("http", "--delay-ms", "5", priority=True) as port:
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),), ClosedModel(300, 1),
                        max_requests=300, max_seconds=60, timeout=10)
        for _ in range(3):
            r = asyncio.run(run_load_async(spec))
            assert r.outcomes.ok == 300
            driver, reference = r.latency.percentile_us(50), _blocking_client_p50_us(port, 300)
            seen.append((driver, round(reference)))
            assert driver >= delay_us and reference >= delay_us
            if abs(driver - reference) <= tolerance_us:
                break
    assert abs(driver - reference) <= tolerance_us, f"(driver, blocking client) p50s {seen} us for a 5 ms server"


def test_stall_shows_only_in_the_corrected_view() -> None:
    rate, duration = 200, 4.0
    with server_process("http", "--stall-after", "200", "--stall-seconds", "1", priority=True) as port:
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),),
                        OpenModel(rate=rate, duration=duration, connections=2, late_send_us=10_000),
                        max_requests=10_000, max_seconds=60, timeout=10)
        r = asyncio.run(run_load_async(spec))
        served = sum(http_stats(port).values())
    o = r.outcomes
    assert o.sent + r.unsent == int(rate * duration)
    assert served == o.sent and o.ok == o.sent
    corrected = r.latency.percentile_us(99)
    uncorrected = r.service_time.percentile_us(99)
    # the 1 s stall delays ~rate requests by up to 1 s: the corrected p99 must see it
    assert corrected >= 500_000, r.latency
    # measured from the actual send, only the couple of requests in flight saw the stall
    assert uncorrected < 200_000, r.service_time
    assert r.max_send_lag_us >= 500_000 and r.late_sends >= rate // 2


def test_open_model_sends_at_the_planned_rate() -> None:
    with server_process("http") as port:
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"), HttpRequest("b", "/b")),
                        OpenModel(rate=500, duration=2.0, connections=8, late_send_us=100_000),
                        max_requests=10_000, max_seconds=60, timeout=10)
        r = asyncio.run(run_load_async(spec))
        stats = http_stats(port)
    assert r.outcomes.sent + r.unsent == 1000
    assert r.outcomes.sent >= 900  # a busy machine may leave some unsent, never more than planned
    assert stats["/a"] == r.kinds["a"].outcomes.sent and stats["/b"] == r.kinds["b"].outcomes.sent
    assert 1.5 <= r.elapsed <= 15


def _shard_histogram(seed: int) -> str:
    rng = random.Random(seed)
    h = new_histogram()
    fold(h, [int(rng.lognormvariate(7, 1.2)) for _ in range(20_000)])
    return encode(h)


def test_merged_shards_equal_one_histogram_of_all_samples() -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        encoded = list(pool.map(_shard_histogram, range(4)))
    merged = merge_encoded(encoded)
    single = new_histogram()
    for seed in range(4):
        rng = random.Random(seed)
        for _ in range(20_000):
            single.record_value(int(rng.lognormvariate(7, 1.2)))
    assert merged.get_total_count() == single.get_total_count() == 80_000
    for p in (1, 10, 50, 90, 99, 99.9, 99.99, 100):
        assert merged.get_value_at_percentile(p) == single.get_value_at_percentile(p)
    lat = Latency.from_histogram(merged)
    assert Latency.from_dict(lat.to_dict()).percentile_us(99.99) == single.get_value_at_percentile(99.99)


def test_out_of_range_samples_are_clamped_not_lost() -> None:
    h = new_histogram()
    assert fold(h, [0, 5, 10**12]) == 3
    assert h.get_total_count() == 3
    assert h.get_max_value() >= 59_000_000


def test_load_result_merge_sums_counts_and_merges_histograms() -> None:
    import json

    from pytest_trinity.drivers.latency import SecondSample
    from pytest_trinity.drivers.outcomes import Outcomes
    from pytest_trinity.drivers.result import KindResult, ShardResult

    def shard(i: int, values: list[int]) -> ShardResult:
        h = new_histogram()
        fold(h, values)
        lat = Latency.from_histogram(h)
        kind = KindResult("a", Outcomes(sent=len(values), ok=len(values), server_errors={503: i}), lat, lat,
                          Latency.empty())
        return ShardResult(i, (kind,), (SecondSample(0, len(values), i, 0, 0, lat.encoded),), 1.0, "completed")

    a, b = shard(1, [100] * 90), shard(2, [10_000] * 10)
    r = LoadResult.merge("http", {"model": "closed"}, [a, b])
    assert r.outcomes.ok == 100 and r.outcomes.server_errors == {503: 3}
    assert r.latency.percentile_us(50) == 100
    assert 9_990 <= r.latency.percentile_us(99) <= 10_010
    assert r.series[0].requests == 100 and r.series[0].errors == 3
    assert 9_990 <= r.series[0].p99_us <= 10_010
    again = ShardResult.from_dict(json.loads(json.dumps(a.to_dict())))
    assert again == a
