"""Signals and lost parents (issue #12): SIGTERM to the whole process group, a signal while
the HTML report is built, a second signal during the restore's retries, SIGKILL of pytest
(no driver process may outlive it), and the restore's time bound.

Real pytest subprocesses against the module's fault-enabled reference cluster
(tests/runner/conftest.py), real signals, load on loopback only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner import conftest as runner_fixtures

# The fault-enabled cluster and the pytester project of tests/runner, for these tests too.
fault_cluster, admin, project = runner_fixtures.fault_cluster, runner_fixtures.admin, runner_fixtures.project

# 2a L08 at scale 0.2 is 120,000 requests, far more than a second's work here.
LONG_LEVEL = ("tests_perf", "-k", "2a", "--trinity-scale", "0.2")


def _results(path: Path) -> dict:
    return json.loads((path / "reports" / "latest" / "results.json").read_text())


def _start(project: pytest.Pytester, *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=project.path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ), start_new_session=new_session)


def _wait_mid_level(admin, proc: subprocess.Popen[str]) -> None:
    """Until the servers have answered a good part of the long level (bounded)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if admin.mode()["mode"] == "stress-tcp-alb" and admin.served() > 2_000:
            return
        time.sleep(0.1)
    raise AssertionError(f"the level never got going (pytest exit code {proc.poll()})")


def _wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def _restore_mode(admin) -> None:
    """Production mode on the shared cluster again, after a run that could not restore it."""
    admin.http.get("/admin/system-mode", params={"mode": "fresh-price", "adaptive_enabled": "true"})


# -- /proc: a process tree ------------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, str, str] | None:
    """(ppid, state, start time) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every live descendant of `root`: pid -> start time (so a reused pid is not mistaken for it)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
            starts[int(entry.name)] = st[2]
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found and pid in starts:
            found[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return found


def _alive(procs: dict[int, str]) -> dict[int, str]:
    """Those of `procs` still running (a zombie is gone: it runs nothing and holds nothing)."""
    alive = {}
    for pid, start in procs.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[1] != "Z":
            alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    return alive


# -- 11: SIGTERM to the process group ---------------------------------------------------------------
def test_sigterm_to_the_process_group_stops_the_run_like_ctrl_c(project, admin):
    # What `docker stop` of a shell-less container or a CI cancel sends: every process of the
    # group, the driver's workers and manager included, gets SIGTERM at once.
    proc = _start(project, *LONG_LEVEL, "--trinity-levels", "8-9", new_session=True)
    try:
        _wait_mid_level(admin, proc)
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "Broken pipe" not in out and "BrokenPipe" not in out, out
    assert "production restored" in out, out
    data = _results(project.path)
    assert [r["level_id"][:3] for r in data["levels"]] == ["L08"], out  # L09 never ran
    record = data["levels"][0]
    assert record["status"] == "interrupted", record["message"]
    assert 0 < record["figures"]["sent"] < 120_000
    assert data["restore"]["ok"] is True and "ended_at" in data["run"]


# -- 12: a signal while the HTML report is built ---------------------------------------------------
SIGNAL_IN_REPORT = """
import os
import signal

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_html_results_summary(prefix, summary, postfix, session):
    os.kill(os.getpid(), signal.{name})  # as if Ctrl-C (or a CI cancel) came while the report is built
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_html_report_is_built_keeps_the_summary_restore_and_report(project, admin, signum):
    project.makeconftest(SIGNAL_IN_REPORT.format(name=signum.name))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2", "--html", "report.html",
                                          timeout=300)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out, out
    assert "pytest-trinity summary" in out, out
    assert "production restored: profile fresh-price, governor on" in out, out
    report = project.path / "report.html"
    lines = [line for line in out.splitlines() if "HTML report" in line and "interrupted" in line]
    assert len(lines) == 1, out  # the interruption is said in one line
    if "not written" in lines[0]:
        assert not report.exists()
    else:
        assert 'id="trinity-summary"' in report.read_text()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    data = _results(project.path)
    assert data["restore"]["ok"] is True and [r["status"] for r in data["levels"]] == ["passed", "passed"]


