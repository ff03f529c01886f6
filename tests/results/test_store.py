"""results.json as the store writes it: valid against its schema from the first write (even a
run that recorded no level), replaced atomically, and `latest` pointing at the newest run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

import pytest_trinity.results
from pytest_trinity.plan import load_plan
from pytest_trinity.results.machine import machine_info
from pytest_trinity.results.store import RunStore, stored_runs

SCHEMA = json.loads((Path(pytest_trinity.results.__file__).parent / "results.schema.json").read_text())
RUN = {"plugin_version": "0", "plan": "p v1", "tests_commit": None, "machine": machine_info(), "levels": None,
       "target": "local", "scale": 0.01}


def test_a_run_that_recorded_no_level_still_writes_a_valid_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path, load_plan(Path(__file__).parents[2] / "profiles.toml"), RUN)
    store.write(store.document(ended=True))
    data = json.loads(store.path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["tests"] == {} and data["levels"] == [] and data["run"]["ended_at"] >= data["run"]["started_at"]
    assert (tmp_path / "latest").resolve() == store.dir.resolve()
    assert not list(tmp_path.rglob("*.tmp"))


def test_stored_runs_are_the_same_target_and_scale_newest_first(tmp_path: Path) -> None:
    def run_at(name: str, target: str, scale: float, mtime: int) -> Path:
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"run": {"target": target, "scale": scale}, "levels": []}))
        os.utime(path, (mtime, mtime))
        return path

    old = run_at("a", "local", 0.01, 1_000)
    new = run_at("b", "local", 0.01, 2_000)
    run_at("c", "local", 0.5, 3_000)
    run_at("d", "prod", 0.01, 4_000)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "results.json").write_text("{not json")
    assert [p for p, _ in stored_runs(tmp_path, "local", 0.01)] == [new, old]
    assert [p for p, _ in stored_runs(tmp_path, "local", 0.01, exclude=new.parent)] == [old]
    assert list(stored_runs(tmp_path / "missing", "local", 0.01)) == []


def test_check_report_dir_accepts_a_writable_dir_or_one_to_be_created_and_leaves_nothing(tmp_path: Path) -> None:
    from pytest_trinity.results.store import check_report_dir

    check_report_dir(tmp_path)
    check_report_dir(tmp_path / "not" / "yet")
    assert list(tmp_path.iterdir()) == []  # nothing created, the probe removed


def test_check_report_dir_refuses_a_file_and_a_path_under_a_file(tmp_path: Path) -> None:
    from pytest_trinity.results.store import StoreError, check_report_dir

    file = tmp_path / "reports"
    file.write_text("")
    with pytest.raises(StoreError, match=rf"^the report dir {re.escape(str(file))} \(--trinity-report-dir\) is not a directory: a file is there$"):
        check_report_dir(file)
    under = file / "sub" / "dir"
    with pytest.raises(StoreError, match=rf"^the report dir {re.escape(str(under))} \(--trinity-report-dir\) cannot be created: "
                                         rf"its parent {re.escape(str(file))} is not a directory$"):
        check_report_dir(under)
    assert issubclass(StoreError, OSError)


def test_check_report_dir_refuses_a_dir_it_cannot_write(tmp_path: Path) -> None:
    """Root ignores mode bits: as root, an immutable directory (chattr +i) stands for a
    read-only one; without chattr support the case is skipped, saying why."""
    from pytest_trinity.results.store import StoreError, check_report_dir

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o555)
        undo = ["chmod", "755", str(locked)]
    else:
        made = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, text=True) if shutil.which("chattr") else None
        if made is None or made.returncode != 0:
            reason = "chattr not found" if made is None else made.stderr.strip()
            print(f"skipping: running as root and cannot make {locked} immutable: {reason}")
            pytest.skip(f"as root, a read-only directory needs chattr +i: {reason}")
        undo = ["chattr", "-i", str(locked)]
    try:
        with pytest.raises(StoreError, match=rf"^the report dir {re.escape(str(locked))} \(--trinity-report-dir\) is not writable: "):
            check_report_dir(locked)
        with pytest.raises(StoreError, match=r"is not writable \(it does not exist yet; .*locked is where it would be created\)"):
            check_report_dir(locked / "reports")
    finally:
        subprocess.run(undo, check=True)
