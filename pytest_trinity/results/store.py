"""`<report dir>/<run id>/results.json`, rewritten after every level, and `latest` beside it.

The format is versioned (`schema_version`) and described by `results.schema.json` beside this
module and by docs/results.md.

Writing after every level means a run that dies halfway still leaves what it measured. Each
write goes to a temporary file first and replaces the old one, so a reader never sees half a
file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_trinity.model import LevelRecord, summarize
from pytest_trinity.plan import Plan

SCHEMA_VERSION = 1
RESULTS = "results.json"
LATEST = "latest"


class RunStore:
    def __init__(self, report_dir: Path, plan: Plan, run: dict[str, Any]):
        self.report_dir, self.plan = report_dir, plan
        self.run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
        self.dir = report_dir / self.run_id
        self.run = dict(run, run_id=self.run_id, started_at=time.time())
        self.levels: list[LevelRecord] = []
        self.extra: dict[str, Any] = {}  # "restore", "compare"

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

    def write(self, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
        latest = self.report_dir / LATEST
        tmp_link = self.report_dir / f".{LATEST}.tmp"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(self.run_id)
        os.replace(tmp_link, latest)


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
