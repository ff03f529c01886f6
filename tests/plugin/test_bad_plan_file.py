"""A broken profiles.toml stops the session with a usage error that names the key."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("old", "new", "message"), [
    ("requests = 300_000\nconcurrent = 3_000", 'requests = 300_000\nconcurrent = "3k"',
     'profiles.toml: [levels.7].concurrent must be a positive integer, got "3k"'),
    ('[levels.6]\nrequests = 90_000\nconcurrent = 1_500\npurpose = "Heavy load — peak throughput zone"\n', "",
     "profiles.toml: [levels] is missing level 6: levels must run 1..13 without gaps"),
    ('profile = "stress-udp-nlb"\nkey_tier = "partner"', 'profile = "stress-udp-nbl"\nkey_tier = "partner"',
     'profiles.toml: test 2b names profile "stress-udp-nbl", which is not defined'),
], ids=["wrong-type", "missing-level", "undefined-profile"])
def test_broken_plan_is_a_usage_error(plan_project, old, new, message):
    path = plan_project.path / "profiles.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    for args in (["tests_perf"], ["tests_perf", "--trinity-plan"], ["tests_perf", "--collect-only"]):
        result = plan_project.runpytest(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"ERROR: {message}" in result.stderr.str()
        assert "Traceback" not in result.stderr.str() + result.stdout.str()
