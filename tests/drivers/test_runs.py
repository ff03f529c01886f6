"""Whole-run behaviour: TLS against nginx with a CA file, SIGINT returning partial results,
a failing worker named in the error, picklable specs and results."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadResult, LoadSpec, Target, UdpRequest, WorkerError, run_load, run_load_inline, split
from pytest_trinity.services.nginx import run_nginx
from pytest_trinity.services.ports import free_port


def make_cert(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_with_ca_file(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    port = free_port()
    conf = (f"server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};\n"
            f"  keepalive_requests 100000; location / {{ return 200 'tls-ok'; }}\n"
            f"  location /nf {{ return 404; }} }}\n")
    with run_nginx(http=conf, ready_ports=(port,)):
        kinds = (HttpRequest("a", "/a"), HttpRequest("nf", "/nf"))
        spec = LoadSpec(Target("127.0.0.1", port, tls=True, ca_file=str(cert), server_hostname="localhost"),
                        kinds, ClosedModel(600, 6), max_requests=600, max_seconds=60, timeout=10, processes=2)
        r = run_load(spec)
        assert r.kinds["a"].outcomes.ok == 300
        assert r.kinds["nf"].outcomes.client_errors == {404: 300}
        # stock asyncio reads TLS through the BufferedProtocol path
        plain = run_load_inline(spec.with_(use_uvloop=False, processes=1), handle_sigint=False)
        assert plain.kinds["a"].outcomes.ok == 300 and plain.outcomes.completed == 600
        # without the CA the handshake fails: every attempt is a connect error, nothing is sent
        untrusted = spec.with_(target=Target("127.0.0.1", port, tls=True, server_hostname="localhost"),
                               model=ClosedModel(20, 2), max_requests=20, processes=1)
        bad = run_load(untrusted)
        assert bad.outcomes.connect_error == 20 and bad.outcomes.sent == 0


def test_open_model_waits_for_slow_connection_setup(tmp_path: Path) -> None:
    """Regression: while the connections were still being opened, housekeeping took the open
    run for finished (nothing planned yet) and ended it after a request or two. 200 TLS
    handshakes with an RSA-4096 key take far longer than one housekeeping tick."""
    from pytest_trinity.drivers import OpenModel

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    conf = (f"server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};\n"
            f"  keepalive_requests 100000; location / {{ return 200 'ok'; }} }}\n")
    with run_nginx(http=conf, ready_ports=(port,)):
        spec = LoadSpec(Target("127.0.0.1", port, tls=True, ca_file=str(cert), server_hostname="localhost"),
                        (HttpRequest("a", "/"),), OpenModel(rate=500, duration=1.0, connections=200, late_send_us=1000),
                        max_requests=501, max_seconds=60, timeout=30, processes=1)
        r = run_load_inline(spec, handle_sigint=False)
        assert r.outcomes.reset == 0
        assert r.outcomes.ok == r.outcomes.sent
        assert r.outcomes.sent + r.unsent == 500 and r.outcomes.sent >= 450


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadSpec, Target, run_load
    from pytest_trinity.services.nginx import run_nginx
    def main():
        port = {port}
        conf = "server {{ listen 127.0.0.1:%d; keepalive_requests 100000000; location / {{ return 200 'x'; }} }}" % port
        with run_nginx(http=conf, ready_ports=(port,)):
            spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),), ClosedModel(10**9, 8),
                            max_requests=10**9, max_seconds=60, timeout=10, processes=2)
            def progress(p):
                print("PROGRESS", json.dumps(p.to_dict()), flush=True)
            r = run_load(spec, on_progress=progress)
            print("RESULT", json.dumps(r.to_dict()), flush=True)

    if __name__ == "__main__":  # worker processes import this module again
        main()
""")


def test_sigint_returns_partial_results_quickly(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(root=str(ROOT), port=free_port()))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("PROGRESS") and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        first = json.loads(line.split(" ", 1)[1])
        assert first["done"] > 0 and first["total"] == 10**9 and first["rps"] > 0
        t_sig = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        while not line.startswith("RESULT") and time.monotonic() < t_sig + 30:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line and proc.poll() is not None:
                break
        stopped_in = time.monotonic() - t_sig
        out, err = proc.communicate(timeout=30)
        out = line + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    result_line = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
    assert result_line, err
    r = LoadResult.from_dict(json.loads(result_line[0].split(" ", 1)[1]))
    assert r.interrupted and r.stop_reason == "interrupted"
    assert r.shards == 2
    assert r.outcomes.ok > 0 and r.outcomes.ok < 10**9
    assert r.outcomes.completed + r.outcomes.abandoned == r.outcomes.sent
    print(f"SIGINT to result: {stopped_in:.2f}s")
    # the issue asks for 1 s; allow slack for a busy 2-core machine
    assert stopped_in < 3, f"stopping took {stopped_in:.2f}s"
    assert r.elapsed < 60


def test_failing_worker_is_named() -> None:
    spec = LoadSpec(Target("127.0.0.1", free_port()), (UdpRequest("u", codec="no-such-codec"),),
                    ClosedModel(10, 2), max_requests=10, max_seconds=10, timeout=1, processes=2)
    with pytest.raises(WorkerError) as info:
        run_load(spec)
    assert info.value.shard in (0, 1)
    assert "load worker" in str(info.value) and "no-such-codec" in str(info.value)


def test_specs_and_results_are_picklable_plain_data() -> None:
    spec = LoadSpec(Target("127.0.0.1", 1), (HttpRequest("a", "/a", api_key="k"),), ClosedModel(10, 3),
                    max_requests=10, max_seconds=1, timeout=1)
    shards = split(spec, 3)
    assert [s.model.requests for s in shards] == [4, 3, 3]
    assert sum(s.model.concurrency for s in shards) == 3
    assert pickle.loads(pickle.dumps(shards)) == shards
    assert "api_key=***" in repr(spec.kinds[0])
    assert spec.to_dict()["kinds"][0]["has_api_key"] is True
    with pytest.raises(ValueError):
        LoadSpec(Target("h", 1), (HttpRequest("a"), UdpRequest("b")), ClosedModel(1, 1), 1, 1, 1)
    with pytest.raises(ValueError):
        LoadSpec(Target("h", 1), (HttpRequest("a"), HttpRequest("a")), ClosedModel(1, 1), 1, 1, 1)


def test_level_13_concurrency_holds_21000_connections() -> None:
    n = 21000
    port = free_port()
    conf = (f"server {{ listen 127.0.0.1:{port} backlog=65535 reuseport; keepalive_requests 1000000;\n"
            f"  location / {{ return 200 'ok'; }} }}\n")
    with run_nginx(http=conf, ready_ports=(port,), worker_connections=n, workers="2"):
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),), ClosedModel(2 * n, n),
                        max_requests=2 * n, max_seconds=120, timeout=60, processes=2)
        r = run_load(spec)
    assert r.outcomes.ok == 2 * n, r.outcomes.to_dict()
    assert r.peak_connections == n
    assert 0 < r.peak_rss_bytes < (1 << 30)


def test_shards_run_through_a_given_executor(http_server: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from conftest import http_stats

    spec = LoadSpec(Target("127.0.0.1", http_server), (HttpRequest("a", "/a"),), ClosedModel(3000, 6),
                    max_requests=3000, max_seconds=60, timeout=10, processes=3)
    with ThreadPoolExecutor(max_workers=3) as pool:  # any concurrent.futures.Executor will do
        r = run_load(spec, executor=pool)
    assert r.shards == 3
    assert r.outcomes.ok == 3000 and http_stats(http_server)["/a"] == 3000
