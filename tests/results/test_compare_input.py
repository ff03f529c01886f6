"""`--trinity-compare` with a file of the wrong shape: a usage error naming the file and the
first offending path (checked against results.schema.json), never an internal error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import pytest_trinity.results
from pytest_trinity.results.compare import CompareError, load

SCHEMA = json.loads((Path(pytest_trinity.results.__file__).parent / "results.schema.json").read_text())
LEVEL: dict[str, Any] = {
    "test_id": "2a", "case": "test_2a_tcp_alb_public[L01-c30]", "level": 1, "level_id": "L01-c30",
    "plan_requests": 3000, "plan_concurrent": 30, "requests": 30, "concurrent": 1, "scale": 0.01, "status": "passed",
    "started_at": 1.0, "ended_at": 2.0, "model": {},
    "figures": {"level": 1, "planned": 30, "sent": 30, "ok": 30, "errors_5xx": 0, "silent_failures": 0, "success_pct": 100.0,
                "p50_ms": 1.0, "p99_ms": 2.0, "cache_hit_p50_ms": None, "rps": 30.0, "sources": {}},
    "verdict": {"passed": True, "breaches": [], "unmeasured": []}, "load": {}, "cluster": {}, "polls": {}, "facts": {},
    "message": "", "ok_rps": 30.0,
}
DOC: dict[str, Any] = {
    "schema_version": 1,
    "run": {"run_id": "20261101T000000-1", "plugin_version": "0", "plan": "p v1", "tests_commit": None, "target": "local",
            "scale": 0.01, "levels": None, "machine": {"cpu": "x", "cores": 1, "python": "3"}, "started_at": 1.0},
    "tests": {}, "levels": [copy.deepcopy(LEVEL) for _ in range(4)],
}


def _doc(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


BAD = [
    (_set(("levels", 3, "figures", "ok"), "x"), 'levels[3].figures.ok: expected an integer, got "x"'),
    (_set(("levels",), {"a": 1}), 'levels: expected an array, got {"a": 1}'),
    (_set(("levels", 0), "L01"), 'levels[0]: expected an object, got "L01"'),
    (_set(("levels", 1, "level_id"), 5), "levels[1].level_id: expected a string, got 5"),
    (_set(("levels", 1, "level_id"), "level one"), "levels[1].level_id: expected a string matching ^(L[0-9]{2}-c[0-9]+|cloud)$, got \"level one\""),
    (_set(("levels", 2, "status"), "fine"), 'levels[2].status: expected one of "passed", "failed", "error", "skipped", "interrupted", got "fine"'),
    (_set(("levels", 0, "verdict", "breaches"), "none"), 'levels[0].verdict.breaches: expected an array, got "none"'),
    (_set(("levels", 0, "figures", "p99_ms"), "slow"), 'levels[0].figures.p99_ms: expected a number or null, got "slow"'),
    (_set(("levels", 0, "ok_rps"), True), "levels[0].ok_rps: expected a number, got true"),
    (lambda doc: doc["levels"][0].pop("figures"), "levels[0]: missing key 'figures'"),
    (_set(("run", "scale"), "0.01"), 'run.scale: expected a number, got "0.01"'),
    (lambda doc: doc.pop("run"), "the top level: missing key 'run'"),
]


def test_the_valid_example_is_valid_and_loads(tmp_path: Path) -> None:
    jsonschema.validate(DOC, SCHEMA)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(DOC))
    run_id, records = load(path, 0.01)
    assert run_id == "20261101T000000-1" and list(records) == [("2a", "L01-c30")]


@pytest.mark.parametrize(("change", "problem"), BAD, ids=[p.split(":")[0] for _, p in BAD])
def test_a_file_of_the_wrong_shape_names_the_file_and_the_first_offending_path(tmp_path: Path, change: Any, problem: str) -> None:
    doc = _doc(change)
    with pytest.raises(jsonschema.ValidationError):  # the schema agrees that it is invalid
        jsonschema.validate(doc, SCHEMA)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CompareError) as exc:
        load(path, 0.01)
    assert str(exc.value) == f"--trinity-compare: {path} does not match results.schema.json: {problem}"


def test_a_top_level_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("[1, 2]")
    with pytest.raises(CompareError, match=r"results\.json does not match results\.schema\.json: the top level: expected an object"):
        load(path, 0.01)


@pytest.mark.parametrize(("content", "problem"), [
    (json.dumps(_doc(_set(("levels", 3, "figures", "ok"), "x"))), 'levels[[]3[]].figures.ok: expected an integer, got "x"'),
    ("[1, 2]", "the top level: expected an object, got [[]1, 2[]]"),
], ids=["figures.ok", "top-level-list"])
def test_end_to_end_a_usage_error_before_any_load(plan_project: pytest.Pytester, content: str, problem: str) -> None:
    bad = plan_project.path / "earlier" / "results.json"
    bad.parent.mkdir()
    bad.write_text(content)
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1", "--trinity-scale", "0.01",
                                               "--trinity-compare", str(bad))
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    result.stderr.fnmatch_lines([f"*--trinity-compare: {bad} does not match results.schema.json: {problem}"])
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert not (plan_project.path / "reports").exists()  # no level ran
