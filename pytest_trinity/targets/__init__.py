"""What a run tests against: the local reference cluster, or a target defined in TOML."""

from pytest_trinity.targets.loader import LOCAL, TargetError, load_target
from pytest_trinity.targets.model import AwsIds, Endpoints, Secret, Target

__all__ = ["LOCAL", "AwsIds", "Endpoints", "Secret", "Target", "TargetError", "load_target"]
