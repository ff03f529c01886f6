"""One node of the reference cluster (main, mirror or lrs): LPO + LRS API, admin, UDP, telemetry.

Run as `python -m pytest_trinity.reference.node CONFIG.json` by the launcher. One process, one
event loop (uvloop where installed). The API answers /price (three-layer lookup) and
/reports/usage (usage_logs); the admin port answers the control plane. Cluster-wide admin
actions (system-mode, stress-reset, faults for other nodes) travel through Redis: a pub/sub
message for speed, and the `cluster:control` hash that every node re-reads once per publish
period so a missed message is caught up.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import resource
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Awaitable

from pytest_trinity.plan import Plan, Profile, load_plan
from pytest_trinity.reference import keys as K
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.counters import GAUGES, Counters, Derived
from pytest_trinity.reference.db import DbPool, PostgresBackend, SqliteBackend
from pytest_trinity.reference.faults import Faults, FaultError, parse_faults
from pytest_trinity.reference.httpserver import Request, json_response, serve_http
from pytest_trinity.reference.prices import PriceBook, body_for, ok_response, valid_symbol
from pytest_trinity.reference.secrets import ClusterSecrets
from pytest_trinity.reference.telemetry import ProcessSampler, cluster_view, stats_key
from pytest_trinity.reference.udpserver import UdpServer
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")

CONTROL_CHANNEL = "cluster:control"
CONTROL_STATE = "cluster:control:state"
STOP_TIMEOUT_S = 5.0
RETRY_AFTER = b"Retry-After: 1\r\n"

E_UNAUTHORIZED = json_response(401, {"error": "unauthorized"})
E_RATE = json_response(429, {"error": "rate_limited"})
E_CAP = json_response(429, {"error": "monthly_cap"})
E_NOT_FOUND = json_response(404, {"error": "not_found"})
E_NO_SYMBOL = json_response(400, {"error": "missing_symbol"})
E_BAD_SYMBOL = json_response(400, {"error": "bad_symbol"})
E_INTERNAL = json_response(500, {"error": "internal"})
E_OVERLOADED = json_response(503, {"error": "overloaded"}, RETRY_AFTER)
REFUSALS = {K.UNAUTHORIZED: (401, E_UNAUTHORIZED), K.RATE_LIMITED: (429, E_RATE), K.MONTHLY_CAP: (429, E_CAP)}
UDP_ERRORS = {K.UNAUTHORIZED: b"unauthorized", K.RATE_LIMITED: b"rate_limited", K.MONTHLY_CAP: b"monthly_cap"}
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR}


class Overloaded(Exception):
    """The governor shed this request."""


def _epoch(text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        pass
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _month_start(now: float) -> float:
    t = time.gmtime(now)
    return datetime(t.tm_year, t.tm_mon, 1, tzinfo=timezone.utc).timestamp()


class Node:
    def __init__(self, cfg: NodeConfig, plan: Plan, secrets: ClusterSecrets) -> None:
        import redis.asyncio as aioredis

        self.cfg = cfg
        self.plan = plan
        self.name = cfg.node
        self.counters = Counters()
        self.derived = Derived()
        self.process = ProcessSampler()
        self.redis = aioredis.Redis.from_url(cfg.redis_url, socket_connect_timeout=5, socket_timeout=10)
        self.keys = K.KeyRing(secrets.keys, self.counters)
        self.admin_token = secrets.admin_token.value.encode()
        backend = PostgresBackend(cfg.dsn) if cfg.dsn else SqliteBackend(cfg.sqlite_path)
        self.pool = DbPool(backend, self.counters, 1)
        self.usage = Housekeeping(self.counters, self.pool, cfg.bg_capacity, cfg.bg_workers)
        self.prices = PriceBook(self.counters, self.redis, cfg.rest_latency_ms / 1000.0, cfg.feed_tick_ms / 1000.0)
        self.udp = UdpServer(cfg.host, cfg.udp_port, cfg.udp_sockets, self.handle_datagram, self.counters, cfg.udp_queue, cfg.udp_workers)
        self.mode = cfg.mode
        self.profile: Profile = plan.profiles[cfg.mode]
        self.adaptive_enabled = cfg.adaptive_enabled
        self.governor_limit = 1
        self.inflight = 0
        self.shed = 0
        self.faults = Faults()
        self.fault_gate = False
        self.reset_epoch = 0
        self._reset_lock = asyncio.Lock()
        self._reset_refused = False
        self.servers: list[asyncio.base_events.Server] = []
        self.tasks: list[asyncio.Task[None]] = []

    # ---- configuration ---------------------------------------------------------------
    def apply_mode(self, mode: str, adaptive: bool | None = None) -> None:
        p = self.plan.profiles[mode]
        self.mode, self.profile = mode, p
        if adaptive is not None:
            self.adaptive_enabled = adaptive
        self.keys.configure(p.qps, p.burst)
        self.prices.configure(p.ttl_s, p.cache_read_ms)
        self.usage.configure(p.batch, p.micro_batch, p.flush_ms)
        self.pool.resize(p.db_max_open)
        self.governor_limit = self.cfg.governor_limit or p.cache_pool
        logging.getLogger("trinity").setLevel(LOG_LEVELS.get(p.log_level, logging.INFO))
        log.warning("mode %s applied (governor %s)", mode, "on" if self.adaptive_enabled else "off")

    def apply_faults(self, faults: Faults, stall_s: float = 0.0) -> None:
        self.faults = faults
        self.fault_gate = faults.affects_requests
        self.usage.drop_ratio = faults.bg_drop_ratio
        self.udp.set_drop_ratio(faults.udp_drop_ratio)
        self.prices.paused = faults.feeds_paused
        log.warning("faults now %s", faults.as_dict())
        if stall_s > 0:
            log.warning("stalling for %.3f s", stall_s)
            asyncio.get_running_loop().call_later(0.05, time.sleep, stall_s)

    def config_view(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "adaptive_enabled": self.adaptive_enabled,
            "governor_limit": self.governor_limit,
            **self.profile.parameters(),
            "faults_enabled": self.cfg.faults_enabled,
            "faults": self.faults.as_dict(),
            "publish_s": self.cfg.publish_s,
            "snapshot_ttl_s": self.cfg.snapshot_ttl_s,
        }

    def snapshot(self) -> dict[str, Any]:
        self.pool.gauges()
        return {
            "node": self.name,
            "ts": time.time(),
            "counters": self.counters.as_dict(self.plan.telemetry.counters),
            "gauges": list(GAUGES),
            "derived": self.derived.compute(self.counters),
            "config": self.config_view(),
            "process": self.process.snapshot(),
            "governor": {"inflight": self.inflight, "limit": self.governor_limit, "shed": self.shed},
            "reset_epoch": self.reset_epoch,
        }

    # ---- API: /price and /reports/usage ------------------------------------------------
    def _log_usage(self, ks: K.KeyState | None, proto: str, path: str, symbol: str, status: int) -> None:
        self.usage.submit((time.time(), self.name, ks.key_id if ks is not None else "-", proto, path, symbol, status))

    def handle_api(self, req: Request, body: bytes) -> bytes | Awaitable[bytes]:
        path = req.path
        if path == "/healthz":
            return json_response(200, {"node": self.name, "status": "ok"})
        c = self.counters
        c.tcp_requests += 1
        if path == "/reports/usage":
            c.lrs_requests += 1
        if self.fault_gate:
            return self._faulted_api(req)
        return self._api(req)

    def _api(self, req: Request) -> bytes | Awaitable[bytes]:
        c = self.counters
        ks = self.keys.by_bytes.get(req.api_key) if req.api_key is not None else None
        path = req.path
        if path == "/price":
            symbol = req.query.get("symbol", "")
            verdict = self.keys.admit(ks)
            if verdict:
                status, resp = REFUSALS[verdict]
                c.errors_4xx += 1
                self._log_usage(ks, "tcp", path, symbol, status)
                return resp
            entry = self.prices.get_fresh(symbol)
            if entry is not None:
                self._log_usage(ks, "tcp", path, symbol, 200)
                return entry.http_response
            if not symbol or not valid_symbol(symbol):
                c.errors_4xx += 1
                self._log_usage(ks, "tcp", path, symbol, 400)
                return E_NO_SYMBOL if not symbol else E_BAD_SYMBOL
            return self._price_slow(ks, symbol)
        if path == "/reports/usage":
            verdict = self.keys.admit(ks)
            if verdict:
                status, resp = REFUSALS[verdict]
                c.errors_4xx += 1
                self._log_usage(ks, "tcp", path, "", status)
                return resp
            return self._report(ks, req.query)  # type: ignore[arg-type]
        c.errors_4xx += 1
        self._log_usage(ks, "tcp", "other", "", 404)
        return E_NOT_FOUND

    async def _injected_fault(self, proto: str, path: str) -> int | None:
        """Apply /admin/faults to one request: its added latency (under the governor, which may
        shed it: 503) and its 5xx ratio (500). The status it failed with, counted and logged."""
        f = self.faults
        status = None
        if f.latency_ms:
            try:
                await self._governed(asyncio.sleep(f.latency_ms / 1000.0))
            except Overloaded:
                status = 503
        if status is None and f.error_5xx_ratio and random.random() < f.error_5xx_ratio:
            status = 500
        if status is not None:
            self.counters.errors_5xx += 1
            self._log_usage(None, proto, path, "", status)
        return status

    async def _faulted_api(self, req: Request) -> bytes:
        status = await self._injected_fault("tcp", req.path)
        if status is not None:
            return E_OVERLOADED if status == 503 else E_INTERNAL
        result = self._api(req)
        return result if type(result) is bytes else await result  # type: ignore[misc]

    async def _governed(self, aw: Awaitable[Any]) -> Any:
        """Run a slow step under the governor: above `governor_limit` in flight, shed (503)."""
        if self.adaptive_enabled and self.inflight >= self.governor_limit:
            self.shed += 1
            if asyncio.iscoroutine(aw):
                aw.close()
            raise Overloaded
        self.inflight += 1
        try:
            return await aw
        finally:
            self.inflight -= 1

    async def _price_slow(self, ks: K.KeyState | None, symbol: str) -> bytes:
        c = self.counters
        try:
            entry, source = await self._governed(self.prices.resolve(symbol))
        except Overloaded:
            c.errors_5xx += 1
            self._log_usage(ks, "tcp", "/price", symbol, 503)
            return E_OVERLOADED
        except Exception as exc:
            log.error("price lookup for %s failed: %s", symbol, type(exc).__name__)
            c.errors_5xx += 1
            self._log_usage(ks, "tcp", "/price", symbol, 500)
            return E_INTERNAL
        self._log_usage(ks, "tcp", "/price", symbol, 200)
        return ok_response(body_for(symbol, entry.price, entry.ts, source))

    async def _report(self, ks: K.KeyState, query: dict[str, str]) -> bytes:
        c = self.counters
        key_id = query.get("key_id") or ks.key_id
        if key_id != ks.key_id:
            c.errors_4xx += 1
            self._log_usage(ks, "tcp", "/reports/usage", "", 403)
            return json_response(403, {"error": "forbidden", "message": "a key may read its own usage only"})
        now = time.time()
        try:
            t_from = _epoch(query.get("from"), _month_start(now))
            t_to = _epoch(query.get("to"), now + 1)
        except ValueError:
            c.errors_4xx += 1
            self._log_usage(ks, "tcp", "/reports/usage", "", 400)
            return json_response(400, {"error": "bad_range", "message": "from/to: epoch seconds or ISO 8601"})
        try:
            summary = await self._governed(self.pool.run("summary", key_id, t_from, t_to))
        except Overloaded:
            c.errors_5xx += 1
            self._log_usage(ks, "tcp", "/reports/usage", "", 503)
            return E_OVERLOADED
        except Exception as exc:
            log.error("usage report failed: %s", type(exc).__name__)
            c.errors_5xx += 1
            self._log_usage(ks, "tcp", "/reports/usage", "", 500)
            return E_INTERNAL
        self._log_usage(ks, "tcp", "/reports/usage", "", 200)
        return json_response(200, {"key_id": key_id, "from": t_from, "to": t_to, "node": self.name, **summary})

    # ---- UDP ------------------------------------------------------------------------
    def handle_datagram(self, data: bytes) -> bytes | Awaitable[bytes] | None:
        c = self.counters
        c.udp_requests += 1
        try:
            msg = json.loads(data)
            rid = msg["id"]
            if type(rid) is not int or rid < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            c.errors_4xx += 1
            self._log_usage(None, "udp", "/price", "", 400)
            return b'{"id":null,"error":"bad_request"}'
        if self.fault_gate:
            return self._faulted_udp(rid, msg)
        return self._udp(rid, msg)

    def _udp(self, rid: int, msg: dict[str, Any]) -> bytes | Awaitable[bytes]:
        c = self.counters
        key = msg.get("key")
        ks = self.keys.by_text.get(key) if type(key) is str else None
        symbol = msg.get("symbol")
        if type(symbol) is not str:
            symbol = ""
        verdict = self.keys.admit(ks)
        if verdict:
            c.errors_4xx += 1
            self._log_usage(ks, "udp", "/price", symbol, REFUSALS[verdict][0])
            return b'{"id":%d,"error":"%s"}' % (rid, UDP_ERRORS[verdict])
        entry = self.prices.get_fresh(symbol)
        if entry is not None:
            self._log_usage(ks, "udp", "/price", symbol, 200)
            return b'{"id":%d%s' % (rid, entry.udp_tail)
        if not valid_symbol(symbol):
            c.errors_4xx += 1
            self._log_usage(ks, "udp", "/price", symbol, 400)
            return b'{"id":%d,"error":"bad_symbol"}' % rid
        return self._udp_slow(rid, ks, symbol)

    async def _udp_slow(self, rid: int, ks: K.KeyState | None, symbol: str) -> bytes:
        c = self.counters
        try:
            entry, _ = await self._governed(self.prices.resolve(symbol))
        except Overloaded:
            c.errors_5xx += 1
            self._log_usage(ks, "udp", "/price", symbol, 503)
            return b'{"id":%d,"error":"overloaded"}' % rid
        except Exception as exc:
            log.error("price lookup for %s failed: %s", symbol, type(exc).__name__)
            c.errors_5xx += 1
            self._log_usage(ks, "udp", "/price", symbol, 500)
            return b'{"id":%d,"error":"internal"}' % rid
        self._log_usage(ks, "udp", "/price", symbol, 200)
        return b'{"id":%d%s' % (rid, entry.udp_tail)

    async def _faulted_udp(self, rid: int, msg: dict[str, Any]) -> bytes:
        status = await self._injected_fault("udp", "/price")
        if status is not None:
            return b'{"id":%d,"error":"%s"}' % (rid, b"overloaded" if status == 503 else b"internal")
        result = self._udp(rid, msg)
        return result if type(result) is bytes else await result  # type: ignore[misc]

    # ---- admin ----------------------------------------------------------------------
    def handle_admin(self, req: Request, body: bytes) -> bytes | Awaitable[bytes]:
        if req.path == "/healthz":
            return json_response(200, {"node": self.name, "status": "ok"})
        if req.admin_token is None or not hmac.compare_digest(req.admin_token, self.admin_token):
            return json_response(401, {"error": "unauthorized", "message": "X-Admin-Token is missing or wrong"})
        route = {
            "/admin/system-mode": self._admin_mode,
            "/admin/stress-reset": self._admin_reset,
            "/admin/stress-stats": self._admin_stats,
            "/admin/cluster-stats": self._admin_cluster,
            "/admin/faults": self._admin_faults,
            "/admin/usage-trim": self._admin_trim,
        }.get(req.path)
        if route is None:
            return json_response(404, {"error": "not_found", "message": f"no admin endpoint {req.path}"})
        return self._admin_guarded(route, req.query)

    async def _admin_guarded(self, route: Any, query: dict[str, str]) -> bytes:
        try:
            return await route(query)
        except Exception as exc:
            log.exception("admin call failed")
            return json_response(500, {"error": "internal", "message": type(exc).__name__})

    async def _admin_mode(self, query: dict[str, str]) -> bytes:
        mode = query.get("mode")
        adaptive_text = query.get("adaptive_enabled")
        if mode is None and adaptive_text is None:
            return json_response(200, {"node": self.name, "mode": self.mode, "adaptive_enabled": self.adaptive_enabled,
                                       "parameters": self.profile.parameters(), "profiles": sorted(self.plan.profiles)})
        if mode is not None and mode not in self.plan.profiles:
            return json_response(400, {"error": "unknown_mode", "message": f"unknown mode {mode!r}",
                                       "profiles": sorted(self.plan.profiles)})
        adaptive: bool | None = None
        if adaptive_text is not None:
            if adaptive_text not in ("true", "false"):
                return json_response(400, {"error": "bad_adaptive_enabled", "message": "adaptive_enabled must be true or false"})
            adaptive = adaptive_text == "true"
        new_mode = mode or self.mode
        state = {"mode": new_mode}
        if adaptive is not None:
            state["adaptive_enabled"] = "true" if adaptive else "false"
        await self.redis.hset(CONTROL_STATE, mapping=state)
        self.apply_mode(new_mode, adaptive)
        await self.redis.publish(CONTROL_CHANNEL, json.dumps({"op": "mode", "from": self.name, **state}))
        return json_response(200, {"node": self.name, "applied_to": "cluster", "mode": self.mode,
                                   "adaptive_enabled": self.adaptive_enabled, "governor_limit": self.governor_limit,
                                   "parameters": self.profile.parameters()})

    async def _admin_reset(self, query: dict[str, str]) -> bytes:
        epoch = int(await self.redis.hincrby(CONTROL_STATE, "reset_epoch", 1))
        await self.redis.publish(CONTROL_CHANNEL, json.dumps({"op": "reset", "epoch": epoch, "from": self.name}))
        done = await self._reset_to(epoch)
        return json_response(200, {"node": self.name, "reset_epoch": epoch, "applied_to": "cluster",
                                   "this_node_reset": done, "nodes": list(self.plan.telemetry.nodes)})

    async def _admin_stats(self, query: dict[str, str]) -> bytes:
        return json_response(200, self.snapshot())

    async def _admin_cluster(self, query: dict[str, str]) -> bytes:
        expected = self.plan.telemetry.nodes
        pipe = self.redis.pipeline(transaction=False)
        for name in expected:
            pipe.get(stats_key(name))
        raw = await pipe.execute()
        return json_response(200, {"read_by": self.name, **cluster_view(expected, raw, self.plan.telemetry.counters)})

    async def _admin_trim(self, query: dict[str, str]) -> bytes:
        text = query.get("max_rows", "")
        if not text.isdigit():
            return json_response(400, {"error": "bad_max_rows", "message": "max_rows must be a whole number >= 0"})
        await self.usage.quiesce(STOP_TIMEOUT_S)
        before, after = await self.pool.run("trim", int(text))
        return json_response(200, {"node": self.name, "rows_before": before, "rows_after": after, "deleted": before - after})

    async def _admin_faults(self, query: dict[str, str]) -> bytes:
        if not query:
            return json_response(200, {"node": self.name, "faults_enabled": self.cfg.faults_enabled, "faults": self.faults.as_dict()})
        if not self.cfg.faults_enabled:
            return json_response(403, {"error": "faults_disabled", "message":
                                       "fault injection is off: start the cluster with faults enabled "
                                       "(run_cluster(faults=True) or python -m pytest_trinity.reference --faults)"})
        target = query.get("node", self.name)
        if target != "all" and target not in self.plan.telemetry.nodes:
            return json_response(400, {"error": "unknown_node", "message": f"node must be 'all' or one of {list(self.plan.telemetry.nodes)}"})
        try:
            new, stall = parse_faults(self.faults if target == self.name else Faults(), query, self.cfg.max_stall_s)
        except FaultError as exc:
            return json_response(400, {"error": "bad_fault", "message": str(exc)})
        params = {k: v for k, v in query.items() if k != "node"}
        if target != self.name:
            await self.redis.publish(CONTROL_CHANNEL, json.dumps({"op": "faults", "node": target, "params": params, "from": self.name}))
        if target in (self.name, "all"):
            if target == "all":
                new, stall = parse_faults(self.faults, query, self.cfg.max_stall_s)
            self.apply_faults(new, stall)
        return json_response(200, {"node": self.name, "target": target, "faults": self.faults.as_dict(), "stall_s": stall})

    # ---- the cluster-wide control plane ---------------------------------------------
    async def _reset_to(self, epoch: int) -> bool:
        """Zero the counters for reset `epoch` unless done already; True if this node is reset.

        Serialized: the admin call, the pub/sub message and the periodic catch-up may race."""
        async with self._reset_lock:
            if epoch > self.reset_epoch:
                self.reset_epoch = epoch
                self._reset_refused = self.faults.refuse_reset
                if self._reset_refused:
                    log.warning("reset epoch %d refused (fault)", epoch)
                else:
                    await self.usage.quiesce(STOP_TIMEOUT_S)
                    self.counters.zero()
                    self.shed = 0
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
            await self._reset_to(int(msg["epoch"]))
        elif op == "mode":
            adaptive = msg.get("adaptive_enabled")
            self.apply_mode(msg["mode"], None if adaptive is None else adaptive == "true")
        elif op == "faults" and msg.get("node") in ("all", self.name) and msg.get("from") != self.name:
            if self.cfg.faults_enabled:
                new, stall = parse_faults(self.faults, msg.get("params", {}), self.cfg.max_stall_s)
                self.apply_faults(new, stall)

    async def reconcile(self) -> None:
        """Catch up with the control state (a pub/sub message may have been missed)."""
        state = {k.decode(): v.decode() for k, v in (await self.redis.hgetall(CONTROL_STATE)).items()}
        mode = state.get("mode")
        adaptive = state.get("adaptive_enabled")
        want_adaptive = self.adaptive_enabled if adaptive is None else adaptive == "true"
        if mode in self.plan.profiles and (mode != self.mode or want_adaptive != self.adaptive_enabled):
            self.apply_mode(mode, want_adaptive)
        if "reset_epoch" in state:
            await self._reset_to(int(state["reset_epoch"]))

    async def publish(self) -> None:
        if self.faults.stop_publish:
            return
        ttl_ms = max(int(self.cfg.snapshot_ttl_s * 1000), 1)
        await self.redis.set(stats_key(self.name), json.dumps(self.snapshot(), separators=(",", ":")), px=ttl_ms)

    async def _publisher(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.publish_s)
            self.derived.sample(self.counters)
            self.process.sample()
            for step in (self.reconcile, self.publish, lambda: self.keys.sync_monthly(self.redis), self.prices.store_feed_prices):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("periodic step failed: %s: %s", type(exc).__name__, exc)

    async def _listener(self) -> None:
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

    # ---- life cycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.apply_mode(self.cfg.mode, self.cfg.adaptive_enabled)
        await self.redis.ping()
        state = await self.redis.hgetall(CONTROL_STATE)
        self.reset_epoch = int(state.get(b"reset_epoch", b"0"))
        await self._create_schema()
        self.prices.start_feeds()
        self.usage.start()
        self.udp.start()
        self.tasks += [asyncio.create_task(self._listener(), name="control"), asyncio.create_task(self._publisher(), name="publisher")]
        await self.reconcile()
        await self.publish()
        self.servers.append(await serve_http(self.handle_api, self.cfg.host, self.cfg.api_port))
        self.servers.append(await serve_http(self.handle_admin, self.cfg.host, self.cfg.admin_port))
        log.warning("node %s up: api %s:%d admin %s:%d udp %s:%d (%d sockets)", self.name, self.cfg.host, self.cfg.api_port,
                    self.cfg.host, self.cfg.admin_port, self.cfg.host, self.cfg.udp_port, self.cfg.udp_sockets)

    async def _create_schema(self) -> None:
        for attempt in range(5):
            try:
                await self.pool.run("create_schema")
                return
            except Exception as exc:
                if attempt == 4:
                    raise
                log.warning("creating usage_logs failed (%s), retrying", type(exc).__name__)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        await self.udp.stop()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.prices.stop_feeds()
        await self.usage.stop(STOP_TIMEOUT_S)
        await self.pool.close()
        await self.redis.aclose()


async def serve(cfg: NodeConfig) -> None:
    plan = load_plan(cfg.plan_path)
    node = Node(cfg, plan, ClusterSecrets.read(cfg.secrets_path))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    await stop.wait()
    log.warning("node %s stopping", cfg.node)
    await node.stop()


def raise_nofile() -> int:
    """Lift the soft open-files limit to the hard one: a node may hold thousands of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pytest_trinity.reference.node CONFIG.json", file=sys.stderr)
        return 2
    cfg = NodeConfig.from_file(argv[0])
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {cfg.node} %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.warning("open files limit %d", raise_nofile())
    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    if uvloop is not None:
        uvloop.run(serve(cfg))
    else:
        asyncio.run(serve(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
