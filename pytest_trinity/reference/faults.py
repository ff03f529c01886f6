"""Fault knobs of a node: what they are, how a query string sets them, and their current state.

All are off by default, and a node started without faults enabled refuses to set any (403).

| knob              | value          | effect on the node                                          |
|-------------------|----------------|-------------------------------------------------------------|
| error_5xx_ratio   | 0..1           | that share of API requests (TCP and UDP) answer 500         |
| latency_ms        | >= 0           | every API request is delayed that long before it is handled |
| udp_drop_ratio    | 0..1           | that share of received datagrams is dropped (udp_dropped)   |
| bg_drop_ratio     | 0..1           | that share of usage-log entries is dropped (bg_dropped)     |
| stop_publish      | true/false     | the node stops writing cluster:stats:<node> (goes missing)  |
| refuse_reset      | true/false     | the node ignores /admin/stress-reset                        |
| feeds_paused      | true/false     | the exchange feeds stop ticking (the map goes stale)        |
| stall_s           | 0..max_stall_s | once: the node stops answering anything for that long       |
| cpu_burn          | true/false     | a thread burns about one vCPU in the node (CpuUtilized)     |
| leak_mb_s         | 0..64          | RSS grows that many MiB/s, at most LEAK_CAP_MB; 0 frees it  |
| unhealthy         | true/false     | the API's /healthz (LB health check) answers 503            |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

RATIOS = ("error_5xx_ratio", "udp_drop_ratio", "bg_drop_ratio")
FLAGS = ("stop_publish", "refuse_reset", "feeds_paused", "cpu_burn", "unhealthy")
MAX_LEAK_MB_S = 64.0
LEAK_CAP_MB = 512


class FaultError(ValueError):
    """A bad fault query; the message names the knob and what it accepts."""


@dataclass(frozen=True)
class Faults:
    error_5xx_ratio: float = 0.0
    latency_ms: float = 0.0
    udp_drop_ratio: float = 0.0
    bg_drop_ratio: float = 0.0
    stop_publish: bool = False
    refuse_reset: bool = False
    feeds_paused: bool = False
    cpu_burn: bool = False
    leak_mb_s: float = 0.0
    unhealthy: bool = False

    @property
    def affects_requests(self) -> bool:
        return bool(self.error_5xx_ratio or self.latency_ms)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


KNOBS = tuple(f.name for f in fields(Faults)) + ("stall_s",)


def _flag(name: str, text: str) -> bool:
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise FaultError(f"{name} must be true or false, got {text!r}")


def parse_faults(current: Faults, params: dict[str, str], max_stall_s: float) -> tuple[Faults, float]:
    """Apply the knobs in `params` to `current`; return the new faults and a stall (0: none).

    `clear=true` resets every knob first. Unknown knobs are errors, never ignored.
    """
    faults = Faults() if params.get("clear") in ("true", "1") else current
    stall = 0.0
    changes: dict[str, Any] = {}
    for name, text in params.items():
        if name in ("clear", "node"):
            continue
        if name not in KNOBS:
            raise FaultError(f"unknown fault knob {name!r}; knobs: {', '.join(KNOBS)}")
        if name in FLAGS:
            changes[name] = _flag(name, text)
            continue
        try:
            value = float(text)
        except ValueError:
            raise FaultError(f"{name} must be a number, got {text!r}") from None
        if name in RATIOS and not 0.0 <= value <= 1.0:
            raise FaultError(f"{name} must be between 0 and 1, got {value}")
        if name == "latency_ms" and not 0.0 <= value <= max_stall_s * 1000:
            raise FaultError(f"latency_ms must be between 0 and {max_stall_s * 1000:g}, got {value}")
        if name == "leak_mb_s" and not 0.0 <= value <= MAX_LEAK_MB_S:
            raise FaultError(f"leak_mb_s must be between 0 and {MAX_LEAK_MB_S:g}, got {value}")
        if name == "stall_s":
            if not 0.0 <= value <= max_stall_s:
                raise FaultError(f"stall_s must be between 0 and {max_stall_s:g}, got {value}")
            stall = value
            continue
        changes[name] = value
    return replace(faults, **changes), stall
