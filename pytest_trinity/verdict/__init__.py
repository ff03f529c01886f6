"""Judging a level: the plan's criteria, red flags, graceful degradation and reconciliation."""

from pytest_trinity.verdict.judge import judge_level

__all__ = ["judge_level"]
