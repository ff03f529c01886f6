"""The run lock in a real redis-server: one run at a time on a target, named when refused."""

from __future__ import annotations

import time

import pytest
import redis

from pytest_trinity.runner.lock import KEY, LockHeld, RunLock
from pytest_trinity.services.redis import run_redis


@pytest.fixture(scope="module")
def redis_url():
    with run_redis() as server:
        yield server.url


@pytest.fixture(autouse=True)
def no_lock(redis_url):
    redis.Redis.from_url(redis_url).delete(KEY)


def test_a_second_run_is_refused_naming_the_first(redis_url) -> None:
    first = RunLock(redis_url, "20261202T070000-111")
    assert first.acquire() is None
    try:
        with pytest.raises(LockHeld, match=r"in use by another plan run: run 20261202T070000-111 on .*, started 20\d\d-\d\d-\d\d "
                                           r".*--trinity-break-lock"):
            RunLock(redis_url, "20261202T070100-222").acquire()
    finally:
        first.release()
    second = RunLock(redis_url, "20261202T070100-222")
    assert second.acquire() is None  # free once the first released it
    second.release()


def test_break_lock_takes_it_and_says_whose_it_broke(redis_url) -> None:
    first = RunLock(redis_url, "run-a")
    first.acquire()
    second = RunLock(redis_url, "run-b")
    broken = second.acquire(force=True)
    assert broken is not None and broken.run_id == "run-a"
    first.release()  # not the holder any more: must not delete run-b's lock
    assert b"run-b" in redis.Redis.from_url(redis_url).get(KEY)
    second.release()
    assert redis.Redis.from_url(redis_url).get(KEY) is None


def test_a_dead_runs_lock_expires_and_a_live_one_is_refreshed(redis_url) -> None:
    client = redis.Redis.from_url(redis_url)
    dead = RunLock(redis_url, "dead", ttl_s=1, refresh_s=3600)
    dead.acquire()
    dead._stop.set()  # a run that died stops refreshing
    deadline = time.monotonic() + 10
    while client.get(KEY) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get(KEY) is None
    live = RunLock(redis_url, "live", ttl_s=2, refresh_s=0.2)
    live.acquire()
    time.sleep(3)
    assert client.get(KEY) is not None and client.ttl(KEY) > 0
    live.release()


def test_an_unreachable_redis_is_a_clear_error() -> None:
    with pytest.raises(LockHeld, match="cannot take the run lock in the target's Redis"):
        RunLock("redis://127.0.0.1:1/0", "run-c").acquire()
