"""The node's Redis side: its snapshot (published to `cluster:stats:<node>` every period, read
back for cluster-stats) and the cluster-wide control plane (system-mode, stress-reset and faults
for other nodes travel as pub/sub messages on `cluster:control`; the hash `cluster:control:state`
is re-read once per period so a missed message is caught up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_trinity.plan import Plan
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.counters import GAUGES, Counters, Derived
from pytest_trinity.reference.db import DbPool
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.faults import parse_faults
from pytest_trinity.reference.settings import Settings
from pytest_trinity.reference.telemetry import ProcessSampler, cluster_view, stats_key
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")

CONTROL_CHANNEL = "cluster:control"
CONTROL_STATE = "cluster:control:state"
STOP_TIMEOUT_S = 5.0

Step = Callable[[], Awaitable[Any]]


class Publisher:
    def __init__(self, cfg: NodeConfig, plan: Plan, redis: Any, settings: Settings, counters: Counters, derived: Derived,
                 process: ProcessSampler, pool: DbPool, usage: Housekeeping, dialect: Dialect) -> None:
        self.cfg = cfg
        self.plan = plan
        self.name = cfg.node
        self.redis = redis
        self.settings = settings
        self.counters = counters
        self.derived = derived
        self.process = process
        self.pool = pool
        self.usage = usage
        self.dialect = dialect
        self.reset_epoch = 0
        self._reset_lock = asyncio.Lock()
        self._reset_refused = False

    # ---- snapshots ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """This node's snapshot (stress-stats and `cluster:stats:<node>`), under the dialect."""
        self.pool.gauges()
        return self.dialect.snapshot({
            "node": self.name,
            "ts": time.time(),
            "counters": self.counters.as_dict(self.plan.telemetry.counters),
            "gauges": list(GAUGES),
            "derived": self.derived.compute(self.counters),
            "config": self.settings.config_view(),
            "process": self.process.snapshot(),
            "governor": self.settings.governor.view(),
            "reset_epoch": self.reset_epoch,
        })

    async def publish(self) -> None:
        if self.settings.faults.stop_publish:
            return
        ttl_ms = max(int(self.cfg.snapshot_ttl_s * 1000), 1)
        await self.redis.set(stats_key(self.name), json.dumps(self.snapshot(), separators=(",", ":")), px=ttl_ms)

    async def cluster_stats(self) -> dict[str, Any]:
        """Every plan node's published snapshot, read in one pipeline, combined (cluster-stats)."""
        expected = self.plan.telemetry.nodes
        pipe = self.redis.pipeline(transaction=False)
        for name in expected:
            pipe.get(stats_key(name))
        raw = await pipe.execute()
        return {"read_by": self.name, **cluster_view(expected, raw, self.plan.telemetry.counters, self.dialect)}

    # ---- the cluster-wide control plane ---------------------------------------------------
    async def broadcast(self, message: dict[str, Any]) -> None:
        """Tell every node (this one included: it ignores its own messages but faults)."""
        await self.redis.publish(CONTROL_CHANNEL, json.dumps({**message, "from": self.name}))

    async def set_state(self, state: dict[str, str]) -> None:
        await self.redis.hset(CONTROL_STATE, mapping=state)

    async def next_reset_epoch(self) -> int:
        return int(await self.redis.hincrby(CONTROL_STATE, "reset_epoch", 1))

    async def reset_to(self, epoch: int) -> bool:
        """Zero the counters for reset `epoch` unless done already; True if this node is reset.

        Serialized: the admin call, the pub/sub message and the periodic catch-up may race."""
        async with self._reset_lock:
            if epoch > self.reset_epoch:
                self.reset_epoch = epoch
                self._reset_refused = self.settings.faults.refuse_reset
                if self._reset_refused:
                    log.warning("reset epoch %d refused (fault)", epoch)
                else:
                    await self.usage.quiesce(STOP_TIMEOUT_S)
                    self.counters.zero()
                    self.settings.governor.shed = 0
                    self.derived.restart()
                    self.pool.gauges()
                    log.warning("counters reset (epoch %d)", epoch)
                    await self.publish()
            return not self._reset_refused

    async def on_control(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if msg.get("from") == self.name and op != "faults":
            return
        if op == "reset":
            await self.reset_to(int(msg["epoch"]))
        elif op == "mode":
            adaptive = msg.get("adaptive_enabled")
            self.settings.apply_mode(msg["mode"], None if adaptive is None else adaptive == "true")
        elif op == "faults" and msg.get("node") in ("all", self.name) and msg.get("from") != self.name:
            if self.cfg.faults_enabled:
                new, stall = parse_faults(self.settings.faults, msg.get("params", {}), self.cfg.max_stall_s)
                self.settings.apply_faults(new, stall)

    async def reconcile(self) -> None:
        """Catch up with the control state (a pub/sub message may have been missed)."""
        state = {k.decode(): v.decode() for k, v in (await self.redis.hgetall(CONTROL_STATE)).items()}
        s = self.settings
        mode = state.get("mode")
        adaptive = state.get("adaptive_enabled")
        want_adaptive = s.adaptive_enabled if adaptive is None else adaptive == "true"
        if mode is not None and mode in self.plan.profiles and (mode != s.mode or want_adaptive != s.adaptive_enabled):
            s.apply_mode(mode, want_adaptive)
        if "reset_epoch" in state:
            await self.reset_to(int(state["reset_epoch"]))

    async def load_state(self) -> None:
        """At start: the reset epoch in force, so an old reset is not replayed."""
        state = await self.redis.hgetall(CONTROL_STATE)
        self.reset_epoch = int(state.get(b"reset_epoch", b"0"))

    # ---- the periodic tasks ---------------------------------------------------------------
    async def run_periodic(self, extra_steps: tuple[Step, ...] = ()) -> None:
        """Every publish period: sample the rates, catch up, publish, then `extra_steps`."""
        steps: tuple[Step, ...] = (self.reconcile, self.publish, *extra_steps)
        while True:
            await asyncio.sleep(self.cfg.publish_s)
            self.derived.sample(self.counters)
            self.process.sample()
            for step in steps:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("periodic step failed: %s: %s", type(exc).__name__, exc)

    async def listen(self) -> None:
        """Follow the control channel, resubscribing with backoff when Redis fails."""
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CONTROL_CHANNEL)
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self.on_control(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("control channel: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
