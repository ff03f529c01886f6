"""The admin port: token check and the /admin/* routes (system-mode, stress-reset, stress-stats,
cluster-stats, faults, usage-trim). Cluster-wide actions go through the publisher's control
plane; answers that report names (snapshots, the system-mode echo) are under the dialect.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from pytest_trinity.plan import Plan
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.db import DbPool
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.faults import FaultError, Faults, parse_faults
from pytest_trinity.reference.httpserver import Request, json_response
from pytest_trinity.reference.publisher import STOP_TIMEOUT_S, Publisher
from pytest_trinity.reference.settings import Settings
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")

Route = Callable[[dict[str, str]], Awaitable[bytes]]


class Admin:
    """The handler of the admin port (httpserver's `Handler`)."""

    def __init__(self, cfg: NodeConfig, plan: Plan, admin_token: bytes, settings: Settings, publisher: Publisher,
                 usage: Housekeeping, pool: DbPool, dialect: Dialect) -> None:
        self.cfg = cfg
        self.plan = plan
        self.name = cfg.node
        self.admin_token = admin_token
        self.settings = settings
        self.publisher = publisher
        self.usage = usage
        self.pool = pool
        self.dialect = dialect
        self.routes: dict[str, Route] = {
            "/admin/system-mode": self._mode,
            "/admin/stress-reset": self._reset,
            "/admin/stress-stats": self._stats,
            "/admin/cluster-stats": self._cluster,
            "/admin/faults": self._faults,
            "/admin/usage-trim": self._trim,
        }

    def handle(self, req: Request, body: bytes) -> bytes | Awaitable[bytes]:
        if req.path == "/healthz":
            return json_response(200, {"node": self.name, "status": "ok"})
        if req.admin_token is None or not hmac.compare_digest(req.admin_token, self.admin_token):
            return json_response(401, {"error": "unauthorized", "message": "X-Admin-Token is missing or wrong"})
        route = self.routes.get(req.path)
        if route is None:
            return json_response(404, {"error": "not_found", "message": f"no admin endpoint {req.path}"})
        return self._guarded(route, req.query)

    async def _guarded(self, route: Route, query: dict[str, str]) -> bytes:
        try:
            return await route(query)
        except Exception as exc:
            log.exception("admin call failed")
            return json_response(500, {"error": "internal", "message": type(exc).__name__})

    async def _mode(self, query: dict[str, str]) -> bytes:
        s = self.settings
        mode = query.get("mode")
        adaptive_text = query.get("adaptive_enabled")
        if mode is None and adaptive_text is None:
            return json_response(200, self.dialect.system_mode({
                "node": self.name, "mode": s.mode, "adaptive_enabled": s.adaptive_enabled,
                "parameters": s.profile.parameters(), "profiles": sorted(self.plan.profiles)}))
        if mode is not None and mode not in self.plan.profiles:
            return json_response(400, {"error": "unknown_mode", "message": f"unknown mode {mode!r}",
                                       "profiles": sorted(self.plan.profiles)})
        adaptive: bool | None = None
        if adaptive_text is not None:
            if adaptive_text not in ("true", "false"):
                return json_response(400, {"error": "bad_adaptive_enabled", "message": "adaptive_enabled must be true or false"})
            adaptive = adaptive_text == "true"
        new_mode = mode or s.mode
        state = {"mode": new_mode}
        if adaptive is not None:
            state["adaptive_enabled"] = "true" if adaptive else "false"
        await self.publisher.set_state(state)
        s.apply_mode(new_mode, adaptive)
        await self.publisher.broadcast({"op": "mode", **state})
        return json_response(200, self.dialect.system_mode({
            "node": self.name, "applied_to": "cluster", "mode": s.mode, "adaptive_enabled": s.adaptive_enabled,
            "governor_limit": s.governor.limit, "parameters": s.profile.parameters()}))

    async def _reset(self, query: dict[str, str]) -> bytes:
        epoch = await self.publisher.next_reset_epoch()
        await self.publisher.broadcast({"op": "reset", "epoch": epoch})
        done = await self.publisher.reset_to(epoch)
        return json_response(200, {"node": self.name, "reset_epoch": epoch, "applied_to": "cluster",
                                   "this_node_reset": done, "nodes": list(self.plan.telemetry.nodes)})

    async def _stats(self, query: dict[str, str]) -> bytes:
        return json_response(200, self.publisher.snapshot())

    async def _cluster(self, query: dict[str, str]) -> bytes:
        return json_response(200, await self.publisher.cluster_stats())

    async def _trim(self, query: dict[str, str]) -> bytes:
        text = query.get("max_rows", "")
        if not text.isdigit():
            return json_response(400, {"error": "bad_max_rows", "message": "max_rows must be a whole number >= 0"})
        await self.usage.quiesce(STOP_TIMEOUT_S)
        before, after = await self.pool.run("trim", int(text))
        return json_response(200, {"node": self.name, "rows_before": before, "rows_after": after, "deleted": before - after})

    async def _faults(self, query: dict[str, str]) -> bytes:
        s = self.settings
        if not query:
            return json_response(200, {"node": self.name, "faults_enabled": self.cfg.faults_enabled, "faults": s.faults.as_dict()})
        if not self.cfg.faults_enabled:
            return json_response(403, {"error": "faults_disabled", "message":
                                       "fault injection is off: start the cluster with faults enabled "
                                       "(run_cluster(faults=True) or python -m pytest_trinity.reference --faults)"})
        target = query.get("node", self.name)
        if target != "all" and target not in self.plan.telemetry.nodes:
            return json_response(400, {"error": "unknown_node", "message": f"node must be 'all' or one of {list(self.plan.telemetry.nodes)}"})
        try:
            new, stall = parse_faults(s.faults if target == self.name else Faults(), query, self.cfg.max_stall_s)
        except FaultError as exc:
            return json_response(400, {"error": "bad_fault", "message": str(exc)})
        params = {k: v for k, v in query.items() if k != "node"}
        if target != self.name:
            await self.publisher.broadcast({"op": "faults", "node": target, "params": params})
        if target in (self.name, "all"):
            if target == "all":
                new, stall = parse_faults(s.faults, query, self.cfg.max_stall_s)
            s.apply_faults(new, stall)
        return json_response(200, {"node": self.name, "target": target, "faults": s.faults.as_dict(), "stall_s": stall})
