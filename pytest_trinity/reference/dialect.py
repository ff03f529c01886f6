"""A dialect: the names a node reports under, so the reference cluster can impersonate a target
whose contract renames things. The default dialect is the standard contract (identity).

Four renames, each `{default name: reported name}`:

* `fields`: top-level keys of a node snapshot (`node`, `ts`, `counters`, `derived`, `config`,
  `process`) and of the /admin/cluster-stats answer (`nodes`, `missing`; its `ts` and `derived`
  follow the snapshot's renames). The system-mode echo's `node` follows too.
* `counters`: counter names inside `counters` (and in cluster-stats `totals`, and the `gauges`
  lists that name counters).
* `config_keys`: keys of the snapshot's `config` object and of the /admin/system-mode echo (its
  top level and its `parameters`). Only reported names: the admin query parameters stay.
* `refusals`: the `error` words of API answers: HTTP bodies (`{"error": …}`) and UDP replies.

JSON file format: `{"fields": {…}, "counters": {…}, "config_keys": {…}, "refusals": {…}}`, every
section optional. Renaming is done where the node serializes; readers of what a node wrote
(cluster-stats, the launcher's readiness wait) look names up through the same dialect.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pytest_trinity.reference.counters import COUNTER_NAMES

SNAPSHOT_FIELDS = ("node", "ts", "counters", "derived", "config", "process")
CLUSTER_FIELDS = ("nodes", "missing")
# Every top-level key of a snapshot and of a cluster-stats answer (renamed or not), so that a
# rename cannot collide with a key that keeps its name.
SNAPSHOT_KEYS = (*SNAPSHOT_FIELDS, "gauges", "governor", "reset_epoch")
CLUSTER_KEYS = ("read_by", "ts", "expected", "nodes", "missing", "totals", "derived", "gauges", "all_zero")
# The `error` words of API answers (HTTP and UDP); admin errors keep their names.
REFUSAL_WORDS = ("unauthorized", "rate_limited", "monthly_cap", "overloaded", "internal",
                 "bad_symbol", "missing_symbol", "not_found", "bad_request", "forbidden", "bad_range")
SECTIONS = ("fields", "counters", "config_keys", "refusals")

Renames = Mapping[str, str]


def _frozen(section: str, renames: Renames, allowed: tuple[str, ...] | None) -> Mapping[str, str]:
    if not isinstance(renames, Mapping):
        raise ValueError(f"dialect {section}: expected an object of renames, got {type(renames).__name__}")
    for old, new in renames.items():
        if not isinstance(old, str) or not isinstance(new, str) or not new:
            raise ValueError(f"dialect {section}: {old!r} -> {new!r}: names must be non-empty strings")
        if allowed is not None and old not in allowed:
            raise ValueError(f"dialect {section}: {old!r} cannot be renamed; it renames {', '.join(allowed)}")
    return MappingProxyType({old: new for old, new in renames.items() if old != new})


def _check_distinct(section: str, renames: Mapping[str, str], names: tuple[str, ...]) -> None:
    """The renamed `names` must still be distinct (a rename onto another name would merge two)."""
    reported = [renames.get(n, n) for n in names] if names else list(renames.values())
    dupes = sorted({n for n in reported if reported.count(n) > 1})
    if dupes:
        raise ValueError(f"dialect {section}: two names would be reported as {', '.join(dupes)}")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """`{default: reported}` renames; empty (the default) is the standard contract."""

    fields: Renames = dataclasses.field(default_factory=dict)
    counters: Renames = dataclasses.field(default_factory=dict)
    config_keys: Renames = dataclasses.field(default_factory=dict)
    refusals: Renames = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        fields_ = _frozen("fields", self.fields, SNAPSHOT_FIELDS + CLUSTER_FIELDS)
        counters = _frozen("counters", self.counters, COUNTER_NAMES)
        config_keys = _frozen("config_keys", self.config_keys, None)
        refusals = _frozen("refusals", self.refusals, REFUSAL_WORDS)
        _check_distinct("fields", fields_, SNAPSHOT_KEYS)
        _check_distinct("fields", fields_, CLUSTER_KEYS)
        _check_distinct("counters", counters, COUNTER_NAMES)
        _check_distinct("config_keys", config_keys, ())
        _check_distinct("refusals", refusals, REFUSAL_WORDS)
        object.__setattr__(self, "fields", fields_)
        object.__setattr__(self, "counters", counters)
        object.__setattr__(self, "config_keys", config_keys)
        object.__setattr__(self, "refusals", refusals)

    def __hash__(self) -> int:
        return hash(tuple(tuple(sorted(getattr(self, s).items())) for s in SECTIONS))

    # ---- (de)serialization ---------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, str]]:
        return {s: dict(getattr(self, s)) for s in SECTIONS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dialect:
        if not isinstance(data, Mapping):
            raise ValueError(f"a dialect is a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown dialect sections {unknown}; sections: {', '.join(SECTIONS)}")
        return cls(**{s: data[s] for s in SECTIONS if data.get(s) is not None})

    @classmethod
    def from_file(cls, path: Path | str) -> Dialect:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"dialect file {path}: not JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"dialect file {path}: {exc}") from None

    # ---- names ----------------------------------------------------------------------------
    @property
    def is_identity(self) -> bool:
        return not (self.fields or self.counters or self.config_keys or self.refusals)

    def field(self, name: str) -> str:
        return self.fields.get(name, name)

    def counter(self, name: str) -> str:
        return self.counters.get(name, name)

    def config_key(self, name: str) -> str:
        return self.config_keys.get(name, name)

    def refusal(self, word: str) -> str:
        return self.refusals.get(word, word)

    # ---- renaming what a node serializes -------------------------------------------------
    def _keys(self, data: dict[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
        return {renames.get(k, k): v for k, v in data.items()} if renames else data

    def _gauges(self, data: dict[str, Any]) -> None:
        if self.counters and isinstance(data.get("gauges"), list):
            data["gauges"] = [self.counter(g) for g in data["gauges"]]

    def config(self, config: dict[str, Any]) -> dict[str, Any]:
        """A config object (or the system-mode echo's `parameters`) under the reported names."""
        return self._keys(config, self.config_keys)

    def snapshot(self, snap: dict[str, Any]) -> dict[str, Any]:
        """A node snapshot (stress-stats, `cluster:stats:<node>`) under the reported names."""
        if self.is_identity:
            return snap
        out = dict(snap)
        if isinstance(out.get("counters"), dict):
            out["counters"] = self._keys(out["counters"], self.counters)
        if isinstance(out.get("config"), dict):
            out["config"] = self.config(out["config"])
        self._gauges(out)
        return self._keys(out, self.fields)

    def cluster(self, view: dict[str, Any]) -> dict[str, Any]:
        """A cluster-stats answer (whose `nodes` already hold renamed snapshots) renamed."""
        if self.is_identity:
            return view
        out = dict(view)
        if isinstance(out.get("totals"), dict):
            out["totals"] = self._keys(out["totals"], self.counters)
        self._gauges(out)
        return self._keys(out, self.fields)

    def system_mode(self, echo: dict[str, Any]) -> dict[str, Any]:
        """The /admin/system-mode echo: config keys at the top and in `parameters`; `node`."""
        if self.is_identity:
            return echo
        out = self.config(dict(echo))
        params = out.get("parameters")
        if isinstance(params, dict):
            out["parameters"] = self.config(params)
        if "node" in self.fields and "node" in out:
            out[self.fields["node"]] = out.pop("node")
        return out


IDENTITY = Dialect()
