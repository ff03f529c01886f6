"""The plan as typed data: the model, its loader, and the scaling of its ramp."""

from pytest_trinity.plan.loader import PlanError, load_plan
from pytest_trinity.plan.model import (
    Baseline,
    Checklist,
    CloudTiming,
    Criteria,
    Degradation,
    Endurance,
    Level,
    Phase,
    Plan,
    PlanTest,
    Profile,
    RedFlag,
    Restore,
    Telemetry,
)
from pytest_trinity.plan.scale import ScaledLevel, parse_level_selection, parse_scale, scale_level

__all__ = [
    "Baseline", "Checklist", "CloudTiming", "Criteria", "Degradation", "Endurance", "Level", "Phase", "Plan", "PlanError",
    "PlanTest", "Profile", "RedFlag", "Restore", "ScaledLevel", "Telemetry", "load_plan",
    "parse_level_selection", "parse_scale", "scale_level",
]
