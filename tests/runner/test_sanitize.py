"""Redaction works on a record's values, not on its serialized text: secrets that JSON escapes
are still redacted, and secrets that look like numbers or field names break nothing."""

from __future__ import annotations

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.plan import load_plan, scale_level
from pytest_trinity.runner.checklist import SetupError, call
from pytest_trinity.runner.sanitize import Sanitizer
from pytest_trinity.targets import TrinityContract
from tests.conftest import REPO

LEVEL = scale_level(load_plan(REPO / "profiles.toml").level(1), 0.01)


@pytest.mark.parametrize("secret", ["clé-secrète-1", "1000", "status", 'quo"ted\\key'])
def test_a_secret_is_redacted_whatever_it_looks_like(secret: str) -> None:
    record = LevelRecord.of("2b", "case", LEVEL, "error", 1.0, 2.0, message=f"the target said {secret} for request 1000")
    clean = Sanitizer([secret]).record(record)
    assert secret not in clean.message and "***" in clean.message
    assert (clean.status, clean.plan_requests, clean.level_id) == ("error", 300, "L01-c30")


def test_an_answer_of_another_shape_is_a_setup_error_not_a_traceback() -> None:
    contract = TrinityContract()
    with pytest.raises(SetupError, match="read telemetry: the target's answer does not have the contract's shape"):
        call("read telemetry", contract.parse_node, {"counters": {}, "config": [1, 2]}, (), "here")
