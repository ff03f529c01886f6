"""The misbehaving target (tests/reliability/misbehaving.py) for a module, offered to pytester
sessions as a TOML-defined target, and a helper that runs one real plugin session against it
and collects everything it wrote: terminal output, junit.xml, the HTML report, results.json."""

from __future__ import annotations

import json
import secrets
import shutil
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INI, REPO
from tests.reliability.misbehaving import MisbehavingTarget
from tests.runner.conftest import correctness_plan

# Each secret is unique to this test session, so finding one anywhere is a leak, never a coincidence.
SECRETS = {
    "public_key": "pubkey-" + secrets.token_hex(12),
    "partner_key": "partnerkey-" + secrets.token_hex(12),
    "admin_token": "admintoken-" + secrets.token_hex(12),
}
ENV = {"public_key": "TM_PUBLIC_KEY", "partner_key": "TM_PARTNER_KEY", "admin_token": "TM_ADMIN_TOKEN"}
TARGET = "mb"
# The plan's checklist timeout (15 s) shortened for these runs: a profile that never comes into
# force, or a reset that never verifies, errors after this many seconds instead.
CHECKLIST_S = 3


def fault_plan() -> str:
    text = correctness_plan()
    old = "verify_reset_timeout_s = 15"
    assert old in text, old
    return text.replace(old, f"verify_reset_timeout_s = {CHECKLIST_S}")


@pytest.fixture(scope="module")
def misbehaving(request: pytest.FixtureRequest) -> Iterator[MisbehavingTarget]:
    """One misbehaving target per module, its secrets and admin URL in the environment (which
    pytester's subprocesses inherit); stopped in the finalizer."""
    target = MisbehavingTarget(SECRETS["public_key"], SECRETS["partner_key"], SECRETS["admin_token"]).start()
    request.addfinalizer(target.stop)
    mp = pytest.MonkeyPatch()
    request.addfinalizer(mp.undo)
    for key, var in ENV.items():
        mp.setenv(var, SECRETS[key])
    mp.setenv("TM_ADMIN_URL", target.admin_url)
    yield target


@pytest.fixture
def mb_target(misbehaving: MisbehavingTarget) -> Iterator[MisbehavingTarget]:
    """The module's target, every switch off and counters zeroed before and after the test."""
    misbehaving.reset_behaviour()
    yield misbehaving
    misbehaving.reset_behaviour()


def targets_toml(target: MisbehavingTarget, redis_var: str | None = None) -> str:
    """Both topologies (`direct`, `balanced`) point at the one server, secrets as env:VAR."""
    def block(title: str) -> str:
        return f'[targets.{TARGET}.{title}]\napi = "{target.api_url}"\nadmin = "{target.admin_url}"\nudp = "{target.udp_addr}"\n'

    head = f"[targets.{TARGET}]\n" + (f'redis_url = "env:{redis_var}"\n' if redis_var else "")
    secret_lines = "\n".join(f'{key} = "env:{var}"' for key, var in ENV.items())
    return head + block("direct") + block("balanced") + f"[targets.{TARGET}.secrets]\n{secret_lines}\n"


def make_project(pytester: pytest.Pytester, target: MisbehavingTarget, redis_var: str | None = None) -> pytest.Pytester:
    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    pytester.path.joinpath("profiles.toml").write_text(fault_plan())
    pytester.path.joinpath("targets.toml").write_text(targets_toml(target, redis_var))
    pytester.makeini(INI + f"trinity_targets = targets.toml\ntrinity_target = {TARGET}\ntrinity_scale = 0.01\n")
    return pytester


@pytest.fixture
def mb_project(pytester: pytest.Pytester, mb_target: MisbehavingTarget) -> pytest.Pytester:
    """A pytester project: the repo's tests_perf, the plan with speed limits opened and a short
    checklist timeout, and a targets file for the misbehaving target."""
    return make_project(pytester, mb_target)


def switch_conftest(switches: dict[str, Any], at_level: int = 1, after: dict[str, Any] | None = None) -> str:
    """A conftest that sets the target's `switches` before level `at_level` of every plan test
    (and `after` at that level's teardown), through the target's /test/misbehave (no token)."""
    return textwrap.dedent(f"""
        import os, urllib.parse, urllib.request
        import pytest

        def misbehave(switches):
            if switches:
                query = urllib.parse.urlencode({{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in switches.items()}})
                with urllib.request.urlopen(os.environ["TM_ADMIN_URL"] + "/test/misbehave?" + query, timeout=10) as r:
                    assert r.status == 200

        @pytest.fixture(autouse=True)
        def inject(request):
            level = request.node.callspec.params.get("trinity_level") if hasattr(request.node, "callspec") else None
            hit = level is not None and level.number == {at_level}
            if hit:
                misbehave({switches!r})
            yield
            if hit:
                misbehave({after or {}!r})
    """)


@dataclass
class Session:
    """One finished pytester session and everything it wrote."""

    ret: int
    stdout: str
    stderr: str
    duration_s: float
    junit: str
    html: str
    results: dict[str, Any] | None
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def everything(self) -> dict[str, str]:
        """Every artefact as text, by name (for leak checks)."""
        return {"output": self.output, "junit.xml": self.junit, "report.html": self.html,
                "results.json": json.dumps(self.results) if self.results is not None else ""}

    def leaks(self, values: list[str] | None = None) -> list[str]:
        """`artefact: secret name` for every secret value found in any artefact."""
        values = values or list(SECRETS.values())
        names = {v: k for k, v in SECRETS.items()}
        return [f"{where}: {names.get(v, f'secret #{i + 1}')}" for where, text in self.everything().items()
                for i, v in enumerate(values) if v in text]

    def levels(self) -> list[dict[str, Any]]:
        return list((self.results or {}).get("levels") or [])

    def record(self, case_part: str) -> dict[str, Any]:
        found = [r for r in self.levels() if case_part in r["case"]]
        assert len(found) == 1, (case_part, [r["case"] for r in self.levels()], self.output)
        return found[0]


def results_of(root: Path, exclude: set[Path] = frozenset()) -> dict[str, Any] | None:  # type: ignore[assignment]
    files = sorted((p for p in (root / "reports").glob("*/results.json") if p not in exclude and p.parent.name != "latest"),
                   key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else None


def run_session(project: pytest.Pytester, *args: str, html: bool = True, timeout: float = 120) -> Session:
    """Run the plan in a subprocess with junit.xml (and the HTML report), and read what it wrote."""
    for stale in ("junit.xml", "report.html"):
        project.path.joinpath(stale).unlink(missing_ok=True)
    before = set((project.path / "reports").glob("*/results.json"))
    extra = ["--junitxml=junit.xml", *(["--html=report.html", "--self-contained-html"] if html else [])]
    start = time.monotonic()
    result = project.runpytest_subprocess("tests_perf", "-p", "no:cacheprovider", *extra, *args, timeout=timeout)
    duration = time.monotonic() - start
    junit = project.path / "junit.xml"
    report = project.path / "report.html"
    try:
        outcomes = result.parseoutcomes()
    except ValueError:
        outcomes = {}
    return Session(int(result.ret), result.stdout.str(), result.stderr.str(), duration,
                   junit.read_text() if junit.exists() else "", report.read_text() if report.exists() else "",
                   results_of(project.path, before), outcomes)
