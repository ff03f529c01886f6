"""One plan run at a time on a target: a lock held in the target's Redis while a run drives it.

Two runs at once against the same target zero each other's counters and switch each other's
profile; the result is a misleading reconciliation failure. A run takes the Redis key
`trinity:run-lock` (SET NX with a TTL, refreshed while the run lives, deleted at its end only
by the run that holds it); a second run fails its setup naming the first run's id, host and
start time. A run that died leaves the key to expire after `TTL_S`. `--trinity-break-lock`
takes the lock anyway.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

import redis

KEY = "trinity:run-lock"
TTL_S = 60
REFRESH_S = 15
# Deletes the key only if it still holds our value (a lock that expired and was taken by another run stays theirs).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"


class LockHeld(RuntimeError):
    """Another run holds the target; the message names it."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    started_at: float

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_at))
        return f"run {self.run_id} on {self.host}, started {started}"


class RunLock:
    def __init__(self, url: str, run_id: str, ttl_s: int = TTL_S, refresh_s: float = REFRESH_S):
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.holder = Holder(run_id, socket.gethostname(), time.time())
        self.value = json.dumps(vars(self.holder))
        self.ttl_s, self.refresh_s = ttl_s, refresh_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, name="trinity-run-lock", daemon=True)

    def acquire(self, force: bool = False) -> Holder | None:
        """Take the lock; returns the holder it broke (with `force`) or None. Raises LockHeld."""
        try:
            if self.client.set(KEY, self.value, nx=True, ex=self.ttl_s):
                self._thread.start()
                return None
            current = self.client.get(KEY)
            other = _holder(current)
            if not force:
                who = other.describe() if other else f"a holder this plugin cannot read ({current!r})"
                raise LockHeld(f"the target is in use by another plan run: {who} "
                               f"(Redis key {KEY}, expires {self.ttl_s} s after that run stops refreshing it). Wait for it, "
                               "or give --trinity-break-lock if that run is gone")
            self.client.set(KEY, self.value, ex=self.ttl_s)
            self._thread.start()
            return other
        except redis.RedisError as exc:
            raise LockHeld(f"cannot take the run lock in the target's Redis ({KEY}): {type(exc).__name__}: {exc}") from None

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.client.eval(_REFRESH, 1, KEY, self.value, self.ttl_s)
            except redis.RedisError:
                continue  # a run is never stopped by its lock; a lock that lapses is taken by the next run

    def release(self) -> None:
        self._stop.set()
        try:
            self.client.eval(_RELEASE, 1, KEY, self.value)
        except redis.RedisError:
            pass  # it expires by itself
        finally:
            self.client.close()


def _holder(raw: bytes | str | None) -> Holder | None:
    try:
        data = json.loads(raw or b"")
        return Holder(str(data["run_id"]), str(data["host"]), float(data["started_at"]))
    except (ValueError, KeyError, TypeError):
        return None
