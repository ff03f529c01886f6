"""The pytest plugin (entry point `trinity`): it only gathers the hook implementations.

  options.py     --trinity-* options, ini twins, Settings
  configure.py   markers; settings, plan and target loaded into config.stash; our consumers registered
  defaults.py    the hookspecs, and the default contract and judge
  collection.py  one case per ramp level, stable ids, implied markers
  plan_table.py  --trinity-plan
  fixtures.py    trinity_plan, trinity_test, trinity_target, …
  run.py         the plan runner: trinity_run (session), trinity_runner (each case), restore report
  progress.py    live progress while a level runs
  reports.py     results.json and JUnit properties, as consumers of each recorded level
  compare.py     --trinity-compare-fail, as a judge wrapper
  terminal.py    the end-of-run summary, a consumer of each recorded level
  html_report.py the pytest-html report (registered only when --html is given)
"""

from pytest_trinity.plugin.collection import pytest_collection_modifyitems, pytest_generate_tests
from pytest_trinity.plugin.configure import pytest_configure
from pytest_trinity.plugin.defaults import pytest_addhooks, pytest_trinity_contract, pytest_trinity_judge_level
from pytest_trinity.plugin.fixtures import trinity_plan, trinity_profile, trinity_settings, trinity_target, trinity_test
from pytest_trinity.plugin.html_report import pytest_sessionstart
from pytest_trinity.plugin.options import pytest_addoption
from pytest_trinity.plugin.plan_table import pytest_report_collectionfinish, pytest_runtestloop
from pytest_trinity.plugin.run import pytest_sessionfinish, trinity_run, trinity_runner

__all__ = [
    "pytest_addhooks", "pytest_addoption", "pytest_collection_modifyitems", "pytest_configure", "pytest_generate_tests",
    "pytest_report_collectionfinish", "pytest_runtestloop", "pytest_sessionfinish", "pytest_sessionstart",
    "pytest_trinity_contract", "pytest_trinity_judge_level",
    "trinity_plan", "trinity_profile", "trinity_run", "trinity_runner", "trinity_settings", "trinity_target",
    "trinity_test",
]
