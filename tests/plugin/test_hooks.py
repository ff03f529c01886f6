"""The hooks of `pytest_trinity.hookspecs`, implemented in a real conftest of a real plan run
against the local reference cluster, using only public names."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import junitparser

import pytest_trinity.results

SCHEMA = json.loads((Path(pytest_trinity.results.__file__).parent / "results.schema.json").read_text())

CONFTEST = textwrap.dedent('''
    import json

    import pytest

    from pytest_trinity.model import Breach


    def pytest_trinity_level_figures(test, level, figures, load):
        return {"client": {"request_kinds": float(len(load.kinds)), "sent": float(figures.sent)}}


    @pytest.hookimpl(wrapper=True)
    def pytest_trinity_judge_level(plan, test, level, figures, facts):
        verdict = yield
        kinds = figures.metric("client", "request_kinds")
        if kinds is not None and kinds >= 1:
            return verdict.with_breaches(Breach("our_rule", "red_flag", "request kinds", kinds, ">=", 1, "",
                                                "our own red-flag rule fired", fails=True))
        return verdict


    def pytest_trinity_level_recorded(item, record):
        with open("consumer.jsonl", "a") as f:
            f.write(json.dumps({"case": item.nodeid, "test": record.test_id, "level": record.level_id,
                                "status": record.status, "ok_rps": record.ok_rps}) + "\\n")


    def pytest_trinity_update_results_json(config, data):
        data["run"]["build"] = "build-42"
''')


def test_a_conftest_adds_a_red_flag_rule_a_figure_and_a_report_consumer(plan_project):
    plan_project.makeconftest(CONFTEST)
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "1-2", "--trinity-scale", "0.01",
                                               "--junitxml", "junit.xml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*request kinds 1 >= 1: our own red-flag rule fired*"])

    heard = [json.loads(line) for line in (plan_project.path / "consumer.jsonl").read_text().splitlines()]
    assert [(h["test"], h["level"], h["status"]) for h in heard] == [("2b", "L01-c30", "failed"), ("2b", "L02-c90", "failed")]
    assert all(h["ok_rps"] > 0 for h in heard)

    data = json.loads(next(plan_project.path.glob("reports/*/results.json")).read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["run"]["build"] == "build-42"
    for level in data["levels"]:
        assert level["figures"]["sources"]["client"] == {"request_kinds": 1.0, "sent": float(level["figures"]["sent"])}
        ours = [b for b in level["verdict"]["breaches"] if b["check"] == "our_rule"]
        assert len(ours) == 1 and ours[0]["fails"] and level["verdict"]["passed"] is False

    cases = [case for suite in junitparser.JUnitXml.fromfile(str(plan_project.path / "junit.xml")) for case in suite]
    props = [{p.name: p.value for p in case.child(junitparser.Properties)} for case in cases]
    assert [p["red_flags"] for p in props] == ["our_rule", "our_rule"]


def test_a_conftest_contract_hook_decides_how_to_read_the_target(plan_project):
    """`pytest_trinity_contract` (firstresult) wins over the targets file: a contract whose
    cluster-stats path does not exist makes the checklist fail, naming that path."""
    plan_project.makeconftest(textwrap.dedent('''
        from pytest_trinity.targets import AdminApi, TrinityContract

        def pytest_trinity_contract(config, target):
            return TrinityContract(admin=AdminApi(cluster_stats="/admin/no-such-stats"))
    '''))
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "1", "--trinity-scale", "0.01")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*checklist failed*/admin/no-such-stats*HTTP 404*"])
