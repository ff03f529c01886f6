"""The metric sources a red flag may read, and the metrics each of them gives.

A red flag (`[red_flags.ID]` of the plan file) names a `source`, a `metric` of it and, with
`relative_to`, a second metric of the same source. A name that no source gives would stay
"unmeasured" forever, so the flag would be silently off; the plan loader checks every flag
against this catalogue instead, and a misspelling is a usage error.

The catalogue is data:

- `cluster-stats` gives every counter of the plan's `[telemetry].counters` (the level's totals
  and pool gauges) plus the metrics derived from them, `CLUSTER_DERIVED` (see
  `pytest_trinity.runner.collect`: `cluster_metrics`, `pool_gauges`);
- the cloud sources give the metrics of `BUILTIN_SOURCES`;
- a plugin or conftest that adds figures with `pytest_trinity_level_figures` declares its
  sources and metric names with `pytest_trinity_metric_sources`; they are merged in (a source
  already known gains the extra names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CLUSTER_STATS = "cluster-stats"

# Derived from the counters by runner/collect.py: percentages and per-second rates.
CLUSTER_DERIVED: tuple[str, ...] = (
    "syncmap_hit_pct", "cache_hit_pct", "udp_drop_pct", "bg_drop_pct", "tcp_rps", "udp_rps", "total_rps",
)

# Sources whose metric names do not depend on the plan.
BUILTIN_SOURCES: dict[str, tuple[str, ...]] = {
    "container-insights": ("cpu_pct", "rss_bytes", "memory_pct", "network_rx_bytes", "network_tx_bytes",
                           "network_rx_tx_ratio", "memory_pct_growth"),
    "load-balancer": ("errors_5xx", "target_response_p99_ms", "unhealthy_host_count", "active_connections"),
    "elasticache": ("engine_cpu_pct", "curr_connections", "cache_hits", "cache_misses", "cache_miss_pct"),
    "aurora": ("acu", "active_sessions", "connections", "pool_size", "io_datafileread_pct"),
}


def metric_sources(counters: Iterable[str],
                   extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """Every source a red flag may name -> the metrics it gives, for a plan with `counters`
    and the sources plugins declare (`extra`)."""
    sources: dict[str, tuple[str, ...]] = {CLUSTER_STATS: (*counters, *CLUSTER_DERIVED), **BUILTIN_SOURCES}
    for source, names in (extra or {}).items():
        sources[source] = tuple(dict.fromkeys((*sources.get(source, ()), *names)))
    return sources
