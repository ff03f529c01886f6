"""--trinity-plan prints the scaled plan and sends nothing."""

from __future__ import annotations

import re

import pytest


def test_plan_table_at_local_scale(plan_project):
    result = plan_project.runpytest("tests_perf", "--trinity-plan", "--trinity-scale", "0.01")
    assert result.ret == 0
    out = result.stdout.str()
    for test_id, profile in [("1a", "stress-tcp-direct"), ("1b", "stress-udp-direct"), ("2a", "stress-tcp-alb"),
                             ("2b", "stress-udp-nlb"), ("2c", "stress-udp-nlb"), ("2d", "stress-combined-alb"),
                             ("2e", "stress-tcp-alb")]:
        assert re.search(rf"^{test_id} .* {profile} .* L01–L13 ", out, re.M), test_id
    level_rows = re.findall(r"^(L\d\d)-c\d+ ", out, re.M)
    assert level_rows == [f"L{n:02d}" for n in range(1, 14)]
    assert re.search(r"^L13-c21000 +9,000,000 +21,000 +90,000 +210 +Absolute ceiling", out, re.M)
    assert re.search(r"^L01-c30 +300 +30 +3 +1 +Warm-up", out, re.M)
    assert "91 cases" in out
    assert "1a: the plan's key metrics to watch: tcp_rps, syncmap_hit_pct, db_in_use, batch_flush_errors (15 min in the plan)" in out
    result.stdout.fnmatch_lines(["*no tests ran*"])
    result.assert_outcomes()


def test_plan_table_follows_the_selection(plan_project):
    result = plan_project.runpytest("tests_perf", "--trinity-plan", "-k", "2b", "--trinity-levels", "5-6")
    assert result.ret == 0
    out = result.stdout.str()
    assert re.search(r"^2b .* L05–L06 ", out, re.M)
    assert not re.search(r"^(1a|1b|2a|2c|2d|2e) ", out, re.M)
    assert re.findall(r"^(L\d\d)-c", out, re.M) == ["L05", "L06"]
    assert "2 cases, 120,000 requests in all" in out


def test_plan_table_runs_no_test_body(plan_project):
    plan_project.makepyfile(test_boom="""
        import pytest

        @pytest.mark.trinity("1a")
        def test_would_send_traffic(trinity_level):
            raise SystemExit("a test body ran under --trinity-plan")
    """)
    result = plan_project.runpytest("test_boom.py", "--trinity-plan")
    assert result.ret == pytest.ExitCode.OK
    assert "a test body ran" not in result.stdout.str()
