"""Benchmark: resident memory of the driver holding N keep-alive connections (default 21,000,
the plan's level 13) to nginx on loopback, with RLIMIT_NOFILE raised as far as allowed.

    python bench/memory_connections.py [--connections 21000] [--rounds-per-connection 3]

The driver runs in as few worker processes as the per-process file limit allows (one when the
hard limit permits N sockets); the peak RSS of every worker (VmHWM) is summed. nginx runs two
workers with `reuseport` so neither needs N descriptors. Goal (issue 4): <= 1 GiB.
"""

from __future__ import annotations

import argparse
import math
import resource

from _support import cpu_model, free_port, run_nginx, static_site_conf

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadSpec, Target, run_load
from pytest_trinity.oslimits import raise_nofile_limit

GIB = 1 << 30
HEADROOM = 512  # descriptors a worker needs besides its connections


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--connections", type=int, default=21000)
    ap.add_argument("--rounds-per-connection", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=180.0)
    args = ap.parse_args()
    n = args.connections
    limit = raise_nofile_limit(n + HEADROOM)
    processes = max(1, math.ceil(n / max(1, limit - HEADROOM)))
    port = free_port()
    per_nginx_worker = n // 2 + HEADROOM
    with run_nginx(http=static_site_conf(port), ready_ports=(port,), worker_connections=per_nginx_worker + n // 4,
                   workers="2"):
        total = n * args.rounds_per_connection
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("price", "/price?symbol=BTC-USD", api_key="k"),),
                        ClosedModel(requests=total, concurrency=n), max_requests=total, max_seconds=args.seconds,
                        timeout=60.0, processes=processes)
        r = run_load(spec)
    o = r.outcomes
    rss = r.peak_rss_bytes
    print(f"CPU: {cpu_model()}; RLIMIT_NOFILE soft limit {limit} "
          f"(hard {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}) -> {processes} driver process(es)")
    print(f"{n} connections, {o.completed} requests: ok={o.ok} failures={o.failures}"
          f"{' ' + str(o.to_dict()) if o.failures else ''}, {r.elapsed:.1f}s, stop={r.stop_reason}")
    print(f"most connections open at once: {r.peak_connections}")
    print(f"RESULT memory: peak RSS {rss / (1 << 20):.0f} MiB over {processes} process(es) for {n} connections "
          f"= {rss / GIB:.2f}x of 1 GiB ({rss / n / 1024:.1f} KiB per connection incl. interpreters) "
          f"(goal <= 1.00x); all ok: {o.ok == total}; held at once: {r.peak_connections}")


if __name__ == "__main__":
    main()
