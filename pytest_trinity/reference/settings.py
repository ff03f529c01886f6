"""The node's live configuration: the profile (mode) and governor in force and the faults, applied
to every component that depends on them, and reported as the snapshot's `config` object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pytest_trinity.plan import Plan, Profile
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.db import DbPool
from pytest_trinity.reference.faults import Faults
from pytest_trinity.reference.governor import Governor
from pytest_trinity.reference.keys import KeyRing
from pytest_trinity.reference.prices import PriceBook
from pytest_trinity.reference.serving import Serving
from pytest_trinity.reference.udpserver import UdpServer
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR}


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
        self.mode = cfg.mode
        self.profile: Profile = plan.profiles[cfg.mode]
        governor.enabled = cfg.adaptive_enabled

    @property
    def adaptive_enabled(self) -> bool:
        return self.governor.enabled

    @property
    def faults(self) -> Faults:
        return self.serving.faults

    def apply_mode(self, mode: str, adaptive: bool | None = None) -> None:
        p = self.plan.profiles[mode]
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
