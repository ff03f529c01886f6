"""Plan tests refuse to run under pytest-xdist, before anything touches the target."""

from __future__ import annotations


def test_plan_tests_under_xdist_error_before_touching_the_target(plan_project):
    result = plan_project.runpytest_subprocess("tests_perf", "-p", "xdist", "-n", "2", "-k", "2a or 2b",
                                               "--trinity-levels", "1-2", "--trinity-scale", "0.01")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(["*pytest-trinity: plan tests do not run under pytest-xdist*without -n, or with -n 0*"])
    assert not (plan_project.path / "reports").exists()  # no run was started, so none was stored
    assert "Traceback" not in result.stdout.str()
