"""Compare this run with an earlier one, level by level (`--trinity-compare PATH|latest`).

Levels are matched by plan test and level id. Ids keep the plan's numbers at every scale, so
only a run of the same `--trinity-scale` is accepted (another target is allowed when named by
path: comparing two deployments is a use); `latest` is the newest run of the same target and
scale. `--trinity-compare-fail rps:10%,p99:20%` turns a regression beyond the
limit into a failing breach whose message gives both numbers.

The earlier file's `levels` and `run` are checked against results.schema.json before use, by
the small interpreter below (jsonschema is a dev dependency only): a file of another shape is
a `CompareError` naming the file and the first offending path, never an internal error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pytest_trinity.model import Breach, CompareFact, LevelRecord
from pytest_trinity.results.store import LATEST, RESULTS, judged_records, stored_runs

BIGGER_IS_BETTER = {"rps": True, "p50": False, "p99": False}  # the metrics a comparison has (model.CompareFact)


class CompareError(ValueError):
    """The earlier run to compare with cannot be read; the message names the path."""


SCHEMA_FILE = Path(__file__).parent / "results.schema.json"
_TYPES: dict[str, tuple[str, Any]] = {
    "object": ("an object", lambda v: isinstance(v, dict)),
    "array": ("an array", lambda v: isinstance(v, list)),
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "null": ("null", lambda v: v is None),
}


def schema_problem(value: Any, schema: dict[str, Any], path: str) -> str | None:
    """The first place where `value` breaks `schema`, as "<path>: <why>", or None. Knows the
    keywords results.schema.json uses: type, const, enum, required, properties,
    additionalProperties, items, pattern, exclusiveMinimum, maximum."""
    shown, where = json.dumps(value)[:60], path or "the top level"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t][1](value) for t in names):
            return f"{where}: expected {' or '.join(_TYPES[t][0] for t in names)}, got {shown}"
    if "const" in schema and value != schema["const"]:
        return f"{where}: expected {json.dumps(schema['const'])}, got {shown}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: expected one of {', '.join(json.dumps(e) for e in schema['enum'])}, got {shown}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{where}: expected a string matching {schema['pattern']}, got {shown}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            return f"{where}: expected a number above {schema['exclusiveMinimum']}, got {shown}"
        if "maximum" in schema and not value <= schema["maximum"]:
            return f"{where}: expected a number of at most {schema['maximum']}, got {shown}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where}: missing key {key!r}"
        properties = schema.get("properties", {})
        for key, item in value.items():
            sub = properties.get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                found = schema_problem(item, sub, f"{path}.{key}" if path else str(key))
                if found:
                    return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found = schema_problem(item, schema["items"], f"{path}[{i}]")
            if found:
                return found
    return None


def check_shape(data: Any) -> str | None:
    """The first place where an earlier results.json breaks what a comparison reads: the
    whole of `levels` as the schema has it, and `run` (its `run_id` and `scale` required; the
    other keys checked when present). None when it can be used."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    shape = {"type": "object", "required": ["run", "levels"],
             "properties": {"run": dict(schema["properties"]["run"], required=["run_id", "scale"]),
                            "levels": schema["properties"]["levels"]}}
    return schema_problem(data, shape, "")


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
    except (OSError, ValueError) as exc:
        raise CompareError(f"--trinity-compare: cannot read {path}: {exc}") from None
    problem = check_shape(data)
    if problem is not None:
        raise CompareError(f"--trinity-compare: {path} does not match results.schema.json: {problem}")
    try:
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
