"""The reliability issue's items, each against a real misbehaving target
(tests/reliability/misbehaving.py) in a real pytester session: what the plugin must do when a
target sends unreadable telemetry, echoes secrets, never applies a profile, never flushes, or
is driven by two runs at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import redis

from pytest_trinity.services.redis import run_redis
from tests.reliability.conftest import CHECKLIST_S, make_project, run_session


def no_traceback(s) -> None:
    assert "Traceback" not in s.output and "INTERNALERROR" not in s.output, s.output


def not_measured_section(output: str) -> str:
    """The terminal summary's "not measured" block (empty when there is none)."""
    head = output.find("not measured (")
    if head < 0:
        return ""
    block = output[head:].split("\n\n", 1)[0]
    return block


def junit_property(junit: str, case_part: str, name: str) -> str | None:
    case = re.search(r'<testcase [^>]*name="[^"]*' + re.escape(case_part) + r'[^"]*".*?</testcase>', junit, re.S)
    assert case, (case_part, junit[:2000])
    prop = re.search(r'<property name="' + re.escape(name) + r'" value="([^"]*)"', case.group(0))
    return prop.group(1) if prop else None


def test_a_clean_run_passes(mb_project):
    """The target itself is sound: 2a and 2b pass a level against it, nothing leaks."""
    s = run_session(mb_project, "-k", "2b or 2a", "--trinity-levels", "2")
    assert s.ret == pytest.ExitCode.OK, s.output
    assert s.outcomes.get("passed") == 2, s.output
    assert "production restored" in s.output, s.output
    assert not s.leaks(), s.leaks()


# -- item 2: counters a reset cannot verify -------------------------------------------------

@pytest.mark.parametrize(("switch", "test_id", "counters"), [
    ("counters_as_strings", "2a", ["tcp_requests"]),
    ("omit_request_counters", "2b", ["packets_received"]),
    ("omit_request_counters", "2a", ["tcp_requests"]),
])
def test_item2_unreadable_counters_error_at_setup_naming_node_and_counters(mb_project, mb_target, switch, test_id, counters):
    setattr(mb_target.misbehave, switch, True)
    s = run_session(mb_project, "-k", test_id, "--trinity-levels", "1")
    no_traceback(s)
    assert s.outcomes.get("errors") == 1 and not s.outcomes.get("passed"), s.output
    assert "ERROR at setup" in s.output, s.output
    record = s.record("[L01")
    assert record["status"] == "error", record
    assert "node main" in record["message"], record["message"]
    for counter in counters:
        assert counter in record["message"], record["message"]
        assert counter in s.output
    assert "node main" in s.output


def test_item2_an_unmeasured_red_flag_shows_in_the_summary_and_junit(mb_project, mb_target):
    """A node that does not report udp_dropped: the udp_drop red flag applies to 2b, reads
    nothing, and is listed as not measured (terminal) and `unmeasured` (JUnit)."""
    mb_target.misbehave.omit_counters = "udp_dropped"
    s = run_session(mb_project, "-k", "2b", "--trinity-levels", "2")
    no_traceback(s)
    section = not_measured_section(s.output)
    assert re.search(r"^\s+udp_drop\b", section, re.M), s.output
    assert "udp_drop" in (junit_property(s.junit, "L02", "unmeasured") or "").split(","), s.junit
    record = s.record("[L02")
    assert any(u.split(" ", 1)[0] == "udp_drop" for u in record["verdict"]["unmeasured"]), record["verdict"]
    assert "udp_drop" not in {b["check"] for b in record["verdict"].get("breaches", [])}


# -- item 6: a snapshot ts that is not a number ---------------------------------------------

def test_item6_text_ts_is_a_setup_error_with_restore_line_and_results(mb_project, mb_target):
    mb_target.misbehave.ts_text = True
    s = run_session(mb_project, "-k", "2b", "--trinity-levels", "1")
    no_traceback(s)
    assert "ERROR at setup" in s.output, s.output
    record = s.record("[L01")
    assert record["status"] == "error", record
    assert "'ts'" in record["message"] or '"ts"' in record["message"] or " ts " in record["message"], record["message"]
    assert re.search(r"production (NOT )?RESTORED|production restored", s.output), s.output
    assert s.results is not None and "restore" in s.results, s.results
    assert s.results["run"].get("ended_at"), s.results["run"]


