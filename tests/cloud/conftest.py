"""Fixtures for the AWS-side tests: one moto server (server mode, loopback) per session, fake credentials, a fresh world."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from pytest_trinity.services.moto import MotoServer, run_moto
from tests.cloud.world import REGION, World, build_world

# moto's ECS reports this many running tasks for a new service (default 0: never steady).
# It is read by the server process, so it is set only while the server starts.
ECS_RUNNING = "1"


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's server mode on 127.0.0.1 for the whole session; `.endpoint_url` is its address."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", ECS_RUNNING)
        server_cm = run_moto()
        server = server_cm.__enter__()
    try:
        yield server
    finally:
        server_cm.__exit__(None, None, None)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and the region in the environment, and nothing of the developer's own AWS setup."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/trinity-tests/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/trinity-tests/aws-credentials")


def reset_moto(server: MotoServer) -> None:
    """Forget every resource moto holds (its `/moto-api/reset`)."""
    request = urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", data=json.dumps({}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def world(moto: MotoServer, aws_env: None) -> World:
    """A fresh world: moto reset, then `build_world` in it."""
    reset_moto(moto)
    return build_world(moto.endpoint_url)
