"""Running the plan: the pre-test checklist, each level as a pipeline of stages, the restore.

  session.py    PlanSession: the target, its admin clients, signals, the restore, the records
  level.py      one level: prepare → drive → collect → judge → record
  prepare.py    stage 1: the checklist (profile, governor, reset verified to zero)
  drive.py      stage 2: the load with the telemetry poller, the recovery probe
  collect.py    stage 3: figures and cross-test facts from what was measured
                (stage 4, judge, is the `pytest_trinity_judge_level` hook: verdict/ and its wrappers)
  checklist.py  the admin steps the checklist and the restore are made of
  loadspec.py   a plan test + level + target + contract -> the driver's LoadSpec
  local.py      the `local` target: the reference cluster started and described
  restore.py    production restored on every exit path
"""

from pytest_trinity.runner.checklist import SetupError, TargetUnreachable
from pytest_trinity.runner.level import run_level
from pytest_trinity.runner.restore import RestoreReport
from pytest_trinity.runner.session import Ceiling, PlanSession

__all__ = ["Ceiling", "PlanSession", "RestoreReport", "SetupError", "TargetUnreachable", "run_level"]