# -- item 7: no secret in frames, even when an admin call fails -----------------------------

@pytest.mark.parametrize("tb", [["--tb=long"], ["--tb=long", "--showlocals"]], ids=["tb-long", "tb-long-showlocals"])
@pytest.mark.parametrize("switch", ["admin_fail", "echo_key_errors"])
def test_item7_no_secret_in_long_tracebacks(mb_project, mb_target, switch, tb):
    """admin_fail: system-mode answers 500 echoing the admin token (setup error);
    echo_key_errors: every request fails echoing its key (a failing call with a long traceback)."""
    setattr(mb_target.misbehave, switch, True)
    s = run_session(mb_project, "-k", "2a or 2b", "--trinity-levels", "1", *tb, html=False)
    assert s.outcomes.get("errors", 0) + s.outcomes.get("failed", 0) == 2, s.output
    assert not s.leaks(), (s.leaks(), s.output)


# -- item 15: a target that echoes the API key, and all-distinct error texts ---------------

def test_item15_echoed_key_is_in_no_artefact_and_error_texts_are_bounded(mb_project, mb_target):
    mb_target.misbehave.echo_key_errors = True
    mb_target.misbehave.distinct_errors = True
    # 2b L03 at scale 0.01: 30 datagrams, 30 distinct error texts (a request id each)
    s = run_session(mb_project, "-k", "2a or 2b", "--trinity-levels", "1,3")
    no_traceback(s)
    assert s.results is not None, s.output
    assert not s.leaks(), s.leaks()
    assert s.html and s.junit, "no HTML report or junit.xml"
    record = s.record("test_2b_udp_nlb_partner[L03")
    assert record["status"] == "failed", record["message"]
    outcomes = record["load"]["totals"]["outcomes"]
    replies = outcomes["error_replies"]
    kept = {k: v for k, v in replies.items() if k != "(other error texts)"}
    assert len(kept) <= 20, sorted(replies)
    assert replies.get("(other error texts)") == record["figures"]["planned"] - sum(kept.values()), replies
    classes = [k for k in record["figures"]["failure_classes"] if k.startswith("error reply ")]
    assert len(classes) <= 21 and "error reply (other error texts)" in classes, classes
    # nowhere in the level's record (its message and verdict included) more than 20 of the texts
    texts = set(re.findall(r"internal error \(request \d+\)", json.dumps(record)))
    assert len(texts) <= 20, f"{len(texts)} distinct error texts in the record: {record['message'][:600]}"


# -- item 17: a profile that is never in force ----------------------------------------------

def _durations(output: str) -> dict[tuple[str, str], float]:
    found = {}
    for m in re.finditer(r"^([\d.]+)s (setup|call|teardown)\s+\S+::(\S+)$", output, re.M):
        found[(m.group(3), m.group(2))] = float(m.group(1))
    return found


def test_item17_a_profile_never_in_force_fails_the_remaining_levels_at_once(mb_project, mb_target):
    mb_target.misbehave.profile_off = True
    s = run_session(mb_project, "-k", "2b", "--trinity-levels", "1-3", "--durations=0", "--durations-min=0", html=False)
    no_traceback(s)
    assert s.outcomes.get("errors") == 3, s.output
    first, second, third = (s.record(f"[L0{n}") for n in (1, 2, 3))
    assert all(r["status"] == "error" for r in (first, second, third))
    assert first["message"] == second["message"] == third["message"], (first["message"], second["message"])
    assert "not tried again" in second["message"], second["message"]
    durations = _durations(s.output)
    setups = {case: t for (case, when), t in durations.items() if when == "setup"}
    first_setup = next(t for c, t in setups.items() if "[L01" in c)
    second_setup = next(t for c, t in setups.items() if "[L02" in c)
    assert first_setup >= CHECKLIST_S, setups  # the first level waited for the checklist timeout
    assert second_setup < 2, setups


# -- item 18: batch flushes ------------------------------------------------------------------

