"""Compare this run with an earlier one, level by level (`--trinity-compare PATH|latest`).

Levels are matched by plan test and level id. Ids keep the plan's numbers at every scale, so
only a run of the same `--trinity-scale` is accepted (another target is allowed when named by
path: comparing two deployments is a use); `latest` is the newest run of the same target and
scale. `--trinity-compare-fail rps:10%,p99:20%` turns a regression beyond the
limit into a failing breach whose message gives both numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_trinity.model import Breach, CompareFact, LevelRecord
from pytest_trinity.results.store import LATEST, RESULTS, judged_records, stored_runs

BIGGER_IS_BETTER = {"rps": True, "p50": False, "p99": False}  # the metrics a comparison has (model.CompareFact)


class CompareError(ValueError):
    """The earlier run to compare with cannot be read; the message names the path."""


def parse_limits(text: str) -> dict[str, float]:
    """"rps:10%,p99:20%" -> {"rps": 10.0, "p99": 20.0}."""
    limits: dict[str, float] = {}
    for part in str(text).replace(" ", "").split(","):
        name, sep, pct = part.partition(":")
        try:
            value = float(pct.rstrip("%"))
        except ValueError:
            value = -1.0
        if not sep or name not in BIGGER_IS_BETTER or value < 0:
            raise ValueError(f"must be METRIC:PCT%,… with METRIC one of {', '.join(BIGGER_IS_BETTER)}, e.g. rps:10%,p99:20%; got {text!r}")
        limits[name] = value
    return limits


def resolve(spec: str, report_dir: Path, target: str, scale: float) -> Path:
    """The results.json that `spec` names: a file, a run folder, or "latest", the newest run
    in `report_dir` against the same target at the same scale."""
    if spec == LATEST:
        for path, _ in stored_runs(report_dir, target, scale):
            return path.resolve()
        raise CompareError(f"--trinity-compare latest: no earlier run against target {target!r} at --trinity-scale "
                           f"{scale:g} in {report_dir}")
    path = Path(spec)
    if path.is_dir():
        path = path / RESULTS
    if not path.is_file():
        raise CompareError(f"--trinity-compare: {path} is not a results.json")
    return path.resolve()


def load(path: Path, scale: float) -> tuple[str, dict[tuple[str, str], LevelRecord]]:
    """(run id, its judged level records by (test, level id)) of the run at `path`, which must
    have run at `scale`: the same level ids at another scale carry other loads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = {(r.test_id, r.level_id): r for r in judged_records(data)}
        run_id, their_scale = str(data["run"]["run_id"]), float(data["run"]["scale"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CompareError(f"--trinity-compare: cannot read {path}: {exc}") from None
    if their_scale != scale:
        raise CompareError(f"--trinity-compare: run {run_id} ({path}) ran at --trinity-scale {their_scale:g}, this run "
                           f"at {scale:g}; compare runs of the same scale")
    return run_id, records


def regressions(compare: CompareFact, limits: dict[str, float]) -> list[Breach]:
    """A failing breach for each metric that got worse than its limit (in %) against the earlier run."""
    found = []
    for name, limit in limits.items():
        delta = compare.deltas.get(name)
        change = delta.change_pct if delta is not None else None
        if delta is None or change is None or delta.before is None or delta.after is None:
            continue
        worse = -change if BIGGER_IS_BETTER[name] else change
        if worse > limit:
            direction = "dropped" if BIGGER_IS_BETTER[name] else "rose"
            found.append(Breach(
                check=f"regression:{name}", kind="regression",
                metric=f"{name} {direction} from {delta.before:,.3g} to {delta.after:,.3g} vs run {compare.run_id}:",
                measured=round(worse, 2), op=">", limit=limit, unit="%",
                advice="a regression against the compared run (--trinity-compare-fail)", fails=True))
    return found
