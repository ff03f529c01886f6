"""Judging a level: the plan's criteria, red flags, graceful degradation and reconciliation."""

from pytest_trinity.verdict.figures import LevelFigures
from pytest_trinity.verdict.judge import Breach, Verdict, judge_level

__all__ = ["Breach", "LevelFigures", "Verdict", "judge_level"]
