"""`<report dir>/<run id>/results.json`, rewritten after every level, and `latest` beside it.

The format is versioned (`schema_version`) and described by `results.schema.json` beside this
module and by docs/results.md.

Writing after every level means a run that dies halfway still leaves what it measured. Each
write goes to a temporary file of its own (a unique name: two runs may share the report dir)
and replaces the old one, so a reader never sees half a file. A write that fails raises
`StoreError` and changes nothing in memory: the next write carries every record.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_trinity.model import LevelRecord, summarize
from pytest_trinity.plan import Plan

SCHEMA_VERSION = 1
RESULTS = "results.json"
LATEST = "latest"


class StoreError(OSError):
    """The report dir cannot hold results (not a directory, under a file, not writable), or
    results.json could not be written; the message names the path and why. An `OSError`, so
    the callers that already handle one handle this too."""


def check_report_dir(path: Path) -> None:
    """Raise `StoreError` unless results can be written under `path`: it is a directory, or
    does not exist yet and its nearest existing parent is a directory; and that directory is
    writable, tried by creating and removing a uniquely named file (mode bits mean nothing to
    root, and a read-only mount or an immutable directory refuse even root). Creates nothing
    that stays."""
    where = f"the report dir {path} (--trinity-report-dir)"
    if path.exists() and not path.is_dir():
        raise StoreError(f"{where} is not a directory: a file is there")
    existing = path
    while not existing.is_dir():
        if existing.exists() or existing.is_symlink():
            raise StoreError(f"{where} cannot be created: its parent {existing} is not a directory")
        if existing.parent == existing:
            break
        existing = existing.parent
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".trinity-write-check-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        detail = "" if existing == path else f" (it does not exist yet; {existing} is where it would be created)"
        raise StoreError(f"{where} is not writable{detail}: {exc.strerror or exc}") from None


def _unique_tmp(path: Path) -> Path:
    """A temporary name beside `path` that no other writer uses (process id and random bits;
    not `mkstemp`, whose 0600 mode would hide results.json from other users)."""
    return path.parent / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"


def _replace_atomically(path: Path, text: str) -> None:
    """Write `text` to a unique temporary file beside `path`, then replace `path` with it; the
    temporary is removed when anything fails."""
    tmp = _unique_tmp(path)
    try:
        with open(tmp, "x", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunStore:
    def __init__(self, report_dir: Path, plan: Plan, run: dict[str, Any]):
        self.report_dir, self.plan = report_dir, plan
        self.run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
        self.dir = report_dir / self.run_id
        self.run = dict(run, run_id=self.run_id, started_at=time.time())
        self.levels: list[LevelRecord] = []
        self.extra: dict[str, Any] = {}  # "restore", "compare"
        self.latest_problem: str | None = None  # why `latest` is left alone, once known

    @property
    def path(self) -> Path:
        return self.dir / RESULTS

    def document(self, ended: bool = False) -> dict[str, Any]:
        """results.json's content now."""
        if ended:
            self.run["ended_at"] = time.time()
        tests = {k: v.to_json() for k, v in summarize(self.plan, self.levels).items()}
        return {"schema_version": SCHEMA_VERSION, "run": self.run, **self.extra, "tests": tests,
                "levels": [r.to_json() for r in self.levels]}

    def write(self, data: dict[str, Any]) -> str | None:
        """Replace results.json with `data`, then point `latest` at this run. Raises
        `StoreError` naming the file when results.json could not be written. Returns a warning,
        once per run, when `latest` is not this store's to replace (e.g. a real directory or
        file): it is left alone and results still go to the run's own folder."""
        text = json.dumps(data, indent=1)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _replace_atomically(self.path, text)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return self._point_latest()

    def _point_latest(self) -> str | None:
        latest = self.report_dir / LATEST
        problem = None
        if self.latest_problem is None:
            if latest.exists() and not latest.is_symlink():
                problem = f"{latest} is not a symlink; left alone (results are in {self.dir})"
            else:
                tmp = _unique_tmp(latest)
                try:
                    tmp.symlink_to(self.run_id)
                    os.replace(tmp, latest)
                except OSError as exc:
                    tmp.unlink(missing_ok=True)
                    problem = f"cannot point {latest} at {self.run_id}: {exc.strerror or exc}; left alone (results are in {self.dir})"
        if problem is not None:
            self.latest_problem = problem
        return problem


def stored_runs(report_dir: Path, target: str, scale: float,
                exclude: Path | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(results.json path, its data) of the runs stored in `report_dir` against `target` at
    `scale`, newest first; unreadable files are passed over."""
    if not report_dir.is_dir():
        return
    runs = sorted((p for p in report_dir.glob(f"*/{RESULTS}") if p.parent != exclude), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in runs:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        run = data.get("run") if isinstance(data, dict) else None
        if isinstance(run, dict) and run.get("target") == target and run.get("scale") == scale:
            yield path, data


def judged_records(data: dict[str, Any]) -> list[LevelRecord]:
    """The judged (passed or failed) level records of a results.json document; a record of
    another shape is left out."""
    out = []
    for raw in data.get("levels", []):
        if isinstance(raw, dict) and raw.get("status") in ("passed", "failed"):
            try:
                out.append(LevelRecord.from_json(raw))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return out


def newest_records(report_dir: Path, test_id: str, target: str, scale: float,
                   exclude: Path | None = None) -> list[LevelRecord]:
    """The judged level records of `test_id` from the newest stored run against the same
    target at the same scale that has any (a ceiling measured elsewhere means nothing here)."""
    for _, data in stored_runs(report_dir, target, scale, exclude):
        records = [r for r in judged_records(data) if r.test_id == test_id]
        if records:
            return records
    return []
