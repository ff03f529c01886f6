"""Latency histograms: raw microsecond integers appended on the hot path, folded into
HdrHistograms (1 µs .. 60 s, 3 significant digits) once per interval, encoded for transport
between processes and merged with decode/add.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def fold(hist: HdrHistogram, raw: Iterable[int]) -> int:
    """Record raw µs samples into `hist` (one record call per distinct value); values above
    the range are clamped to its top. Returns how many samples were folded."""
    n = 0
    record = hist.record_value
    for value, count in Counter(raw).items():
        record(HIGHEST_US if value > HIGHEST_US else (0 if value < 0 else value), count)
        n += count
    return n


def encode(hist: HdrHistogram) -> str:
    text: str = hist.encode().decode("ascii")  # hdrh is untyped
    return text


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merge_encoded(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every sample of the encoded ones."""
    out = new_histogram()
    for e in encoded:
        if e:
            out.decode_and_add(e.encode("ascii"))
    return out


PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class Latency:
    """A latency distribution as data: the encoded histogram plus a few ready numbers (µs)."""

    encoded: str
    count: int
    min_us: int
    max_us: int
    mean_us: float
    percentiles_us: dict[str, int]

    @classmethod
    def from_histogram(cls, hist: HdrHistogram) -> Latency:
        count = hist.get_total_count()
        pct = {f"p{p:g}": (hist.get_value_at_percentile(p) if count else 0) for p in PERCENTILES}
        return cls(encode(hist), count, hist.get_min_value() if count else 0, hist.get_max_value() if count else 0,
                   round(hist.get_mean_value(), 3) if count else 0.0, pct)

    @classmethod
    def empty(cls) -> Latency:
        return cls.from_histogram(new_histogram())

    def histogram(self) -> HdrHistogram:
        return decode(self.encoded) if self.encoded else new_histogram()

    def percentile_us(self, p: float) -> int:
        """Any percentile (0..100) from the full histogram, in µs (0 when empty)."""
        key = f"p{p:g}"
        if key in self.percentiles_us:
            return self.percentiles_us[key]
        return self.histogram().get_value_at_percentile(p) if self.count else 0

    def percentile_ms(self, p: float) -> float:
        return self.percentile_us(p) / 1000.0

    def __add__(self, other: Latency) -> Latency:
        return Latency.from_histogram(merge_encoded([self.encoded, other.encoded]))

    def __repr__(self) -> str:
        return f"Latency(count={self.count}, {', '.join(f'{k}={v}us' for k, v in self.percentiles_us.items())})"

    def to_dict(self) -> dict[str, Any]:
        return {"encoded": self.encoded, "count": self.count, "min_us": self.min_us, "max_us": self.max_us,
                "mean_us": self.mean_us, "percentiles_us": dict(self.percentiles_us)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latency:
        return cls(data["encoded"], int(data["count"]), int(data["min_us"]), int(data["max_us"]),
                   float(data["mean_us"]), {k: int(v) for k, v in data["percentiles_us"].items()})


def merge(latencies: Iterable[Latency]) -> Latency:
    return Latency.from_histogram(merge_encoded(lat.encoded for lat in latencies))


@dataclass(frozen=True)
class SecondSample:
    """One interval of the per-second series (t: seconds since the run started)."""

    t: int
    requests: int
    errors: int
    p50_us: int
    p99_us: int
    encoded: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "requests": self.requests, "errors": self.errors,
                "p50_us": self.p50_us, "p99_us": self.p99_us}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecondSample:
        return cls(int(data["t"]), int(data["requests"]), int(data["errors"]), int(data["p50_us"]),
                   int(data["p99_us"]), data.get("encoded", ""))


def merge_series(series: Iterable[Iterable[SecondSample]]) -> list[SecondSample]:
    """Sum shards' per-second samples by second; percentiles from the merged histograms."""
    by_t: dict[int, list[SecondSample]] = {}
    for one in series:
        for s in one:
            by_t.setdefault(s.t, []).append(s)
    out = []
    for t in sorted(by_t):
        group = by_t[t]
        hist = merge_encoded(s.encoded for s in group)
        n = hist.get_total_count()
        out.append(SecondSample(t, sum(s.requests for s in group), sum(s.errors for s in group),
                                hist.get_value_at_percentile(50) if n else 0,
                                hist.get_value_at_percentile(99) if n else 0))
    return out