# -- 13: a second signal during the restore's retries ----------------------------------------------
STALE_MIRROR_AT_TEARDOWN = textwrap.dedent("""
    import os
    import ssl

    import httpx, pytest

    @pytest.fixture(autouse=True)
    def mirror_stops_publishing_after_the_case():
        yield
        # The restore that follows can apply production but never verify it on mirror: it retries.
        ctx = ssl.create_default_context(cafile=os.environ["TT_CA_FILE"])
        with httpx.Client(base_url=os.environ["TT_ADMIN_URL"], verify=ctx, timeout=10,
                          headers={"X-Admin-Token": os.environ["TT_ADMIN_TOKEN"]}) as c:
            assert c.get("/admin/faults", params={"node": "mirror", "stop_publish": "true"}).status_code == 200
""")


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_during_the_restore_retries_still_prints_and_stores_the_outcome(project, admin, second):
    project.makeconftest(STALE_MIRROR_AT_TEARDOWN)
    proc = _start(project, *LONG_LEVEL, "--trinity-levels", "8")
    try:
        _wait_mid_level(admin, proc)
        proc.send_signal(signal.SIGINT)
        _wait_until(lambda: admin.mode()["mode"] == "fresh-price", 60, "the restore applied production")
        time.sleep(1.0)  # well inside the restore's 15 s of retries: mirror publishes nothing
        assert proc.poll() is None, "the restore ended before the second signal"
        proc.send_signal(second)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, out
    assert "production NOT RESTORED" in out, out
    assert "INTERNALERROR" not in out, out
    data = _results(project.path)
    assert data["restore"]["ok"] is False and "NOT RESTORED" in data["restore"]["summary"]
    assert "ended_at" in data["run"]
    assert data["levels"][-1]["status"] == "interrupted"


# -- 14: SIGKILL of pytest leaves no driver process behind ------------------------------------------
def test_no_driver_process_outlives_a_sigkilled_pytest(project, admin):
    proc = _start(project, *LONG_LEVEL, "--trinity-levels", "8", new_session=True)
    tree: dict[int, str] = {}
    try:
        _wait_mid_level(admin, proc)
        tree = _descendants(proc.pid)
        assert len(tree) >= 3, tree  # the manager, the workers, the resource tracker
        proc.kill()
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while (left := _alive(tree)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"still running 10 s after pytest was killed: {left}"
    finally:
        for pid in _alive(tree | _descendants(proc.pid)):  # never leak them into the next test
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _restore_mode(admin)


# -- 16: the restore keeps its time bound --------------------------------------------------------------
@pytest.fixture
def silent_endpoints() -> Iterator[list[str]]:
    """Two loopback admin URLs that accept the connection and never answer."""
    socks = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # never accepted: the kernel completes the handshake, nobody reads or writes
        socks.append(s)
    try:
        yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in socks]
    finally:
        for s in socks:
            s.close()


def test_the_restore_keeps_its_bound_and_prints_the_time_it_spent(silent_endpoints):
    from pytest_trinity.plan import load_plan
    from pytest_trinity.runner.restore import restore_production
    from pytest_trinity.targets import TrinityContract
    from pytest_trinity.telemetry import AdminClient
    from tests.conftest import REPO

    plan = load_plan(REPO / "profiles.toml")
    admins = [AdminClient(url, None, TrinityContract(), plan.telemetry.nodes, plan.telemetry.counters, timeout=5.0)
              for url in silent_endpoints]  # the session's admin clients wait 5 s for an answer
    try:
        started = time.monotonic()
        report = restore_production(plan, admins, timeout=3.0)
        spent = time.monotonic() - started
    finally:
        for a in admins:
            a.close()
    assert not report.ok
    assert spent < 3.0 + 2.0, f"a 3 s restore took {spent:.1f} s: {report.summary}"
    said = re.search(r"gave up after ([0-9.]+) s", report.summary)
    assert said is not None, report.summary
    assert abs(float(said.group(1)) - spent) < 0.5, (spent, report.summary)
