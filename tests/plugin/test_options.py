"""--trinity-* options, their ini twins, precedence, and usage errors for bad values."""

from __future__ import annotations

import pytest

from tests.conftest import INI


def _plan_lines(result: pytest.RunResult) -> str:
    return result.stdout.str()


@pytest.mark.parametrize(("args", "message"), [
    (["--trinity-scale", "2"], "argument --trinity-scale: must be a number with 0 < S ≤ 1, got '2'"),
    (["--trinity-scale", "0"], "argument --trinity-scale: must be a number with 0 < S ≤ 1, got '0'"),
    (["--trinity-levels", "9-3"], "argument --trinity-levels: must be level numbers like 1-9, 3 or 1,3,5, got '9-3'"),
    (["--trinity-levels", "12-14"], "--trinity-levels names level 14, but profiles.toml defines levels 1-13"),
])
def test_bad_option_is_a_usage_error(plan_project, args, message):
    result = plan_project.runpytest("tests_perf", "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_ini_twins_apply_and_the_command_line_wins(plan_project):
    plan_project.makeini(INI + "trinity_scale = 0.5\ntrinity_levels = 2-3\n")
    from_ini = plan_project.runpytest("tests_perf", "--trinity-plan", "-k", "1a")
    assert from_ini.ret == 0
    from_ini.stdout.fnmatch_lines(["*scale 0.5*", "L02-c90 * 900 * 90 * 450 * 45 *"])
    assert "L04-c600" not in from_ini.stdout.str()
    from_cli = plan_project.runpytest("tests_perf", "--trinity-plan", "-k", "1a", "--trinity-scale", "0.1", "--trinity-levels", "4")
    from_cli.stdout.fnmatch_lines(["*scale 0.1*", "L04-c600 * 9,000 * 600 * 900 * 60 *"])
    assert "L02-c90" not in from_cli.stdout.str()


def test_bad_ini_value_names_the_ini_option(plan_project):
    plan_project.makeini(INI + "trinity_scale = lots\n")
    result = plan_project.runpytest("tests_perf", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "tox.ini: ini option trinity_scale must be a number with 0 < S ≤ 1, got 'lots'" in result.stderr.str()


def test_bad_ini_override_names_the_o_option(plan_project):
    plan_project.makeini(INI + "trinity_scale = 0.5\n")
    result = plan_project.runpytest("tests_perf", "--collect-only", "-o", "trinity_scale=7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "-o trinity_scale: must be a number with 0 < S ≤ 1, got '7'" in result.stderr.str()
    assert "tox.ini" not in result.stderr.str()


def test_profiles_option_and_its_ini_twin_pick_the_plan_file(plan_project):
    plan_dir = plan_project.path / "plans"
    plan_dir.mkdir()
    (plan_project.path / "profiles.toml").rename(plan_dir / "nightly.toml")
    missing = plan_project.runpytest("tests_perf", "--collect-only", "-q")
    missing.stdout.fnmatch_lines(["*no plan file at*profiles.toml; put profiles.toml in the rootdir or give --trinity-profiles PATH*"])
    assert missing.ret != 0
    by_option = plan_project.runpytest("tests_perf", "--collect-only", "-q", "--trinity-profiles", "plans/nightly.toml")
    by_option.stdout.fnmatch_lines(["91 tests collected*"])
    plan_project.makeini(INI + "trinity_profiles = plans/nightly.toml\n")
    by_ini = plan_project.runpytest("tests_perf", "--collect-only", "-q")
    by_ini.stdout.fnmatch_lines(["91 tests collected*"])
    wrong = plan_project.runpytest("tests_perf", "--collect-only", "-q", "--trinity-profiles", "plans/none.toml")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    assert "plans/none.toml: plan file not found (give one with --trinity-profiles PATH)" in wrong.stderr.str()


def test_help_lists_the_options_even_with_a_broken_plan(plan_project):
    (plan_project.path / "profiles.toml").write_text("[plan\n")
    result = plan_project.runpytest("--help")
    assert result.ret == 0
    for flag in ("--trinity-target", "--trinity-targets", "--trinity-profiles", "--trinity-scale",
                 "--trinity-levels", "--trinity-report-dir", "--trinity-plan"):
        assert flag in result.stdout.str()
