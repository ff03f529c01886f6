"""Benchmark: the UDP driver (closed model, 64 in flight, one process) against a small C
client, both talking to the same C responder (JSON codec) on loopback, interleaved rounds.
The C programs (bench/udp_client.c, bench/udp_responder.c) are built with gcc into a temp dir.

    python bench/udp_vs_c.py [--inflight 64] [--seconds 5] [--rounds 3]

Goal (issue 4): >= 0.8x the C client's round trips per second. Rows: the driver on one
connected socket like the C client (recvmmsg/sendmmsg batches), on the driver's default of 2
sockets per worker (more flows for a load balancer to spread, smaller batches per socket), and
on 2 sockets with plain recv/send. The C client blocks in recv once per datagram, so on a busy
machine it is bound by wake-up latency, not CPU; the CPU-efficiency ratio (C's CPU per round
trip / the driver's) is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from _support import cpu_model, free_port, run_measured

from pytest_trinity.drivers import ClosedModel, LoadSpec, Target, UdpRequest, run_load

HERE = Path(__file__).resolve().parent


def build(tmp: Path) -> tuple[Path, Path]:
    out = []
    for name in ("udp_responder", "udp_client"):
        exe = tmp / name
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / f"{name}.c")], check=True)
        out.append(exe)
    return out[0], out[1]


def c_round(client: Path, port: int, inflight: int, seconds: float) -> tuple[float, float]:
    out, _, cpu = run_measured([str(client), str(port), str(inflight), f"{seconds:g}"])
    replies, secs = out.split()
    return int(replies) / float(secs), cpu * 1e6 / max(1, int(replies))


def driver_round(port: int, inflight: int, seconds: float, sockets: int,
                 batch_io: bool | None = None) -> tuple[float, float]:
    spec = LoadSpec(Target("127.0.0.1", port), (UdpRequest("price", api_key="bench"),),
                    ClosedModel(requests=10**9, concurrency=inflight), max_requests=10**9, max_seconds=seconds,
                    timeout=0.5, late_grace=0.2, processes=1, udp_sockets=sockets,
                    udp_batch_io=batch_io)
    r = run_load(spec)
    o = r.outcomes
    answered = o.ok + sum(o.error_replies.values())
    return answered / r.elapsed, r.cpu_seconds * 1e6 / max(1, answered)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {"c-client": [], "driver-1-socket": [], "driver-2-sockets": [],
                                                  "driver-2-sockets-plain-recv": []}
    with tempfile.TemporaryDirectory(prefix="trinity-udp-bench-") as tmp:
        responder, client = build(Path(tmp))
        port = free_port("udp")
        proc = subprocess.Popen([str(responder), str(port)], stdout=subprocess.PIPE, text=True)
        try:
            if proc.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise RuntimeError("C responder did not start")
            for i in range(args.rounds):
                rows["c-client"].append(c_round(client, port, args.inflight, args.seconds))
                rows["driver-1-socket"].append(driver_round(port, args.inflight, args.seconds, 1))
                rows["driver-2-sockets"].append(driver_round(port, args.inflight, args.seconds, 2))
                rows["driver-2-sockets-plain-recv"].append(driver_round(port, args.inflight, args.seconds, 2, False))
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1][0]:,.0f} rt/s {v[-1][1]:.2f} us/rt"
                                                    for k, v in rows.items()), flush=True)
        finally:
            proc.kill()
            proc.wait()
    c_rps = statistics.median(r[0] for r in rows["c-client"])
    print(f"CPU: {cpu_model()}; {args.inflight} in flight, {args.seconds:g}s x {args.rounds} rounds, medians")
    c_cpu = statistics.median(r[1] for r in rows["c-client"])
    parts = [f"C client {c_rps:,.0f} rt/s ({c_cpu:.2f} us CPU/rt)"]
    for name in list(rows)[1:]:
        d_rps = statistics.median(r[0] for r in rows[name])
        d_cpu = statistics.median(r[1] for r in rows[name])
        parts.append(f"{name} {d_rps:,.0f} rt/s = {d_rps / c_rps:.2f}x C, {d_cpu:.2f} us CPU/rt "
                     f"= {c_cpu / d_cpu:.2f}x C's CPU efficiency")
    print("RESULT udp: " + "; ".join(parts) + " (goal >= 0.80x)")


if __name__ == "__main__":
    main()
