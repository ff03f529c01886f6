"""tests_perf collects as 91 stable cases; -k, -m and --trinity-levels select from them."""

from __future__ import annotations

import re

import pytest

IDS = re.compile(r"^tests_perf/test_\w+\.py::(test_(\d[a-z])_\w+)\[L(\d\d)-c(\d+)\]$")


def _collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_whole_plan_is_91_cases_with_stable_ids(plan_project):
    result = plan_project.runpytest("tests_perf", "--collect-only", "-q")
    assert result.ret == 0
    cases = _collected(result)
    assert len(cases) == 91
    seen = {}
    for case in cases:
        match = IDS.match(case)
        assert match, case
        seen.setdefault(match.group(2), []).append((int(match.group(3)), int(match.group(4))))
    assert sorted(seen) == ["1a", "1b", "2a", "2b", "2c", "2d", "2e"]
    plan_concurrency = [30, 90, 300, 600, 900, 1500, 3000, 6000, 9000, 12000, 15000, 18000, 21000]
    for levels in seen.values():
        assert levels == list(zip(range(1, 14), plan_concurrency, strict=True))
    assert "test_2b_udp_nlb_partner[L05-c900]" in "\n".join(cases)


@pytest.mark.parametrize(("args", "count"), [
    (["-k", "2b"], 13),
    (["-k", "1a", "--trinity-levels", "1-3"], 3),
    (["--trinity-levels", "1,5,13"], 21),
    (["-m", "udp"], 39),
    (["-m", "phase1"], 26),
    (["-m", "endurance"], 13),
    (["-m", "phase2 and tcp"], 39),
])
def test_selection(plan_project, args, count):
    result = plan_project.runpytest("tests_perf", "--collect-only", "-q", *args)
    assert result.ret == 0
    assert len(_collected(result)) == count


def test_minus_k_matches_the_plan_test_id_even_when_the_function_is_renamed(plan_project):
    plan_project.makepyfile(test_custom="""
        import pytest

        @pytest.mark.trinity("2c")
        def test_public_udp(trinity_level):
            pass
    """)
    result = plan_project.runpytest("test_custom.py", "--collect-only", "-q", "-k", "2c", "--trinity-levels", "2")
    assert _collected(result) == ["test_custom.py::test_public_udp[L02-c90]"]


def test_ids_do_not_change_with_scale(plan_project):
    full = _collected(plan_project.runpytest("tests_perf", "--collect-only", "-q"))
    small = _collected(plan_project.runpytest("tests_perf", "--collect-only", "-q", "--trinity-scale", "0.01"))
    assert full == small


def test_cases_run_against_the_local_cluster_clean_under_strict_flags(plan_project):
    # In a subprocess, so that -W error sees the plugin imported the way a user's run does; the
    # default target `local` starts the reference cluster inside the session.
    result = plan_project.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "1-2", "--trinity-scale", "0.01",
                                               "-W", "error", "--strict-markers")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*production restored: profile fresh-price, governor on*"])


def test_fixtures_expose_the_plan_test_and_its_profile(plan_project):
    plan_project.makepyfile(test_fixtures="""
        import pytest

        @pytest.mark.trinity("2d")
        def test_contention(trinity_level, trinity_test, trinity_profile, trinity_target, trinity_settings):
            assert trinity_test.id == "2d"
            assert trinity_profile.name == "stress-combined-alb"
            assert trinity_target.local
            assert trinity_settings.scale == 0.5
            assert trinity_level.requests == trinity_level.level.requests // 2
    """)
    result = plan_project.runpytest("test_fixtures.py", "--trinity-scale", "0.5", "--trinity-levels", "3-4")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("source", "message"), [
    ('@pytest.mark.trinity("9z")\ndef test_x(trinity_level): pass',
     "@pytest.mark.trinity('9z') names a test that profiles.toml does not define (defined: 1a, 1b, 2a, 2b, 2c, 2d, 2e)"),
    ('@pytest.mark.trinity("2a")\ndef test_x(): pass', "a plan test must take the argument 'trinity_level'"),
    ("@pytest.mark.trinity\ndef test_x(trinity_level): pass", 'use @pytest.mark.trinity("<test id>")'),
])
def test_misused_marker_is_a_clear_collection_error(plan_project, source, message):
    plan_project.makepyfile(test_bad="import pytest\n\n" + source + "\n")
    result = plan_project.runpytest("test_bad.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection error
    result.stdout.fnmatch_lines(["*" + message.replace("[", "[[]") + "*"])
    assert "Traceback" not in result.stdout.str()
