"""The production profile: the plan gives fresh-price no values, so the restore verifies what
the plan states (mode, governor) and only the values a plan file sets for it — a target with
production values of its own is restored, not reported NOT RESTORED."""

from __future__ import annotations

from pytest_trinity.model import ClusterStats, NodeSnapshot
from pytest_trinity.plan import Profile, load_plan
from pytest_trinity.runner.checklist import config_diffs
from tests.conftest import REPO


def stats(**config: object) -> ClusterStats:
    return ClusterStats({"main": NodeSnapshot("main", 1.0, {}, config=dict(config))}, ())


def test_the_bundled_plan_states_no_production_values() -> None:
    plan = load_plan(REPO / "profiles.toml")
    production = plan.profiles[plan.restore.profile]
    assert production.production and production.parameters() == {}
    assert all(p.parameters().keys() == set(Profile.value_names()) for p in plan.profiles.values() if not p.production)


def test_a_target_with_its_own_production_values_is_restored() -> None:
    production = Profile("fresh-price", production=True)
    own = stats(mode="fresh-price", adaptive_enabled=True, db_max_open=400, qps=9, log_level="warn")
    assert config_diffs(own, production, governor=True) == {}
    assert config_diffs(own, production, governor=False) == {"main": ["adaptive_enabled: plan False, node True"]}


def test_values_the_plan_file_sets_for_production_are_verified() -> None:
    production = Profile("fresh-price", production=True, db_max_open=50)
    assert config_diffs(stats(mode="fresh-price", adaptive_enabled=True, db_max_open=50, qps=9), production, True) == {}
    assert config_diffs(stats(mode="fresh-price", adaptive_enabled=True, db_max_open=400), production, True) == {
        "main": ["db_max_open: plan 50, node 400"]}


def test_a_plan_file_may_state_part_of_the_production_profile(tmp_path) -> None:
    text = (REPO / "profiles.toml").read_text().replace("[profiles.fresh-price]\nproduction = true\n",
                                                        "[profiles.fresh-price]\nproduction = true\ndb_max_open = 50\n")
    assert "db_max_open = 50\n" in text
    (tmp_path / "profiles.toml").write_text(text)
    plan = load_plan(tmp_path / "profiles.toml")
    assert plan.profiles["fresh-price"].parameters() == {"db_max_open": 50}
