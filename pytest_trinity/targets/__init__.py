"""What a run tests against: a target defined in TOML (or the local reference cluster's, made
when it starts), and the target contract that says how to talk to it."""

from pytest_trinity.targets.aws import CLOUD_QUERIES, QUERY_SETS, AwsIds, CloudQuery, StressClient
from pytest_trinity.targets.contract import (
    ADMIN_ACTIONS,
    AdminApi,
    ContractError,
    SnapshotFields,
    TargetContract,
    TrinityContract,
)
from pytest_trinity.targets.loader import LOCAL, TargetError, load_target
from pytest_trinity.targets.model import Endpoints, Secret, Target, UsageLogs

__all__ = [
    "ADMIN_ACTIONS", "CLOUD_QUERIES", "LOCAL", "QUERY_SETS", "AdminApi", "AwsIds", "CloudQuery", "ContractError", "Endpoints",
    "Secret", "SnapshotFields", "StressClient", "Target", "UsageLogs",
    "TargetContract", "TargetError", "TrinityContract", "load_target",
]
