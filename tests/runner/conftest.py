"""A fault-enabled reference cluster for the whole module, offered to pytester sessions as a
TOML-defined target (so these tests also exercise the real-target path of the plugin)."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
import time

import httpx
import pytest

from pytest_trinity.reference.cluster import TelemetryTimings, run_cluster
from tests.conftest import INI, REPO

ENV = {"public_key": "TT_PUBLIC_KEY", "partner_key": "TT_PARTNER_KEY", "admin_token": "TT_ADMIN_TOKEN"}


@contextlib.contextmanager
def exported(info, **more: str):
    """The cluster's secrets and admin address in the environment, as a targets file reads them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV["public_key"], info.public_key.value)
        mp.setenv(ENV["partner_key"], info.partner_key.value)
        mp.setenv(ENV["admin_token"], info.admin_token.value)
        mp.setenv("TT_CA_FILE", str(info.ca_file))
        mp.setenv("TT_ADMIN_URL", info.balanced.admin_url)
        for name, value in more.items():
            mp.setenv(name, value)
        yield info


@pytest.fixture(scope="session")
def fault_cluster():
    with run_cluster(REPO / "profiles.toml", faults=True, telemetry=TelemetryTimings(publish_s=0.2)) as info, exported(info):
        yield info


def targets_toml(info, name: str = "ref", admin_override: str | None = None, api_override: str | None = None) -> str:
    def block(title: str, e) -> str:
        admin, api = admin_override or e.admin_url, api_override or e.api_url
        return f'[targets.{name}.{title}]\napi = "{api}"\nadmin = "{admin}"\nudp = "{e.udp[0]}:{e.udp[1]}"\n'

    secrets = "\n".join(f'{key} = "env:{var}"' for key, var in ENV.items())
    return (f'[targets.{name}]\nca_file = "{info.ca_file}"\n' + block("direct", info.direct) + block("balanced", info.balanced)
            + f"[targets.{name}.secrets]\n{secrets}\n")


class Admin:
    """Control-plane calls the tests make on the cluster (faults, mode), through the LB."""

    def __init__(self, info):
        self.info = info
        self.http = httpx.Client(base_url=info.balanced.admin_url, headers={"X-Admin-Token": info.admin_token.value},
                                 verify=info.ssl_context(), timeout=10)

    def faults(self, **knobs) -> dict:
        params = {"node": "all", **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in knobs.items()}}
        response = self.http.get("/admin/faults", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def clear(self) -> None:
        self.faults(error_5xx_ratio=0, latency_ms=0, udp_drop_ratio=0, bg_drop_ratio=0, stop_publish=False,
                    refuse_reset=False, feeds_paused=False)

    def served(self) -> int:
        """API requests the cluster counted since its last reset."""
        stats = self.http.get("/admin/cluster-stats").json()
        return sum(n["counters"].get("tcp_requests", 0) for n in stats["nodes"].values())

    def mode(self) -> dict:
        return self.http.get("/admin/system-mode").json()


@pytest.fixture
def admin(fault_cluster):
    """Faults cleared and counters at a verified zero before the test; faults cleared after."""
    client = Admin(fault_cluster)
    client.clear()
    assert client.http.get("/admin/stress-reset").status_code == 200
    deadline = time.monotonic() + 30
    while client.served() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.served() == 0
    yield client
    client.clear()
    client.http.close()


# These tests check correctness, not speed: the plan copy they run opens the latency and CPU
# limits, so a busy machine cannot fail them. tests/verdict tests those limits themselves.
SPEED_LIMITS = {
    "cache_hit_p50_ms = 10.0": "cache_hit_p50_ms = 100000.0",
    "p99_ms = 300.0": "p99_ms = 100000.0",
    'metric = "cpu_pct"\nop = ">"\nthreshold = 90.0': 'metric = "cpu_pct"\nop = ">"\nthreshold = 100000.0',
}


def correctness_plan() -> str:
    text = (REPO / "profiles.toml").read_text()
    for old, new in SPEED_LIMITS.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def project(pytester: pytest.Pytester, fault_cluster) -> pytest.Pytester:
    """A pytester project: the repo's tests_perf, the plan with speed limits opened, and a
    targets file for the cluster."""
    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    pytester.path.joinpath("profiles.toml").write_text(correctness_plan())
    pytester.path.joinpath("targets.toml").write_text(targets_toml(fault_cluster))
    pytester.makeini(INI + "trinity_targets = targets.toml\ntrinity_target = ref\ntrinity_scale = 0.01\n")
    return pytester


def conftest_fault(at_level: int, call: str) -> str:
    """A conftest whose autouse fixture runs `call` (using `admin_get`) before level `at_level`."""
    return textwrap.dedent(f"""
        import os
        import ssl

        import httpx, pytest

        def admin_get(path, **params):
            ctx = ssl.create_default_context(cafile=os.environ["TT_CA_FILE"])
            with httpx.Client(base_url=os.environ["TT_ADMIN_URL"], verify=ctx, timeout=10,
                              headers={{"X-Admin-Token": os.environ["TT_ADMIN_TOKEN"]}}) as c:
                r = c.get(path, params=params)
                assert r.status_code == 200, r.text

        @pytest.fixture(autouse=True)
        def inject(request):
            level = request.node.callspec.params.get("trinity_level") if hasattr(request.node, "callspec") else None
            if level is not None and level.number == {at_level}:
                {call}
    """)
