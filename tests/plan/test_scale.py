"""Scaling arithmetic and level selection."""

from __future__ import annotations

import pytest

from pytest_trinity.plan import Level, parse_level_selection, parse_scale, scale_level


@pytest.mark.parametrize(("requests", "concurrent", "scale", "expected"), [
    (9_000_000, 21_000, 0.01, (90_000, 210)),
    (300, 30, 0.01, (3, 1)),        # 0.3 concurrent rounds to 0 and is raised to 1
    (300, 30, 1.0, (300, 30)),
    (900, 90, 0.001, (1, 1)),       # at least one request and one connection
    (3_000, 300, 0.5, (1_500, 150)),
    (10, 30, 1.0, (10, 10)),        # never more in flight than requests to send
])
def test_scale_level(requests, concurrent, scale, expected):
    level = Level(7, requests, concurrent, "x")
    scaled = scale_level(level, scale)
    assert (scaled.requests, scaled.concurrent) == expected
    assert scaled.id == f"L07-c{concurrent}"  # ids keep the plan's numbers


@pytest.mark.parametrize(("text", "expected"), [
    ("1-9", tuple(range(1, 10))), ("5", (5,)), ("1,3,5", (1, 3, 5)), ("1-3,7", (1, 2, 3, 7)), ("3, 1", (1, 3)),
])
def test_level_selection(text, expected):
    assert parse_level_selection(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3-1", "0", "1-", "-2"])
def test_bad_level_selection(text):
    with pytest.raises(ValueError, match="must be level numbers like 1-9"):
        parse_level_selection(text)


@pytest.mark.parametrize("text", ["0", "1.5", "-0.1", "x", "nan"])
def test_bad_scale(text):
    with pytest.raises(ValueError, match="0 < S ≤ 1"):
        parse_scale(text)
