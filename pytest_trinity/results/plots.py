"""Plots of a plan run as PNG data URIs (matplotlib, Agg canvas), so an HTML report embeds them.

Pure functions: numbers in, `data:image/png;base64,…` out. Every limit line drawn (the p50 and
p99 limits, the minimum success %) is passed in by the caller from the plan; nothing here
knows a plan number. matplotlib is imported on first use, so a run without an HTML report
never pays for it.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 6.4, 3.6, 80
# Percentiles of a latency spectrum: spaced on the "nines" axis (50, 90, 99, 99.9, …).
SPECTRUM_PERCENTILES = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)
NINES_TICKS = (0.0, 90.0, 99.0, 99.9, 99.99, 99.999)


@dataclass(frozen=True)
class LevelPoint:
    """One level on a per-level plot; a value that was not measured is None (no point)."""

    number: int
    label: str  # e.g. "L05" on the axis
    value: float | None


@dataclass(frozen=True)
class Spectrum:
    """A latency percentile spectrum: (percentile 0..100, latency ms) pairs, low to high."""

    label: str
    points: tuple[tuple[float, float], ...]


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _level_axis(ax: Axes, levels: Sequence[LevelPoint]) -> None:
    numbers = [p.number for p in levels]
    ax.set_xticks(numbers, [p.label for p in levels])
    if numbers:
        ax.set_xlim(min(numbers) - 0.5, max(numbers) + 0.5)
    ax.set_xlabel("level")
    ax.grid(True, alpha=0.3)


def _line(ax: Axes, points: Sequence[LevelPoint], **style: Any) -> None:
    xs = [p.number for p in points if p.value is not None]
    ys = [p.value for p in points if p.value is not None]
    ax.plot(xs, ys, marker="o", **style)


def _empty(ax: Axes, points: Sequence[LevelPoint]) -> None:
    if not any(p.value is not None for p in points):
        ax.text(0.5, 0.5, "nothing measured", transform=ax.transAxes, ha="center", va="center", color="grey")


def rps_plot(title: str, ok_rps: Sequence[LevelPoint], all_rps: Sequence[LevelPoint]) -> str:
    """Successful and all answered requests per second against level."""
    fig, ax = _figure()
    _line(ax, all_rps, label="all req/s", color="#9aa5b1", linestyle="--")
    _line(ax, ok_rps, label="successful req/s", color="#1f77b4")
    _level_axis(ax, ok_rps)
    _empty(ax, ok_rps)
    ax.set_ylabel("requests per second")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return _data_uri(fig)


def latency_plot(title: str, p50: Sequence[LevelPoint], p99: Sequence[LevelPoint], cache_hit_p50: Sequence[LevelPoint],
                 p50_limit_ms: float, p99_limit_ms: float, p99_levels: tuple[int, int]) -> str:
    """p50, p99 and cache-hit p50 against level (log scale), with the plan's two limit lines;
    the levels where the p99 limit applies are shaded."""
    fig, ax = _figure()
    low, high = p99_levels
    ax.axvspan(low - 0.5, high + 0.5, color="#ff7f0e", alpha=0.08, label=f"p99 limit applies (L{low:02d}–L{high:02d})")
    ax.axhline(p50_limit_ms, color="#2ca02c", linestyle=":", label=f"cache-hit p50 limit {p50_limit_ms:g} ms")
    ax.axhline(p99_limit_ms, color="#d62728", linestyle=":", label=f"p99 limit {p99_limit_ms:g} ms")
    _line(ax, p50, label="p50", color="#1f77b4")
    _line(ax, cache_hit_p50, label="cache-hit p50", color="#2ca02c", linestyle="--", markersize=4)
    _line(ax, p99, label="p99", color="#d62728")
    _level_axis(ax, p50)
    _empty(ax, p50)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="x-small")
    return _data_uri(fig)


def success_plot(title: str, success_pct: Sequence[LevelPoint], min_success_pct: float,
                 breaking_level: LevelPoint | None) -> str:
    """Success % against level, the plan's minimum as a line, the breaking point marked."""
    fig, ax = _figure()
    ax.axhline(min_success_pct, color="#2ca02c", linestyle=":", label=f"required {min_success_pct:g} %")
    _line(ax, success_pct, label="success %", color="#1f77b4")
    if breaking_level is not None:
        ax.axvline(breaking_level.number, color="#d62728", linestyle="--",
                   label=f"breaking point {breaking_level.label}")
        if breaking_level.value is not None:
            ax.plot([breaking_level.number], [breaking_level.value], marker="X", markersize=12, color="#d62728")
    _level_axis(ax, success_pct)
    _empty(ax, success_pct)
    lowest = min([p.value for p in success_pct if p.value is not None] + [min_success_pct])
    ax.set_ylim(max(0.0, lowest - 5), 102)
    ax.set_ylabel("success %")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize="small")
    return _data_uri(fig)


def _nines(percentile: float) -> float:
    """Position of a percentile on the nines axis: 90 → 1, 99 → 2, 99.9 → 3."""
    return -math.log10(max(1e-9, 1.0 - percentile / 100.0))


def spectrum_plot(title: str, spectra: Sequence[Spectrum], p99_limit_ms: float | None = None) -> str:
    """Latency against percentile on the nines axis (log latency), one line per spectrum."""
    fig, ax = _figure()
    if p99_limit_ms is not None:
        ax.axhline(p99_limit_ms, color="#d62728", linestyle=":", label=f"p99 limit {p99_limit_ms:g} ms")
        ax.axvline(_nines(99.0), color="#d62728", linestyle=":", alpha=0.4)
    drawn = 0
    for spectrum in spectra:
        if not spectrum.points:
            continue
        ax.plot([_nines(p) for p, _ in spectrum.points], [max(ms, 1e-3) for _, ms in spectrum.points],
                marker=".", label=spectrum.label)
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no latency recorded", transform=ax.transAxes, ha="center", va="center", color="grey")
    ax.set_xticks([_nines(p) for p in NINES_TICKS], [f"{p:g}" for p in NINES_TICKS])
    ax.set_xlabel("percentile")
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    if drawn or p99_limit_ms is not None:  # a legend with no labelled line warns
        ax.legend(loc="upper left", fontsize="x-small", ncols=2 if drawn > 6 else 1)
    return _data_uri(fig)
