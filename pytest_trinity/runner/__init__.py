"""Running the plan: the pre-test checklist, one ramp level end to end, and the restore.

  loadspec.py   a plan test + level + target -> the driver's LoadSpec
  checklist.py  apply and verify the profile and governor, reset and verify zero
  measure.py    the driver's result + the telemetry -> the figures the judge reads
  record.py     one level's JSON-serialisable result record
  restore.py    production restored on every exit path
  session.py    PlanRun: the run's cluster, clients, records and cross-test facts
"""

from pytest_trinity.runner.checklist import SetupError, TargetUnreachable
from pytest_trinity.runner.record import LevelRecord
from pytest_trinity.runner.restore import RestoreReport
from pytest_trinity.runner.session import PlanRun

__all__ = ["LevelRecord", "PlanRun", "RestoreReport", "SetupError", "TargetUnreachable"]
