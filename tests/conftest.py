"""Shared fixtures for the plugin's own tests: a pytester project holding the real plan."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# In-process pytester runs import this plugin a second time; pytest warns that it cannot
# rewrite it. That warning is about the test harness, not the plugin: ignore just that one.
INI = """[pytest]
addopts = --strict-markers
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""


@pytest.fixture
def plan_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with this repository's tests_perf/ and profiles.toml as its rootdir."""
    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    shutil.copy(REPO / "profiles.toml", pytester.path / "profiles.toml")
    pytester.makeini(INI)
    return pytester


@pytest.fixture
def plan_text() -> str:
    return (REPO / "profiles.toml").read_text(encoding="utf-8")
