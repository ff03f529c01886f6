"""One node process of the reference cluster (main, mirror or lrs): builds its components from
the launcher's config file, starts and stops them, and runs the event loop.

Run as `python -m pytest_trinity.reference.node CONFIG.json` by the launcher. One process, one
event loop (uvloop where installed). What the parts do:

* api.py: the API port (/price, /reports/usage); udp.py: the UDP requests; serving.py: what both
  share (usage rows, injected faults, the governed slow lookup); governor.py: the shedding.
* admin.py: the admin port; publisher.py: the snapshot in Redis and the cluster-wide control
  plane; settings.py: the profile, governor and faults in force.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import redis.asyncio as aioredis

from pytest_trinity.oslimits import raise_nofile_limit
from pytest_trinity.plan import Plan, load_plan
from pytest_trinity.reference.admin import Admin
from pytest_trinity.reference.api import Api
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.counters import Counters, Derived
from pytest_trinity.reference.db import DbPool, PostgresBackend, SqliteBackend
from pytest_trinity.reference.governor import Governor
from pytest_trinity.reference.httpserver import serve_http
from pytest_trinity.reference.keys import KeyRing
from pytest_trinity.reference.prices import PriceBook
from pytest_trinity.reference.publisher import STOP_TIMEOUT_S, Publisher
from pytest_trinity.reference.secrets import ClusterSecrets
from pytest_trinity.reference.serving import Serving
from pytest_trinity.reference.settings import Settings
from pytest_trinity.reference.telemetry import NetBytes, ProcessSampler
from pytest_trinity.reference.udp import UdpApi
from pytest_trinity.reference.udpserver import UdpServer
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")


class Node:
    def __init__(self, cfg: NodeConfig, plan: Plan, secrets: ClusterSecrets) -> None:
        self.cfg = cfg
        self.name = cfg.node
        dialect = cfg.dialect
        self.counters = counters = Counters()
        self.net = NetBytes()   # every socket's bytes: the container's network counters
        self.redis = aioredis.Redis.from_url(cfg.redis_url, socket_connect_timeout=5, socket_timeout=10)
        self.keys = KeyRing(secrets.keys, counters)
        backend = PostgresBackend(cfg.dsn) if cfg.dsn else SqliteBackend(cfg.sqlite_path)
        self.pool = DbPool(backend, counters, 1)
        self.usage = Housekeeping(counters, self.pool, cfg.bg_capacity, cfg.bg_workers)
        self.prices = PriceBook(counters, self.redis, cfg.rest_latency_ms / 1000.0, cfg.feed_tick_ms / 1000.0)
        self.governor = Governor()
        self.serving = Serving(self.name, counters, self.prices, self.usage, self.governor)
        self.api = Api(self.serving, self.keys, self.pool, dialect)
        self.udp_api = UdpApi(self.serving, self.keys, dialect)
        self.udp = UdpServer(cfg.host, cfg.udp_port, cfg.udp_sockets, self.udp_api.handle, counters, cfg.udp_queue, cfg.udp_workers,
                             self.net)
        self.settings = Settings(cfg, plan, self.keys, self.prices, self.usage, self.pool, self.governor, self.serving, self.udp)
        self.publisher = Publisher(cfg, plan, self.redis, self.settings, counters, Derived(), ProcessSampler(self.net), self.pool,
                                   self.usage, dialect)
        self.admin = Admin(cfg, plan, secrets.admin_token.value.encode(), self.settings, self.publisher, self.usage, self.pool,
                           dialect)
        self.servers: list[asyncio.base_events.Server] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def _sync_monthly(self) -> None:
        await self.keys.sync_monthly(self.redis)

    async def start(self) -> None:
        cfg = self.cfg
        self.settings.apply_mode(cfg.mode, cfg.adaptive_enabled)
        await self.redis.ping()
        await self.publisher.load_state()
        await self._create_schema()
        self.prices.start_feeds()
        self.usage.start()
        self.udp.start()
        periodic = self.publisher.run_periodic((self._sync_monthly, self.prices.store_feed_prices))
        self.tasks += [asyncio.create_task(self.publisher.listen(), name="control"), asyncio.create_task(periodic, name="publisher")]
        await self.publisher.reconcile()
        await self.publisher.publish()
        self.servers.append(await serve_http(self.api.handle, cfg.host, cfg.api_port, self.net))
        self.servers.append(await serve_http(self.admin.handle, cfg.host, cfg.admin_port, self.net))
        log.warning("node %s up: api %s:%d admin %s:%d udp %s:%d (%d sockets)", self.name, cfg.host, cfg.api_port,
                    cfg.host, cfg.admin_port, cfg.host, cfg.udp_port, cfg.udp_sockets)

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
        self.settings.stress.stop()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.prices.stop_feeds()
        await self.usage.stop(STOP_TIMEOUT_S)
        await self.pool.close()
        await self.redis.aclose()  # type: ignore[attr-defined,unused-ignore]  # types-redis 4.6 predates aclose (redis >= 5)


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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pytest_trinity.reference.node CONFIG.json", file=sys.stderr)
        return 2
    cfg = NodeConfig.from_file(argv[0])
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {cfg.node} %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.warning("open files limit %d", raise_nofile_limit())
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(cfg))
    else:
        uvloop.run(serve(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
