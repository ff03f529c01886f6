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
from typing import Any

from pytest_trinity.results.store import LATEST, RESULTS, stored_runs
from pytest_trinity.verdict import Breach

# metric -> (where in a record, True if bigger is better)
METRICS = {"rps": ("ok_rps", True), "p50": ("p50_ms", False), "p99": ("p99_ms", False)}


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
        if not sep or name not in METRICS or value < 0:
            raise ValueError(f"must be METRIC:PCT%,… with METRIC one of {', '.join(METRICS)}, e.g. rps:10%,p99:20%; got {text!r}")
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


def load(path: Path, scale: float) -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    """(run id, its judged level records by (test, level id)) of the run at `path`, which must
    have run at `scale`: the same level ids at another scale carry other loads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = {(r["test_id"], r["level_id"]): r for r in data["levels"] if r.get("status") in ("passed", "failed")}
        run_id, their_scale = str(data["run"]["run_id"]), float(data["run"]["scale"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CompareError(f"--trinity-compare: cannot read {path}: {exc}") from None
    if their_scale != scale:
        raise CompareError(f"--trinity-compare: run {run_id} ({path}) ran at --trinity-scale {their_scale:g}, this run "
                           f"at {scale:g}; compare runs of the same scale")
    return run_id, records


def _value(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key) if key == "ok_rps" else (record.get("figures") or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def deltas(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out = {}
    for name, (key, _) in METRICS.items():
        old, new = _value(before, key), _value(after, key)
        change = 100.0 * (new - old) / old if old and new is not None else None
        out[name] = {"before": old, "after": new, "change_pct": change}
    return out


def regressions(changes: dict[str, dict[str, float | None]], limits: dict[str, float], run_id: str) -> list[Breach]:
    found = []
    for name, limit in limits.items():
        change = changes[name]["change_pct"]
        if change is None:
            continue
        worse = -change if METRICS[name][1] else change
        if worse > limit:
            before, after = changes[name]["before"], changes[name]["after"]
            direction = "dropped" if METRICS[name][1] else "rose"
            found.append(Breach(
                check=f"regression:{name}", kind="regression",
                metric=f"{name} {direction} from {before:,.3g} to {after:,.3g} vs run {run_id}:",
                measured=round(worse, 2), op=">", limit=limit, unit="%",
                advice="a regression against the compared run (--trinity-compare-fail)", fails=True))
    return found