def test_item18_no_flush_means_flush_errors_not_measured(mb_project, mb_target):
    mb_target.misbehave.no_flush = True
    s = run_session(mb_project, "-k", "2b", "--trinity-levels", "2", html=False)
    no_traceback(s)
    record = s.record("[L02")
    assert any(u.split(" ", 1)[0] == "flush_errors" for u in record["verdict"]["unmeasured"]), record["verdict"]
    assert re.search(r"^\s+flush_errors\b", not_measured_section(s.output), re.M), s.output
    assert "flush_errors" in (junit_property(s.junit, "L02", "unmeasured") or "").split(","), s.junit


def test_item18_flush_errors_without_any_flush_fire_the_red_flag(mb_project, mb_target):
    mb_target.misbehave.flush_errors = True
    s = run_session(mb_project, "-k", "2b", "--trinity-levels", "2", html=False)
    no_traceback(s)
    record = s.record("[L02")
    assert record["status"] == "failed", record
    assert "flush_errors" in {b["check"] for b in record["verdict"]["breaches"]}, record["verdict"]
    assert "flush_errors" in (junit_property(s.junit, "L02", "red_flags") or "").split(","), s.junit
    assert "flush_errors" not in not_measured_section(s.output)


# -- item 5: one run at a time on a target ---------------------------------------------------

HOLD_CONFTEST = """
import os, pathlib, time
import pytest

@pytest.fixture(autouse=True)
def hold():
    yield
    # the first run keeps the target (and its run lock) after its level, until told to go on
    deadline = time.monotonic() + float(os.environ.get("TM_HOLD_S", "0"))
    while time.monotonic() < deadline and not pathlib.Path("go-on").exists():
        time.sleep(0.1)
"""


@pytest.fixture
def redis_url():
    with run_redis() as server:
        yield server.url


def test_item5_a_second_run_at_once_fails_naming_the_first_and_break_lock_lets_it_run(pytester, mb_target, redis_url, monkeypatch):
    monkeypatch.setenv("TM_REDIS_URL", redis_url)
    project = make_project(pytester, mb_target, redis_var="TM_REDIS_URL")
    project.makeconftest(HOLD_CONFTEST)
    client = redis.Redis.from_url(redis_url)
    env = dict(os.environ, TM_HOLD_S="60")
    first = subprocess.Popen([sys.executable, "-m", "pytest", "tests_perf", "-p", "no:cacheprovider", "-k", "2b",
                              "--trinity-levels", "1", "--trinity-report-dir", "reports-first"],
                             cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while client.get("trinity:run-lock") is None and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        raw = client.get("trinity:run-lock")
        assert raw is not None, "the first run never took the run lock"
        holder = json.loads(raw)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(holder["started_at"]))
        while not list((project.path / "reports-first").glob("*/results.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        first_ids = [p.parent.name for p in (project.path / "reports-first").glob("*/results.json") if p.parent.name != "latest"]
        assert len(first_ids) == 1, first_ids  # the first run's id: its results folder, YYYYMMDDTHHMMSS-<pid>

        second = run_session(project, "-k", "2b", "--trinity-levels", "1", html=False)
        no_traceback(second)
        assert second.outcomes.get("errors") == 1 and not second.outcomes.get("passed"), second.output
        # every shortfall is collected, so one run of this test reports all of them
        problems = []
        if first_ids[0] not in second.output:
            problems.append(f"the second run does not name the first run's id {first_ids[0]} (the lock holds {holder['run_id']!r})")
        if started not in second.output:
            problems.append(f"the second run does not name the first run's start time {started}")
        if "runner/lock.py:" in second.output:  # a setup error that says it, not the plugin's frames
            problems.append("the second run's setup error shows the plugin's frames (runner/lock.py)")

        broken = run_session(project, "-k", "2b", "--trinity-levels", "1", "--trinity-break-lock", html=False)
        no_traceback(broken)
        if "unrecognized arguments: --trinity-break-lock" in broken.output:
            problems.append("--trinity-break-lock does not exist")
        elif broken.ret != pytest.ExitCode.OK or broken.outcomes.get("passed") != 1:
            problems.append("--trinity-break-lock did not let the run go on:\n" + broken.output[-3000:])
        assert not problems, "\n".join(problems) + "\n--- second run:\n" + second.output[-3000:]
    finally:
        project.path.joinpath("go-on").touch()
        try:
            first.wait(timeout=60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(timeout=10)
        if first.stdout is not None:
            first.stdout.close()
        client.close()
