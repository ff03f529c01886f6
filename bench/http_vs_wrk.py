"""Benchmark: the HTTP driver (closed model, one process) against `wrk -t1` on the same
loopback nginx, interleaved rounds, printing req/s ratios and client CPU per request.

    python bench/http_vs_wrk.py [--connections 64] [--seconds 5] [--rounds 3]

Goal (issue 4): >= 1.1x wrk's req/s and <= 6.5 us of client CPU per request, with full
parsing, classification and latency recording on. The script prints the truth either way.
Rows: wrk -t1; the driver in one process on uvloop and on stock asyncio; the driver with its
default of one process per core (the connections split between them); and the "floor":
`http_floor_client.py`, a uvloop Protocol that only writes the next request on each read (no
parsing, classification or recording), i.e. what the event loop and the kernel alone cost.
Client CPU is the getrusage user+sys time of wrk / of the driver's worker processes / of the
floor client during the run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
from pathlib import Path

from _support import cpu_model, fixed_cost_nginx, run_measured

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadSpec, Target, run_load


def wrk_round(port: int, conns: int, seconds: float) -> tuple[float, float]:
    out, _, cpu = run_measured(["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/price"])
    m = re.search(r"(\d+) requests in ([\d.]+)s", out)
    if not m:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    n, secs = int(m.group(1)), float(m.group(2))
    return n / secs, cpu * 1e6 / n


def floor_round(port: int, conns: int, seconds: float) -> tuple[float, float]:
    script = Path(__file__).with_name("http_floor_client.py")
    out, _, _ = run_measured([sys.executable, str(script), str(port), str(conns), str(seconds)])
    _, n, secs, cpu = out.split()
    return int(n) / float(secs), float(cpu) * 1e6 / int(n)


def driver_round(port: int, conns: int, seconds: float, uvloop: bool | None,
                 processes: int | None = 1) -> tuple[float, float]:
    spec = LoadSpec(Target("127.0.0.1", port),
                    (HttpRequest("price", "/price?symbol=BTC-USD", api_key="bench-key"),),
                    ClosedModel(requests=10**9, concurrency=conns), max_requests=10**9,
                    max_seconds=seconds, timeout=10.0, processes=processes, use_uvloop=uvloop)
    r = run_load(spec)
    o = r.outcomes
    if o.ok != o.completed:
        raise RuntimeError(f"driver saw failures against nginx: {o.to_dict()}")
    return r.requests_per_second, r.cpu_us_per_request


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rows: dict[str, list[tuple[float, float]]] = {"wrk": [], "driver-uvloop": [], "driver-asyncio": [],
                                                  f"driver-uvloop-{cores}proc": [], "floor-uvloop-no-parsing": []}
    with fixed_cost_nginx() as port:
        for i in range(args.rounds):
            rows["wrk"].append(wrk_round(port, args.connections, args.seconds))
            rows["driver-uvloop"].append(driver_round(port, args.connections, args.seconds, True))
            rows["driver-asyncio"].append(driver_round(port, args.connections, args.seconds, False))
            rows[f"driver-uvloop-{cores}proc"].append(driver_round(port, args.connections, args.seconds, True, None))
            rows["floor-uvloop-no-parsing"].append(floor_round(port, args.connections, args.seconds))
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1][0]:,.0f} req/s {v[-1][1]:.2f} us/req"
                                                for k, v in rows.items()), flush=True)
    wrk_rps = statistics.median(r[0] for r in rows["wrk"])
    wrk_cpu = statistics.median(r[1] for r in rows["wrk"])
    print(f"CPU: {cpu_model()}; {args.connections} connections, {args.seconds:g}s x {args.rounds} rounds, medians")
    parts = [f"wrk {wrk_rps:,.0f} req/s {wrk_cpu:.2f} us/req"]
    for name in list(rows)[1:]:
        rps = statistics.median(r[0] for r in rows[name])
        cpu = statistics.median(r[1] for r in rows[name])
        parts.append(f"{name} {rps / wrk_rps:.2f}x wrk req/s, {cpu:.2f} us CPU/req")
    print("RESULT http: " + "; ".join(parts) + " (goal >= 1.10x, <= 6.5 us/req)")


if __name__ == "__main__":
    main()
