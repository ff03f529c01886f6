"""`--trinity-compare-fail`: a judge wrapper that fails a level which regressed beyond the
limits against the earlier run (`--trinity-compare`); the deltas are the level's
`facts.compare`, measured by the collect stage."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_trinity.model import Facts, LevelFigures, Verdict
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.results.compare import regressions


class RegressionCheck:
    NAME = "trinity-regression-check"

    def __init__(self, limits: dict[str, float]):
        self.limits = limits

    @pytest.hookimpl(wrapper=True)
    def pytest_trinity_judge_level(self, plan: Plan, test: PlanTest, level: ScaledLevel, figures: LevelFigures,
                                   facts: Facts) -> Generator[None, Verdict, Verdict]:
        verdict = yield
        if facts.compare is None:
            return verdict
        return verdict.with_breaches(*regressions(facts.compare, self.limits))
