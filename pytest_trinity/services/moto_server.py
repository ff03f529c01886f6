"""moto's server with percentile statistics: the launcher `run_moto()` starts instead of `moto.server`.

This fills a moto gap. moto 5.2.5's GetMetricData answers only Sum, Average, Minimum, Maximum
and SampleCount (`Statistics.get_statistics_for_type` returns None for anything else), while
CloudWatch also answers percentiles, e.g. `p99` or `p99.9` (an ALB's TargetResponseTime p99).
`install()` adds them before moto's server starts:

* `pNN` / `pNN.N` (0 <= NN <= 100): the nearest-rank percentile over the period's raw values,
  i.e. the value of rank ceil(NN/100 * n) in ascending order (p0 is the minimum). A datum sent
  as `Values`/`Counts` is raw values (moto stores value[i] counts[i] times).
* CloudWatch needs raw values for a percentile. A `StatisticValues` set only counts as raw
  values where AWS says so: SampleCount 1 with Minimum = Maximum = Sum, or Minimum = Maximum
  with Sum = Minimum * SampleCount (every value the same). Any other statistic set in the
  period makes the percentile unavailable: no datapoint for that period, as CloudWatch does
  (moto itself would fail the whole call with a 500 on a statistic it cannot answer).

Run as `python -m pytest_trinity.services.moto_server -H 127.0.0.1 -p PORT` (moto.server's
arguments).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from typing import Any

PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d{1,10})?)")


def percentile_rank(stat: str) -> float | None:
    """The percentage a `pNN`/`pNN.N` statistic names (0..100), or None if `stat` is not one."""
    match = PERCENTILE.fullmatch(stat)
    if match is None:
        return None
    value = float(match.group(1))
    return value if 0.0 <= value <= 100.0 else None


def nearest_rank(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile `pct` (0..100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _raw_values(stats: Any) -> list[float] | None:
    """The raw values of a moto `Statistics` period; None if a statistic set hides them."""
    values = [float(v) for v in stats.metric_single_values_list]
    for agg in stats.metric_aggregated_list:
        count = int(agg.sample_count)
        same = agg.min == agg.max and count == agg.sample_count and math.isclose(agg.sum, agg.min * count)
        if not same or count < 1:
            return None
        values.extend([float(agg.min)] * count)
    return values


def install() -> None:
    """Teach moto's CloudWatch `Statistics` the percentile statistics (idempotent)."""
    from moto.cloudwatch.models import Statistics

    original = Statistics.get_statistics_for_type
    if getattr(original, "trinity_percentiles", False):
        return

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        pct = percentile_rank(stat)
        if pct is None:
            return original(self, stat)
        values = _raw_values(self)
        return None if values is None else nearest_rank(values, pct)

    get_statistics_for_type.trinity_percentiles = True  # type: ignore[attr-defined]
    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]

    from moto.cloudwatch.models import CloudWatchBackend

    get_metric_data = CloudWatchBackend.get_metric_data

    def without_unanswered(self: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """moto's GetMetricData without the periods whose statistic is None (not available)."""
        results: list[dict[str, Any]] = get_metric_data(self, *args, **kwargs)
        for result in results:
            pairs = [(t, v) for t, v in zip(result["timestamps"], result["values"], strict=True) if v is not None]
            result["timestamps"], result["values"] = [t for t, _ in pairs], [v for _, v in pairs]
        return results

    CloudWatchBackend.get_metric_data = without_unanswered  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
