"""What a run tests against: a target defined in TOML (or the local reference cluster's, made
when it starts), and the target contract that says how to talk to it."""

from pytest_trinity.targets.contract import (
    ADMIN_ACTIONS,
    AdminApi,
    ContractError,
    SnapshotFields,
    TargetContract,
    TrinityContract,
)
from pytest_trinity.targets.loader import LOCAL, TargetError, load_target
from pytest_trinity.targets.model import AwsIds, Endpoints, Secret, Target

__all__ = [
    "ADMIN_ACTIONS", "LOCAL", "AdminApi", "AwsIds", "ContractError", "Endpoints", "Secret", "SnapshotFields", "Target",
    "TargetContract", "TargetError", "TrinityContract", "load_target",
]
