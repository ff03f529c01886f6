"""Frozen dataclasses for everything the plan states: ramp, tests, profiles, criteria, flags.

Nothing here holds a plan number; every value arrives from profiles.toml through the loader.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Level:
    """One step of the ramp, as the plan states it (unscaled)."""

    number: int
    requests: int
    concurrent: int
    purpose: str

    @property
    def id(self) -> str:
        """Stable test id: the level and the plan's concurrency, whatever the scale."""
        return f"L{self.number:02d}-c{self.concurrent}"


@dataclass(frozen=True)
class Phase:
    number: int
    title: str
    placement: str


@dataclass(frozen=True)
class Endurance:
    """2e: an open-model run at `load_fraction` of the ceiling `ceiling_from` measured."""

    duration_s: float
    load_fraction: float
    ceiling_from: str
    min_duration_s: float
    max_memory_growth_pct: float
    memory_advice: str

    def duration_at(self, scale: float) -> float:
        return max(self.duration_s * scale, self.min_duration_s)


@dataclass(frozen=True)
class PlanTest:
    """One test of the plan (1a, 1b, 2a–2e)."""

    id: str
    phase: int
    title: str
    protocol: str
    access_path: str
    topology: str
    profile: str
    key_tier: str
    governor: bool
    streams: tuple[str, ...]
    budget_min: float
    watch: tuple[str, ...] = ()
    compare_with: str | None = None
    endurance: Endurance | None = None


@dataclass(frozen=True)
class Profile:
    """A system-mode profile: the stress columns plus the values all stress profiles share.

    A stress profile states every value (the plan's table). The production profile states
    only what the plan file gives for it: the plan names `fresh-price` but none of its values,
    so those are None, and neither applied nor verified.
    """

    name: str
    production: bool
    batch: int | None = None
    micro_batch: int | None = None
    flush_ms: int | None = None
    db_max_open: int | None = None
    db_max_idle: int | None = None
    cache_pool: int | None = None
    cache_idle: int | None = None
    cache_read_ms: int | None = None
    qps: int | None = None
    burst: int | None = None
    ttl_s: int | None = None
    log_level: str | None = None
    config_poll_s: int | None = None
    cache_max_retries: int | None = None
    cache_dial_ms: int | None = None
    cache_write_ms: int | None = None

    @classmethod
    def value_names(cls) -> tuple[str, ...]:
        """The names of a profile's values (its config keys), in the plan's order."""
        return tuple(f.name for f in fields(cls) if f.name not in ("name", "production"))

    def parameters(self) -> dict[str, Any]:
        """The values the plan states for this profile: what a target must report back after
        `system-mode` applies it."""
        return {name: value for name in self.value_names() if (value := getattr(self, name)) is not None}


@dataclass(frozen=True)
class Criteria:
    full_success_through_level: int
    min_success_pct: float
    max_5xx: int  # 5xx answers allowed at levels up to full_success_through_level
    cache_hit_p50_ms: float
    p99_ms: float
    p99_levels: tuple[int, int]
    advice: dict[str, str]

    def p99_applies(self, level: int) -> bool:
        low, high = self.p99_levels
        return low <= level <= high


@dataclass(frozen=True)
class Degradation:
    """pytest-trinity's definition of "graceful degradation" above the full-success levels."""

    max_silent_failure_pct: float
    recovery_probe_requests: int
    recovery_probe_timeout_s: float
    advice: str


@dataclass(frozen=True)
class RedFlag:
    """`metric op threshold` (threshold × `relative_to` when given) means trouble."""

    id: str
    source: str
    metric: str
    op: str
    threshold: float
    advice: str
    unit: str = ""
    relative_to: str | None = None
    protocols: tuple[str, ...] = ()
    key_tiers: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()

    def applies_to(self, test: PlanTest) -> bool:
        return ((not self.protocols or test.protocol in self.protocols)
                and (not self.key_tiers or test.key_tier in self.key_tiers)
                and (not self.tests or test.id in self.tests))

    def limit(self, reference: float | None = None) -> float:
        if self.relative_to is None:
            return self.threshold
        if reference is None:
            raise ValueError(f"red flag {self.id} needs the value of {self.relative_to}")
        return self.threshold * reference

    def breached(self, value: float, reference: float | None = None) -> bool:
        return bool(COMPARATORS[self.op](value, self.limit(reference)))


@dataclass(frozen=True)
class Baseline:
    id: str
    test: str
    kind: str  # "previous" (a result to beat) or "target" (a goal to reach)
    label: str
    rps: float
    at_concurrent: int | None = None
    full_success_through_concurrent: int | None = None
    p50_ms: float | None = None


@dataclass(frozen=True)
class Telemetry:
    poll_s: float
    publish_s: float
    snapshot_ttl_s: float
    nodes: tuple[str, ...]
    counters: tuple[str, ...]
    gauges: tuple[str, ...]
    reconcile_tolerance_pct: float
    reconcile_advice: str


@dataclass(frozen=True)
class RunLimits:
    request_timeout_s: float
    max_level_s: float
    recovery_concurrency: int
    late_send_ms: float


@dataclass(frozen=True)
class Checklist:
    usage_logs_max_rows: int
    verify_reset_timeout_s: float


@dataclass(frozen=True)
class CloudTiming:
    """`[cloud]`: how long the run waits for late CloudWatch datapoints, and how often it asks."""

    late_data_s: float = 300.0
    poll_s: float = 10.0
    # The cluster-stats metrics a run publishes to CloudWatch with each level's figures (opt-in:
    # a target's `[aws].publish_namespace`).
    publish: tuple[str, ...] = ("total_rps", "syncmap_hit_pct", "udp_drop_pct", "bg_drop_pct", "rows_queued", "db_in_use")


@dataclass(frozen=True)
class Restore:
    profile: str
    governor: bool
    placement: str


@dataclass(frozen=True)
class Plan:
    source: Path
    name: str
    version: str
    levels: tuple[Level, ...]
    phases: dict[int, Phase]
    tests: dict[str, PlanTest]
    profiles: dict[str, Profile]
    criteria: Criteria
    degradation: Degradation
    red_flags: tuple[RedFlag, ...]
    baselines: tuple[Baseline, ...]
    telemetry: Telemetry
    checklist: Checklist
    limits: RunLimits
    placements: dict[str, dict[str, str]]
    restore: Restore
    cloud: CloudTiming = CloudTiming()

    def level(self, number: int) -> Level:
        return self.levels[number - 1]

    def profile_for(self, test: PlanTest) -> Profile:
        return self.profiles[test.profile]

    def baselines_for(self, test_id: str) -> tuple[Baseline, ...]:
        return tuple(b for b in self.baselines if b.test == test_id)

    def config_keys(self) -> tuple[str, ...]:
        """The config keys a target reports for a profile: mode, governor, and every profile value."""
        return ("mode", "adaptive_enabled", *Profile.value_names())
