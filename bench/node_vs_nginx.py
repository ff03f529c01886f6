"""Benchmark: one reference node's /price req/s per core against nginx's, in the same run.

Both servers get one core (CPU 0, one nginx worker / one node process) and wrk gets the other
(`wrk -t1 -c64`, CPU 1). nginx answers `return 200` with the node's own /price body, so the
bytes on the wire match. Per-core figures divide req/s by the server's measured CPU use.

    python bench/node_vs_nginx.py [--duration 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_trinity.plan import load_plan  # noqa: E402
from pytest_trinity.reference import run_cluster  # noqa: E402
from pytest_trinity.reference.cluster import DEFAULT_PLAN  # noqa: E402
from pytest_trinity.services import free_port, require_binary  # noqa: E402
from pytest_trinity.services.nginx import run_nginx  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(p) for p in text]
    return out


def pin(pids: list[int], cpu: int) -> None:
    for pid in pids:
        os.sched_setaffinity(pid, {cpu})


def run_wrk(url: str, headers: dict[str, str], duration: float, connections: int, server_pids: list[int]) -> tuple[float, float]:
    """Return (req/s, server CPU cores used) for one wrk run against `url`."""
    wrk = require_binary("wrk", "wrk")
    with tempfile.TemporaryDirectory(prefix="trinity-bench-") as tmp:
        script = Path(tmp) / "headers.lua"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT, 0o600)  # the API key stays off the command line
        with os.fdopen(fd, "w") as f:
            f.write("".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items()))
        argv = [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "-s", str(script), url]
        cpu0, t0 = cpu_seconds(server_pids), time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                              preexec_fn=lambda: os.sched_setaffinity(0, {CLIENT_CPU}))
        cores = (cpu_seconds(server_pids) - cpu0) / (time.monotonic() - t0)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} non-2xx answers from {url}")
    return float(match.group(1)), cores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        print("needs 2 CPUs (one for the server, one for wrk)", file=sys.stderr)
        return 2
    plan = load_plan(DEFAULT_PLAN)
    mode = plan.tests["1a"].profile  # the single-container TCP ceiling test's profile
    symbol = "BTC-USD"
    with run_cluster(nodes=("main",), load_balancer=False, mode=mode, adaptive_enabled=False) as cluster:
        node = cluster.nodes["main"]
        url = f"{node.api_url}/price?symbol={symbol}"
        headers = {"X-API-Key": cluster.partner_key.value}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:  # noqa: S310
            body = resp.read().decode()
        pin([node.pid], SERVER_CPU)
        run_wrk(url, headers, 1.0, args.connections, [node.pid])  # warm-up
        node_rps, node_cores = run_wrk(url, headers, args.duration, args.connections, [node.pid])

    port = free_port()
    http = (f"server {{\n  listen 127.0.0.1:{port} backlog=4096;\n  keepalive_requests 100000000;\n"
            f"  location / {{ default_type application/json; return 200 '{body}'; }}\n}}")
    with run_nginx(http=http, ready_ports=(port,), workers="1") as nginx:
        assert nginx.proc is not None
        workers = children(nginx.proc.pid)
        pin([nginx.proc.pid, *workers], SERVER_CPU)
        nginx_url = f"http://127.0.0.1:{port}/price?symbol={symbol}"
        run_wrk(nginx_url, {}, 1.0, args.connections, workers)
        nginx_rps, nginx_cores = run_wrk(nginx_url, {}, args.duration, args.connections, workers)

    node_pc = node_rps / max(node_cores, 1e-6)
    nginx_pc = nginx_rps / max(nginx_cores, 1e-6)
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s, GET /price ({len(body)}-byte body), "
          f"server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}")
    print(f"{'server':<22}{'req/s':>12}{'cores used':>12}{'req/s per core':>16}")
    print(f"{'reference node (main)':<22}{node_rps:>12,.0f}{node_cores:>12.2f}{node_pc:>16,.0f}")
    print(f"{'nginx return 200':<22}{nginx_rps:>12,.0f}{nginx_cores:>12.2f}{nginx_pc:>16,.0f}")
    print(f"node / nginx per core: {node_pc / nginx_pc:.2f}  (raw req/s: {node_rps / nginx_rps:.2f}); goal >= 0.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
