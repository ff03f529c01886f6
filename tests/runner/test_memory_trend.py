"""2e's memory trend: fitted per node, so a node missing from some snapshots cannot fake or
hide growth, and one leaking node among steady ones is what the figure shows."""

from __future__ import annotations

import pytest

from pytest_trinity.runner.collect import memory_growth_pct, worst_memory_growth_pct

MB = 1_000_000.0


def test_steady_nodes_with_one_missing_from_half_the_snapshots_show_no_growth() -> None:
    by_node = {"main": [(t, 100 * MB) for t in range(10)],
               "mirror": [(t, 100 * MB) for t in range(10)],
               "lrs": [(t, 100 * MB) for t in range(5, 10)]}  # appeared late (a summed series would jump by half)
    assert worst_memory_growth_pct(by_node) == pytest.approx(0.0)


def test_one_leaking_node_among_steady_ones_is_the_figure() -> None:
    leak = [(float(t), 100 * MB + t * 2 * MB) for t in range(11)]  # +20 MB over 10 s on ~110 MB
    by_node = {"main": [(float(t), 100 * MB) for t in range(11)], "lrs": leak}
    assert worst_memory_growth_pct(by_node) == pytest.approx(memory_growth_pct(leak)) == pytest.approx(100 * 20 / 110)


def test_too_few_points_give_no_figure() -> None:
    assert worst_memory_growth_pct({}) is None
    assert worst_memory_growth_pct({"main": [(0.0, MB), (1.0, 2 * MB)]}) is None
