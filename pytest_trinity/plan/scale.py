"""Shrink the ramp for local runs (`--trinity-scale`) and pick levels (`--trinity-levels`).

Scaling multiplies requests and concurrency by S (0 < S ≤ 1), rounds, and keeps at least 1
of each; concurrency never exceeds requests. Level ids keep the plan's unscaled numbers, so
results of runs at different scales line up by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_trinity.plan.model import Level


@dataclass(frozen=True)
class ScaledLevel:
    """A ramp level as it will run: the plan's level and the scaled load."""

    level: Level
    scale: float
    requests: int
    concurrent: int

    @property
    def number(self) -> int:
        return self.level.number

    @property
    def id(self) -> str:
        return self.level.id


def scale_level(level: Level, scale: float) -> ScaledLevel:
    requests = max(1, round(level.requests * scale))
    concurrent = min(requests, max(1, round(level.concurrent * scale)))
    return ScaledLevel(level, scale, requests, concurrent)


def parse_scale(text: str) -> float:
    """Parse a scale factor; raises ValueError with a message fit for the user."""
    try:
        scale = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number with 0 < S ≤ 1, got {text!r}") from None
    if not 0 < scale <= 1:
        raise ValueError(f"must be a number with 0 < S ≤ 1, got {text!r}")
    return scale


def parse_level_selection(text: str) -> tuple[int, ...]:
    """Parse "1-9", "3", "1,3,5" or "1-3,7" into sorted level numbers (range checked later)."""
    numbers: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise ValueError(f"must be level numbers like 1-9, 3 or 1,3,5, got {text!r}") from None
        if first < 1 or last < first:
            raise ValueError(f"must be level numbers like 1-9, 3 or 1,3,5, got {text!r}")
        numbers.update(range(first, last + 1))
    return tuple(sorted(numbers))
