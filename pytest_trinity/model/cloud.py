"""What CloudWatch (and Performance Insights) said about a level or a test's window.

A `CloudMetric` is one plan metric of a cloud source (`container-insights`, `load-balancer`,
`elasticache`, `aurora`) over the window's whole periods: its per-period series, the figure
the red flags read, and its status. Only a `measured` metric has a value; `missing` (the
datapoints did not arrive within the plan's `[cloud].late_data_s`), `not configured` (the
target's `[aws]` lacks an id the query needs), `not published` (the resource does not
publish it, e.g. an NLB's 5xx) and `too short` (a trend over fewer than 3 periods) never pass
a red flag: the judge lists them as unmeasured, and a missing one is a breach of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MEASURED = "measured"
MISSING = "missing"
NOT_CONFIGURED = "not configured"
NOT_PUBLISHED = "not published"
TOO_SHORT = "too short"    # arrived, but the window is too short for the figure (a trend needs 3 periods)
UNDEFINED = "undefined"    # arrived, but a ratio's denominator is 0 (e.g. no cache lookup at all)

# How a level's cloud figures were judged.
JUDGED_LEVEL = "level"     # on its own whole periods
JUDGED_WINDOW = "window"   # with the test's other short levels, in the test's cloud-window case
CLOUD_WINDOW_ID = "cloud"  # the level id of a test's cloud-window record (level number 0)


@dataclass(frozen=True)
class CloudMetric:
    source: str
    metric: str
    query_set: str
    status: str
    value: float | None = None
    periods: tuple[tuple[float, float | None], ...] = ()  # (period start, epoch s; value or None)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "metric": self.metric, "query_set": self.query_set, "status": self.status,
                "value": self.value, "periods": [list(p) for p in self.periods], "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CloudMetric:
        value = data.get("value")
        return cls(str(data["source"]), str(data["metric"]), str(data["query_set"]), str(data["status"]),
                   float(value) if value is not None else None,
                   tuple((float(t), float(v) if v is not None else None) for t, v in data.get("periods", [])),
                   str(data.get("detail", "")))


@dataclass(frozen=True)
class CloudFigures:
    """The cloud side of one level (judged on its own periods) or of a test's window."""

    start: float            # the first whole period's start (epoch s)
    end: float              # the last whole period's end
    period_s: int
    judged: str             # JUDGED_LEVEL or JUDGED_WINDOW
    metrics: tuple[CloudMetric, ...] = ()
    waited_s: float = 0.0   # how long the run waited for late datapoints
    insights: dict[str, Any] = field(default_factory=dict)  # Performance Insights: top waits and SQL (reported)
    links: tuple[tuple[str, str], ...] = ()                # (label, CloudWatch console URL)
    levels: tuple[str, ...] = ()                           # the window's levels (JUDGED_WINDOW)
    note: str = ""

    def sources(self) -> dict[str, dict[str, float]]:
        """The measured figures by source, as `LevelFigures.sources` holds them."""
        out: dict[str, dict[str, float]] = {}
        for m in self.metrics:
            if m.status == MEASURED and m.value is not None:
                out.setdefault(m.source, {})[m.metric] = m.value
        return out

    def unavailable(self) -> tuple[CloudMetric, ...]:
        return tuple(m for m in self.metrics if m.status != MEASURED)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "period_s": self.period_s, "judged": self.judged,
                "metrics": [m.to_json() for m in self.metrics], "waited_s": self.waited_s, "insights": self.insights,
                "links": [list(link) for link in self.links], "levels": list(self.levels), "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CloudFigures:
        return cls(float(data["start"]), float(data["end"]), int(data["period_s"]), str(data["judged"]),
                   tuple(CloudMetric.from_json(m) for m in data.get("metrics", [])), float(data.get("waited_s", 0.0)),
                   dict(data.get("insights") or {}), tuple((str(a), str(b)) for a, b in data.get("links", [])),
                   tuple(str(x) for x in data.get("levels", [])), str(data.get("note", "")))
