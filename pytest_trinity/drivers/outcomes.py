"""Outcome counting: a cheap mutable tally for the hot path, a frozen summable record for results.

Every request ends in exactly one outcome class: ok (2xx); unauthorized (401); rate_limited
and monthly_cap (429, told apart by a word in the body, per the kind's `refusals`); other 4xx by code; 5xx by
code; other statuses by code; timeout; connect_error; reset; protocol_error; for UDP: lost,
late, and error replies by their error text. `sent` counts requests actually put on the
wire; `abandoned` those still in flight when the run ended (time limit or interrupt).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

SCALAR_FIELDS = ("sent", "ok", "cache_hits", "unauthorized", "rate_limited", "monthly_cap", "timeout",
                 "connect_error", "reset", "protocol_error", "lost", "late", "abandoned")
MAP_FIELDS = ("client_errors", "server_errors", "other_status", "error_replies")

# (Tally attribute, body word as bytes), prepared once per kind from HttpRequest.refusals
Refusals = tuple[tuple[str, bytes], ...]


def prepare_refusals(refusals: tuple[tuple[str, str], ...]) -> Refusals:
    return tuple((outcome, word.encode()) for outcome, word in refusals)


class Tally:
    """Mutable per-kind counters for one shard's event loop (never shared across threads)."""

    __slots__ = SCALAR_FIELDS + MAP_FIELDS
    sent: int
    ok: int
    cache_hits: int
    unauthorized: int
    rate_limited: int
    monthly_cap: int
    timeout: int
    connect_error: int
    reset: int
    protocol_error: int
    lost: int
    late: int
    abandoned: int
    client_errors: dict[int, int]
    server_errors: dict[int, int]
    other_status: dict[int, int]
    error_replies: dict[str, int]

    def __init__(self) -> None:
        for name in SCALAR_FIELDS:
            setattr(self, name, 0)
        for name in MAP_FIELDS:
            setattr(self, name, {})

    def status(self, code: int, body: bytes, refusals: Refusals) -> bool:
        """Count a non-2xx HTTP status; a 429 by the first of `refusals` whose word is in the
        body, else as client error 429. Returns False (it is never a success)."""
        if code == 401:
            self.unauthorized += 1
        elif code == 429:
            for outcome, word in refusals:
                if word in body:
                    setattr(self, outcome, getattr(self, outcome) + 1)
                    break
            else:
                self.client_errors[429] = self.client_errors.get(429, 0) + 1
        elif 400 <= code < 500:
            self.client_errors[code] = self.client_errors.get(code, 0) + 1
        elif 500 <= code < 600:
            self.server_errors[code] = self.server_errors.get(code, 0) + 1
        else:
            self.other_status[code] = self.other_status.get(code, 0) + 1
        return False

    def error_reply(self, error: str) -> None:
        self.error_replies[error] = self.error_replies.get(error, 0) + 1

    def freeze(self) -> Outcomes:
        kw: dict[str, Any] = {n: getattr(self, n) for n in SCALAR_FIELDS}
        kw.update({n: dict(getattr(self, n)) for n in MAP_FIELDS})
        return Outcomes(**kw)

    def failures(self) -> int:
        return self.freeze().failures


@dataclass(frozen=True)
class Outcomes:
    """Counts of each outcome class; `+` sums two of them (shards, kinds)."""

    sent: int = 0
    ok: int = 0
    cache_hits: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    monthly_cap: int = 0
    timeout: int = 0
    connect_error: int = 0
    reset: int = 0
    protocol_error: int = 0
    lost: int = 0
    late: int = 0
    abandoned: int = 0
    client_errors: dict[int, int] = field(default_factory=dict)
    server_errors: dict[int, int] = field(default_factory=dict)
    other_status: dict[int, int] = field(default_factory=dict)
    error_replies: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """Finished requests that were not ok (abandoned ones are not finished)."""
        return (self.unauthorized + self.rate_limited + self.monthly_cap + self.timeout + self.connect_error
                + self.reset + self.protocol_error + self.lost + self.late
                + sum(self.client_errors.values()) + sum(self.server_errors.values())
                + sum(self.other_status.values()) + sum(self.error_replies.values()))

    @property
    def completed(self) -> int:
        return self.ok + self.failures

    @property
    def errors_5xx(self) -> int:
        return sum(self.server_errors.values())

    @property
    def success_rate(self) -> float:
        """ok / completed (1.0 when nothing completed)."""
        return self.ok / self.completed if self.completed else 1.0

    def __add__(self, other: Outcomes) -> Outcomes:
        scal = {n: getattr(self, n) + getattr(other, n) for n in SCALAR_FIELDS}
        kw: dict[str, Any] = dict(scal)
        for n in MAP_FIELDS:
            merged = dict(getattr(self, n))
            for k, v in getattr(other, n).items():
                merged[k] = merged.get(k, 0) + v
            kw[n] = merged
        return Outcomes(**kw)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {n: getattr(self, n) for n in SCALAR_FIELDS}
        for n in MAP_FIELDS:
            out[n] = {str(k): v for k, v in sorted(getattr(self, n).items(), key=lambda kv: str(kv[0]))}
        out["failures"] = self.failures
        out["completed"] = self.completed
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcomes:
        kw: dict[str, Any] = {n: int(data.get(n, 0)) for n in SCALAR_FIELDS}
        for n in MAP_FIELDS:
            raw = data.get(n, {})
            kw[n] = {(k if n == "error_replies" else int(k)): int(v) for k, v in raw.items()}
        return cls(**kw)


assert {f.name for f in fields(Outcomes)} == set(SCALAR_FIELDS + MAP_FIELDS)
