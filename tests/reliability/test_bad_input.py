"""Bad input, end to end (issue #12): each mistake stops the session with a usage error (exit
code 4) whose message names what to fix, and never a traceback."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import INI


def _edit(project: pytest.Pytester, old: str, new: str) -> None:
    path = project.path / "profiles.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _refused(project: pytest.Pytester, message: str, *args: str) -> None:
    result = project.runpytest("tests_perf", "--collect-only", *args)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert f"ERROR: {message}" in result.stderr.str()
    assert "Traceback" not in output


# 1. Red flags read only metrics that a source gives.

def test_misspelt_red_flag_metric(plan_project):
    _edit(plan_project, 'metric = "syncmap_hit_pct"', 'metric = "syncmap_hits_pct"')
    _refused(plan_project, 'profiles.toml: [red_flags.syncmap_hit].metric "syncmap_hits_pct" is not a metric of source '
                           '"cluster-stats" (did you mean "syncmap_hit_pct"?)')


def test_misspelt_red_flag_source_and_relative_to(plan_project):
    _edit(plan_project, 'source = "load-balancer"', 'source = "load_balancer"')
    _refused(plan_project, 'profiles.toml: [red_flags.any_5xx].source "load_balancer" is not a metric source '
                           '(did you mean "load-balancer"?)')
    _edit(plan_project, 'source = "load_balancer"', 'source = "load-balancer"')
    _edit(plan_project, 'relative_to = "db_max_open"', 'relative_to = "max_open"')
    _refused(plan_project, 'profiles.toml: [red_flags.db_pool_saturated].relative_to "max_open" is not a metric of source '
                           '"cluster-stats" (did you mean "db_max_open"?)')


FLAG_OF_A_PLUGIN = """
[red_flags.client_cpu]
source = "client"
metric = "cpu_us_per_request"
op = ">"
threshold = 50.0
advice = "the load generator is the bottleneck"
"""

DECLARES_CLIENT = textwrap.dedent('''
    def pytest_trinity_level_figures(test, level, figures, load):
        return {"client": {"cpu_us_per_request": 1.0}}

    def pytest_trinity_metric_sources(config):
        return {"client": ["cpu_us_per_request"]}
''')


def test_a_conftest_declares_the_sources_its_figures_add(plan_project):
    path = plan_project.path / "profiles.toml"
    path.write_text(path.read_text(encoding="utf-8") + FLAG_OF_A_PLUGIN, encoding="utf-8")
    _refused(plan_project, 'profiles.toml: [red_flags.client_cpu].source "client" is not a metric source')
    plan_project.makeconftest(DECLARES_CLIENT)
    result = plan_project.runpytest("tests_perf", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    plan_project.makeconftest(DECLARES_CLIENT.replace('["cpu_us_per_request"]', '["cpu_pct"]'))
    _refused(plan_project, 'profiles.toml: [red_flags.client_cpu].metric "cpu_us_per_request" is not a metric of source '
                           '"client" (known: cpu_pct)')


# 2. Numbers the plan cannot mean.

@pytest.mark.parametrize(("old", "new", "message"), [
    ("requests = 300\nconcurrent = 30", "requests = 300\nconcurrent = 301",
     "profiles.toml: [levels.1].concurrent must be at most requests (300), got 301"),
    ("requests = 9_000_000", "requests = 90_000_000_000",
     "profiles.toml: [levels.13].requests must be a positive integer ≤ 10,000,000,000, got 90000000000"),
    ("max_level_s = 900", "max_level_s = inf", "profiles.toml: [run].max_level_s must be a finite number ≥ 0.001, got inf"),
    ('gauges = ["db_open", "db_in_use", "db_max_open"]', 'gauges = ["db_open", "db_in_use", "db_max_opened"]',
     'profiles.toml: [telemetry].gauges names "db_max_opened", which is not in [telemetry].counters'),
], ids=["concurrent-above-requests", "absurd-requests", "infinite", "gauge-not-counter"])
def test_numbers_the_plan_cannot_mean(plan_project, old, new, message):
    _edit(plan_project, old, new)
    _refused(plan_project, message)


# 3. Messages: grammar, and the whole list of keys a table accepts.

def test_empty_list_message(plan_project):
    _edit(plan_project, 'nodes = ["main", "mirror", "lrs"]', "nodes = []")
    _refused(plan_project, "profiles.toml: [telemetry].nodes must be a non-empty list of strings, got []")


def test_unknown_key_lists_every_key_of_the_table(plan_project):
    plan_project.path.joinpath("targets.toml").write_text(textwrap.dedent("""
        [targets.loop]
        colour = "red"
        [targets.loop.direct]
        api = "http://127.0.0.1:18080"
        admin = "http://127.0.0.1:19090"
        [targets.loop.balanced]
        api = "http://127.0.0.1:18081"
        admin = "http://127.0.0.1:19091"
        [targets.loop.secrets]
        public_key = "env:T_PUBLIC"
        partner_key = "env:T_PARTNER"
        admin_token = "env:T_ADMIN"
    """))
    _refused(plan_project, "targets.toml: [targets.loop] has unknown key 'colour' (known keys: aws, balanced, ca_file, "
                           "contract, description, direct, local, paths, redis_url, secrets, udp_symbol, usage_logs, workers)",
             "--trinity-targets", "targets.toml", "--trinity-target", "loop")


# 4. An ini override on the command line is named as such.

def test_ini_override_is_attributed_to_the_o_option(plan_project):
    plan_project.makeini(INI + "trinity_levels = 1-3\n")
    _refused(plan_project, "-o trinity_scale: must be a number with 0 < S ≤ 1, got '7'", "-o", "trinity_scale=7")

