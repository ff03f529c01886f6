"""The node's live configuration: the profile (mode) and governor in force and the faults, applied
to every component that depends on them, and reported as the snapshot's `config` object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from pytest_trinity.plan import Plan, Profile
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.db import DbPool
from pytest_trinity.reference.faults import Faults
from pytest_trinity.reference.governor import Governor
from pytest_trinity.reference.keys import KeyRing
from pytest_trinity.reference.prices import PriceBook
from pytest_trinity.reference.serving import Serving
from pytest_trinity.reference.stress import Stressors
from pytest_trinity.reference.udpserver import UdpServer
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR}

# The reference cluster's own production settings (the plan gives fresh-price no values): a
# short price TTL ("fresh price"), modest pools, a real per-key QPS, verbose logging. A value
# the plan file states for its production profile takes precedence.
REFERENCE_PRODUCTION: dict[str, int | str] = {
    "batch": 100, "micro_batch": 100, "flush_ms": 1_000, "db_max_open": 50, "db_max_idle": 25, "cache_pool": 300,
    "cache_idle": 100, "cache_read_ms": 500, "qps": 50, "burst": 100, "ttl_s": 5, "log_level": "info",
    "config_poll_s": 60, "cache_max_retries": 3, "cache_dial_ms": 1_000, "cache_write_ms": 1_000,
}


@dataclass(frozen=True)
class RunningProfile:
    """Every value a node runs a mode with: the plan's, over the reference's production settings."""

    name: str
    batch: int
    micro_batch: int
    flush_ms: int
    db_max_open: int
    db_max_idle: int
    cache_pool: int
    cache_idle: int
    cache_read_ms: int
    qps: int
    burst: int
    ttl_s: int
    log_level: str
    config_poll_s: int
    cache_max_retries: int
    cache_dial_ms: int
    cache_write_ms: int

    def parameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in Profile.value_names()}


def running_profile(plan: Plan, mode: str) -> RunningProfile:
    """What a node runs under `mode` (a KeyError for a mode the plan does not define)."""
    profile = plan.profiles[mode]
    values = dict(REFERENCE_PRODUCTION) if profile.production else {}
    values.update(profile.parameters())
    return RunningProfile(name=mode, **values)  # type: ignore[arg-type]  # values holds every field, each of its type


class Settings:
    def __init__(self, cfg: NodeConfig, plan: Plan, keys: KeyRing, prices: PriceBook, usage: Housekeeping, pool: DbPool,
                 governor: Governor, serving: Serving, udp: UdpServer) -> None:
        self.cfg = cfg
        self.plan = plan
        self.keys = keys
        self.prices = prices
        self.usage = usage
        self.pool = pool
        self.governor = governor
        self.serving = serving
        self.udp = udp
        self.stress = Stressors()   # cpu_burn, leak_mb_s
        self.mode = cfg.mode
        self.profile = running_profile(plan, cfg.mode)
        governor.enabled = cfg.adaptive_enabled

    @property
    def adaptive_enabled(self) -> bool:
        return self.governor.enabled

    @property
    def faults(self) -> Faults:
        return self.serving.faults

    def apply_mode(self, mode: str, adaptive: bool | None = None) -> None:
        p = running_profile(self.plan, mode)
        self.mode, self.profile = mode, p
        if adaptive is not None:
            self.governor.enabled = adaptive
        self.keys.configure(p.qps, p.burst)
        self.prices.configure(p.ttl_s, p.cache_read_ms)
        self.usage.configure(p.batch, p.micro_batch, p.flush_ms)
        self.pool.resize(p.db_max_open)
        self.governor.limit = self.cfg.governor_limit or p.cache_pool
        logging.getLogger("trinity").setLevel(LOG_LEVELS.get(p.log_level, logging.INFO))
        log.warning("mode %s applied (governor %s)", mode, "on" if self.adaptive_enabled else "off")

    def apply_faults(self, faults: Faults, stall_s: float = 0.0) -> None:
        self.serving.set_faults(faults)
        self.usage.drop_ratio = faults.bg_drop_ratio
        self.udp.set_drop_ratio(faults.udp_drop_ratio)
        self.prices.paused = faults.feeds_paused
        self.stress.apply(faults)
        log.warning("faults now %s", faults.as_dict())
        if stall_s > 0:
            log.warning("stalling for %.3f s", stall_s)
            asyncio.get_running_loop().call_later(0.05, time.sleep, stall_s)

    def config_view(self) -> dict[str, Any]:
        """The snapshot's `config` object, under the standard names."""
        return {
            "mode": self.mode,
            "adaptive_enabled": self.adaptive_enabled,
            "governor_limit": self.governor.limit,
            **self.profile.parameters(),
            "faults_enabled": self.cfg.faults_enabled,
            "faults": self.faults.as_dict(),
            "publish_s": self.cfg.publish_s,
            "snapshot_ttl_s": self.cfg.snapshot_ttl_s,
        }
