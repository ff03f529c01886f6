"""The one definition of a trend: the least-squares growth of a series over its span.

Used for 2e's memory trend from the nodes' RSS (`runner/collect.py`) and from Container
Insights' memory % (`cloud/reader.py`).
"""

from __future__ import annotations


def fitted_growth(points: list[tuple[float, float]]) -> float | None:
    """Slope × span of the least-squares line through (t, value) points, in the value's unit;
    None with fewer than 3 points or no spread in time."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    if var_t == 0:
        return None
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var_t
    return slope * (points[-1][0] - points[0][0])
