"""results.json when the report dir misbehaves: two runs writing the same dir at once, a
`latest` that is a real directory, a write that fails. A level is never failed by its
report, never recorded twice, and a later write carries every record."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.plan import Plan, load_plan
from pytest_trinity.plan.scale import scale_level
from pytest_trinity.plugin.reports import ResultsJson
from pytest_trinity.results.machine import machine_info
from pytest_trinity.results.store import RunStore
from tests.conftest import REPO

RUN = {"plugin_version": "0", "plan": "p v1", "tests_commit": None, "machine": machine_info(), "levels": None,
       "target": "local", "scale": 0.01}
WRITES = 300


def _plan() -> Plan:
    return load_plan(REPO / "profiles.toml")


def _record_of(plan: Plan, index: int) -> LevelRecord:
    level = scale_level(plan.levels[index], 0.01)
    return LevelRecord.of("2a", f"test_2a[{level.id}]", level, "skipped", 1.0, 1.0, message="skipped")


def _writer(report_dir: str, failures: Any) -> None:
    store = RunStore(Path(report_dir), _plan(), RUN)  # a run id of its own: another process
    errors = []
    for _ in range(WRITES):
        try:
            store.write(store.document())
        except OSError as exc:
            errors.append(repr(exc))
    failures.put((store.run_id, errors))


def test_two_runs_writing_the_same_report_dir_at_once_never_fail(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    runs = [context.Process(target=_writer, args=(str(tmp_path), failures)) for _ in range(2)]
    for run in runs:
        run.start()
    results = dict(failures.get(timeout=120) for _ in runs)
    for run in runs:
        run.join(timeout=60)
    assert len(results) == 2
    failed = {run_id: (len(errors), errors[:3]) for run_id, errors in results.items() if errors}
    assert not failed, f"failed writes of {2 * WRITES}: {failed}"
    assert (tmp_path / "latest").is_symlink() and (tmp_path / "latest").resolve().parent == tmp_path.resolve()
    for run_id in results:
        assert json.loads((tmp_path / run_id / "results.json").read_text())["run"]["run_id"] == run_id
    assert not list(tmp_path.rglob("*.tmp"))


def _results_json(tmp_path: Path) -> tuple[ResultsJson, Plan]:
    plan = _plan()
    config = SimpleNamespace(hook=SimpleNamespace(pytest_trinity_update_results_json=lambda config, data: None),
                             pluginmanager=SimpleNamespace(get_plugin=lambda name: None))
    session = SimpleNamespace(report_dir=tmp_path, plan=plan, target=SimpleNamespace(name="local"), scale=0.01, previous=None, cloud=None)
    return ResultsJson(config, session, dict(RUN), {}), plan  # type: ignore[arg-type]


def test_a_latest_that_is_a_real_directory_is_left_alone_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "latest").mkdir()
    writer, plan = _results_json(tmp_path)
    for record in [_record_of(plan, i) for i in range(3)]:
        writer.pytest_trinity_level_recorded(item=None, record=record)  # type: ignore[arg-type]
    data = json.loads(writer.store.path.read_text())
    assert [r["level"] for r in data["levels"]] == [1, 2, 3]
    assert (tmp_path / "latest").is_dir() and not (tmp_path / "latest").is_symlink()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"pytest-trinity: warning: {tmp_path / 'latest'} is not a symlink; left alone (results are in {writer.store.dir})"]


def test_a_failed_write_fails_nothing_and_the_next_write_carries_every_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writer, plan = _results_json(tmp_path)
    writer.store.path.mkdir(parents=True)  # results.json cannot be replaced while a directory is there
    first, second, third = (_record_of(plan, i) for i in range(3))
    writer.pytest_trinity_level_recorded(item=None, record=first)  # type: ignore[arg-type]
    writer.pytest_trinity_level_recorded(item=None, record=second)  # type: ignore[arg-type]
    writer.pytest_trinity_level_recorded(item=None, record=second)  # heard twice, kept once  # type: ignore[arg-type]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"pytest-trinity: warning: cannot write {writer.store.path}: ")
    assert err[0].endswith("; 1 level record(s) kept for the next write")
    writer.store.path.rmdir()
    writer.pytest_trinity_level_recorded(item=None, record=third)  # type: ignore[arg-type]
    data = json.loads(writer.store.path.read_text())
    assert [r["level"] for r in data["levels"]] == [1, 2, 3]
    assert not list(tmp_path.rglob("*.tmp"))


def test_results_json_refuses_a_report_dir_under_a_file_before_any_load(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(pytest.fail.Exception, match=r"pytest-trinity: the report dir .*file/reports \(--trinity-report-dir\) cannot be created"):
        _results_json(tmp_path / "file" / "reports")


def test_end_to_end_a_latest_directory_fails_no_level(plan_project: pytest.Pytester) -> None:
    (plan_project.path / "reports" / "latest").mkdir(parents=True)
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2", "--trinity-scale", "0.01")
    output = result.stdout.str()
    result.assert_outcomes(passed=2)
    assert len([line for line in result.outlines if "latest is not a symlink; left alone" in line]) == 1, output
    [path] = (plan_project.path / "reports").glob("2*/results.json")
    levels = json.loads(path.read_text())["levels"]
    assert [(r["level_id"], r["status"]) for r in levels] == [("L01-c30", "passed"), ("L02-c90", "passed")]
    assert "Traceback" not in output and "IsADirectoryError" not in output


def test_end_to_end_a_report_dir_under_a_file_is_a_clean_error_before_any_load(plan_project: pytest.Pytester) -> None:
    (plan_project.path / "afile").write_text("")
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2", "--trinity-scale", "0.01",
                                               "--trinity-report-dir", "afile/reports")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output  # refused when the options are read: no case, no load
    result.stderr.fnmatch_lines(["ERROR: the report dir afile/reports (--trinity-report-dir) cannot be created: "
                                 "its parent afile is not a directory"])
    assert "production restored" not in output  # the target was never started, nothing was sent
    assert "Traceback" not in output and "During handling" not in output
