"""One suite over every fault input: each runs a real plugin session (pytester subprocess)
against the misbehaving target (tests/reliability/misbehaving.py) or the fault-enabled
reference cluster, and is held to the same four rules:

- no "Traceback" and no "INTERNALERROR" in the output;
- no silent pass: a case whose fault should fail it does not pass (and a fault after the
  load, in the restore, makes the run's exit code non-zero);
- no lost or double record: every case that ran has exactly one record in results.json;
- no leaked secret: no key or token in the output, junit.xml, the HTML report or results.json.

At the end of the session a table of every input tried and what came of it is printed to the
terminal (not captured), so CI shows it.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.reliability.conftest import (
    SECRETS,
    Session,
    fault_plan,
    make_project,
    run_session,
    switch_conftest,
)
from tests.runner.conftest import INI, Admin, fault_cluster, targets_toml  # noqa: F401  (fault_cluster: a fixture)


@dataclass(frozen=True)
class Input:
    name: str
    where: str  # "mb": the misbehaving target; "ref": the reference cluster's own faults
    switches: dict[str, Any]
    select: str  # -k
    levels: str = "1"
    must_fail: str = ""  # "case": no case may pass; "run": the exit code must be non-zero; "": either may pass
    after: dict[str, Any] = field(default_factory=dict)  # mb: switches set at the level's teardown
    html: bool = False
    max_s: float = 90.0  # the session must end by then (restore and checklist bounds)


INPUTS = [
    Input("clean target", "mb", {}, "2b or 2a", html=True),
    Input("counters sent as strings", "mb", {"counters_as_strings": True}, "2b", must_fail="case"),
    Input("request counters omitted", "mb", {"omit_request_counters": True}, "2a", must_fail="case"),
    Input("udp_dropped omitted (red flag unmeasured)", "mb", {"omit_counters": "udp_dropped"}, "2b"),
    Input("snapshot ts not a number", "mb", {"ts_text": True}, "2b", must_fail="case"),
    Input("error replies echo the key, all distinct", "mb", {"echo_key_errors": True, "distinct_errors": True},
          "2b or 2a", levels="3", must_fail="case", html=True),
    Input("system-mode fails echoing the token", "mb", {"admin_fail": True}, "2b", must_fail="case", html=True),
    Input("profile never in force", "mb", {"profile_off": True}, "2b", levels="1-2", must_fail="case"),
    Input("no batch flush (flush_errors unmeasured)", "mb", {"no_flush": True}, "2b"),
    Input("flush errors without any flush", "mb", {"flush_errors": True}, "2b", must_fail="case"),
    Input("admin API answers slowly (0.5 s)", "mb", {"admin_delay_s": 0.5}, "2b"),
    Input("admin API dead at the restore", "mb", {}, "2b", must_fail="run", after={"admin_dead": True}, max_s=60),
    Input("ref: error_5xx_ratio=0.5", "ref", {"error_5xx_ratio": 0.5}, "2a", levels="2", must_fail="case"),
    Input("ref: udp_drop_ratio=0.5", "ref", {"udp_drop_ratio": 0.5}, "2b", levels="2", must_fail="case"),
    Input("ref: bg_drop_ratio=0.5", "ref", {"bg_drop_ratio": 0.5}, "2a", levels="2", must_fail="case"),
    Input("ref: stop_publish", "ref", {"stop_publish": True}, "2b", must_fail="case"),
    Input("ref: refuse_reset", "ref", {"refuse_reset": True}, "2b", must_fail="case"),
    # the feeds' prices stay in the sync.Map for the profile's ttl_s (300 s): no effect in one short level
    Input("ref: feeds_paused", "ref", {"feeds_paused": True}, "2b"),
    # the speed limits are opened in the plan copy: a slow service still passes on correctness
    Input("ref: latency_ms=20", "ref", {"latency_ms": 20}, "2a"),
]


@dataclass
class Row:
    input: str
    outcome: str
    exit_code: int
    seconds: float
    traceback: bool
    silent_pass: bool
    lost_or_double: str
    leaked: list[str]


ROWS: list[Row] = []


@pytest.fixture(scope="session")
def fault_table(request: pytest.FixtureRequest):
    """Prints every input's row at the end of the session, past the output capture."""

    def show() -> None:
        if not ROWS:
            return
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        headers = ["input tried", "outcome", "exit", "s", "traceback", "silent pass", "lost/double record", "leaked secret"]
        body = [[r.input, r.outcome, str(r.exit_code), f"{r.seconds:.1f}", "YES" if r.traceback else "no",
                 "YES" if r.silent_pass else "no", r.lost_or_double or "no", ", ".join(r.leaked) or "no"] for r in ROWS]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
        lines = ["", "fault suite: every input tried against a real session", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
                 "  ".join("-" * w for w in widths), *("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body)]
        with capture.global_and_fixture_disabled() if capture else _nothing():
            for line in lines:
                if reporter is not None:
                    reporter.write_line(line)
                else:
                    print(line)

    request.addfinalizer(show)
    return ROWS


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _outcome(s: Session) -> str:
    levels = s.levels()
    if not levels:
        return f"no level record (exit {s.ret})"
    parts = []
    for status, group in collections.Counter(r["status"] for r in levels).items():
        detail = ""
        if status == "failed":
            checks = sorted({b["check"] for r in levels if r["status"] == "failed" for b in r["verdict"].get("breaches", [])
                             if b.get("fails")})
            detail = " with breach: " + ", ".join(checks[:4]) if checks else ""
        elif status in ("error", "skipped"):
            first = next(r["message"] for r in levels if r["status"] == status)
            detail = ": " + first.splitlines()[0][:70] if first else ""
        parts.append(f"{group} {'setup error' if status == 'error' else status}{detail}")
    restore = (s.results or {}).get("restore") or {}
    if restore and not restore.get("ok"):
        parts.append("NOT RESTORED")
    return "; ".join(parts)


def _cases_that_ran(s: Session) -> list[str]:
    return re.findall(r'<testcase [^>]*name="([^"]+)"', s.junit)


def _selected(s: Session) -> int | None:
    m = re.search(r"collected (\d+) items?(?: / (\d+) deselected)?(?: / (\d+) selected)?", s.output)
    if not m:
        return None
    return int(m.group(3)) if m.group(3) else int(m.group(1)) - int(m.group(2) or 0)


@pytest.fixture
def ref_project(pytester: pytest.Pytester, fault_cluster):  # noqa: F811  (the fixture imported above)
    """The reference cluster as a TOML target, faults cleared and counters at zero before and after."""
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    pytester.path.joinpath("profiles.toml").write_text(fault_plan())
    pytester.path.joinpath("targets.toml").write_text(targets_toml(fault_cluster))
    pytester.makeini(INI + "trinity_targets = targets.toml\ntrinity_target = ref\ntrinity_scale = 0.01\n")
    client = Admin(fault_cluster)
    client.clear()
    yield pytester, client, [fault_cluster.public_key.value, fault_cluster.partner_key.value, fault_cluster.admin_token.value]
    client.clear()
    client.http.close()


@pytest.mark.parametrize("fault", INPUTS, ids=[i.name for i in INPUTS])
def test_fault(fault: Input, fault_table, request: pytest.FixtureRequest) -> None:
    if fault.where == "mb":
        target = request.getfixturevalue("mb_target")
        project = make_project(request.getfixturevalue("pytester"), target)
        for name, value in fault.switches.items():
            target.misbehave.set(name, str(value))
        if fault.after:
            project.makeconftest(switch_conftest({}, at_level=int(fault.levels.split("-")[0].split(",")[0]), after=fault.after))
        secrets = list(SECRETS.values())
    else:
        project, client, secrets = request.getfixturevalue("ref_project")
        client.faults(**fault.switches)
    s = run_session(project, "-k", fault.select, "--trinity-levels", fault.levels, html=fault.html, timeout=fault.max_s + 30)

    ran = _cases_that_ran(s)
    records = collections.Counter(r["case"] for r in s.levels())
    selected = _selected(s)
    lost = sorted(c for c in ran if records.get(c, 0) == 0)
    double = sorted(c for c, n in records.items() if n > 1)
    unknown = sorted(c for c in records if c not in ran)
    problems = [f"lost {', '.join(lost)}" if lost else "", f"double {', '.join(double)}" if double else "",
                f"record of no case {', '.join(unknown)}" if unknown else "",
                f"{len(ran)} of {selected} selected cases ran" if selected is not None and selected != len(ran) else ""]
    passed = [r for r in s.levels() if r["status"] == "passed"]
    silent = (fault.must_fail == "case" and bool(passed or s.ret == 0)) or (fault.must_fail == "run" and s.ret == 0)
    row = Row(fault.name, _outcome(s), s.ret, s.duration_s, "Traceback" in s.output or "INTERNALERROR" in s.output,
              silent, "; ".join(p for p in problems if p), s.leaks(secrets))
    ROWS.append(row)

    assert not row.traceback, s.output
    assert not row.silent_pass, f"{fault.name}: passed while the fault should have failed it\n{s.output}"
    assert s.results is not None, f"no results.json\n{s.output}"
    assert not row.lost_or_double, f"{row.lost_or_double}\n{s.output}"
    assert not row.leaked, f"secrets leaked: {row.leaked}"
    assert s.duration_s < fault.max_s, f"the session took {s.duration_s:.0f} s\n{s.output}"
