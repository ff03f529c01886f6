"""The target contract as one object: how the plugin talks to a target and reads its answers.

`TargetContract` is what the rest of the plugin calls; `TrinityContract` is its default
implementation, the contract of docs/targets.md (DESIGN.md's names), in which a targets file
may override any name in a `[targets.X.contract]` table. A service that needs more than
renamed keys implements `TargetContract` in Python and returns it from the
`pytest_trinity_contract` hook.

Snapshots are translated into the plan's names here, once, at parsing: everything above this
module (checklist, figures, red flags, reports) sees `db_max_open`, `micro_batch` and
`rate_limit_hits` whatever the target calls them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pytest_trinity.model import ClusterStats, NodeSnapshot


class ContractError(ValueError):
    """A target's answer does not have the shape its contract describes; the message names
    where it came from and what was expected."""


ADMIN_ACTIONS = ("system_mode", "stress_reset", "stress_stats", "cluster_stats", "usage_trim")
REFUSAL_OUTCOMES = ("monthly_cap", "rate_limited")


@dataclass(frozen=True)
class AdminApi:
    """The admin API's paths and query parameter names."""

    system_mode: str = "/admin/system-mode"
    stress_reset: str = "/admin/stress-reset"
    stress_stats: str = "/admin/stress-stats"
    cluster_stats: str = "/admin/cluster-stats"
    usage_trim: str = "/admin/usage-trim"
    mode_param: str = "mode"
    governor_param: str = "adaptive_enabled"
    max_rows_param: str = "max_rows"
    true: str = "true"
    false: str = "false"


@dataclass(frozen=True)
class SnapshotFields:
    """The key names of a stress-stats snapshot and of the cluster-stats answer."""

    node: str = "node"
    ts: str = "ts"
    counters: str = "counters"
    derived: str = "derived"
    config: str = "config"
    process: str = "process"
    nodes: str = "nodes"
    missing: str = "missing"


@runtime_checkable
class TargetContract(Protocol):
    """What the plugin needs to know of a target's wire contract."""

    @property
    def api_key_header(self) -> str: ...
    @property
    def admin_token_header(self) -> str: ...
    @property
    def refusals(self) -> tuple[tuple[str, str], ...]:
        """(outcome, body word) pairs: a 429 whose body holds the word is that outcome ("rate_limited", "monthly_cap")."""
    @property
    def cache_field(self) -> str: ...
    @property
    def cache_values(self) -> tuple[str, ...]: ...
    @property
    def udp_codec(self) -> str:
        """"json", or "package.module:factory" of a codec the driver's worker processes import."""

    def admin_request(self, action: str, **values: str | int | bool) -> tuple[str, dict[str, str]]:
        """(path, query parameters) of an admin call; `action` is one of ADMIN_ACTIONS."""

    def parse_node(self, data: Any, counters: tuple[str, ...], where: str) -> NodeSnapshot:
        """A stress-stats snapshot in the plan's names; ContractError if it has another shape."""

    def parse_cluster(self, data: Any, nodes: tuple[str, ...], counters: tuple[str, ...], where: str) -> ClusterStats:
        """A cluster-stats answer in the plan's names; ContractError if it has another shape."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TrinityContract:
    """The default contract (docs/targets.md); every name can be overridden in a targets file.

    `counters` and `config_keys` map the plan's name to the target's, for the names that differ
    (e.g. {"micro_batch": "ubat", "config_poll_s": "config_poll"}).
    """

    api_key_header: str = "X-API-Key"
    admin_token_header: str = "X-Admin-Token"
    admin: AdminApi = field(default_factory=AdminApi)
    fields: SnapshotFields = field(default_factory=SnapshotFields)
    counters: Mapping[str, str] = field(default_factory=dict)
    config_keys: Mapping[str, str] = field(default_factory=dict)
    refusals: tuple[tuple[str, str], ...] = (("monthly_cap", "monthly_cap"), ("rate_limited", "rate_limited"))
    cache_field: str = "source"
    cache_values: tuple[str, ...] = ("syncmap", "cache")
    udp_codec: str = "json"
    # The reverse maps parse_node needs (target name -> plan name), built once.
    _counters_back: dict[str, str] = field(init=False, repr=False, compare=False)
    _config_back: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_counters_back", {v: k for k, v in self.counters.items()})
        object.__setattr__(self, "_config_back", {v: k for k, v in self.config_keys.items()})

    def admin_request(self, action: str, **values: str | int | bool) -> tuple[str, dict[str, str]]:
        api = self.admin
        if action not in ADMIN_ACTIONS:
            raise ValueError(f"unknown admin action {action!r} (known: {', '.join(ADMIN_ACTIONS)})")
        names = {"mode": api.mode_param, "adaptive_enabled": api.governor_param, "max_rows": api.max_rows_param}
        params = {}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"admin {action}: unknown parameter {name!r}")
            params[names[name]] = (api.true if value else api.false) if isinstance(value, bool) else str(value)
        path: str = getattr(api, action)
        return path, params

    def parse_node(self, data: Any, counters: tuple[str, ...], where: str) -> NodeSnapshot:
        f = self.fields
        if not isinstance(data, dict) or not isinstance(data.get(f.counters), dict):
            raise ContractError(f"{where}: expected a snapshot with a {f.counters!r} object, got {str(data)[:200]}")
        back, config_back = self._counters_back, self._config_back
        read, invalid = {}, {}
        for name, value in data[f.counters].items():
            plan_name = back.get(str(name), str(name))
            if _number(value):
                read[plan_name] = int(value)
            else:
                invalid[plan_name] = repr(value)[:40]
        derived = data.get(f.derived) or {}
        ts = data.get(f.ts)
        if ts is not None and not _number(ts):
            raise ContractError(f"{where}: {f.ts!r} must be a number (seconds since the epoch), got {str(ts)[:50]!r}")
        return NodeSnapshot(
            node=str(data.get(f.node, "?")),
            ts=float(ts or 0.0),
            counters=read,
            derived={k: v for k, v in derived.items() if v is None or _number(v)} if isinstance(derived, dict) else {},
            config={config_back.get(str(k), str(k)): v for k, v in (data.get(f.config) or {}).items()},
            process=dict(data.get(f.process) or {}),
            missing_counters=tuple(c for c in counters if c not in read),
            invalid_counters=invalid,
        )

    def parse_cluster(self, data: Any, nodes: tuple[str, ...], counters: tuple[str, ...], where: str) -> ClusterStats:
        f = self.fields
        if not isinstance(data, dict) or not isinstance(data.get(f.nodes), dict):
            raise ContractError(f"{where}: expected {{{f.nodes!r}: {{…}}, {f.missing!r}: […]}}, got {str(data)[:200]}")
        parsed = {str(name): self.parse_node(snap, counters, f"{where} node {name}") for name, snap in data[f.nodes].items()}
        reported = [str(n) for n in data.get(f.missing) or ()]
        missing = tuple(dict.fromkeys([*reported, *(n for n in nodes if n not in parsed)]))
        return ClusterStats(nodes=parsed, missing=missing)
