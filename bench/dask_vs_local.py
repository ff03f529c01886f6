"""Benchmark: the same closed-model HTTP load through the local process pool and through a
local Dask cluster (issue 10), in the same run, rounds interleaved, printing req/s, client CPU
per request and start skew, and a final `RESULT` line of the Dask/local ratio.

    python bench/dask_vs_local.py [--connections 64] [--seconds 5] [--rounds 3] [--workers N]

Both sides run N shards (default: one per core) against one loopback nginx returning 123 bytes:
(a) `run_load(spec, processes=N)` on the local pool, (b) `run_load(spec, executor=DaskExecutor)`
on a Dask cluster of N worker processes with 1 thread each (`run_dask`, loopback), which pins
one shard per worker. One untimed warm-up of each comes first; the faster warm-up's rate sizes
the request count so that a timed round takes about `--seconds`. Every round must complete
all its requests OK, else the script stops with an error (a broken run never becomes a ratio).

Goal (issue 10): Dask >= 0.9x the local pool's req/s, start skew < 50 ms. The script prints
the truth either way and exits 0; non-zero only on errors.
req/s: completed requests over the run's elapsed time (planned start to the last shard's end).
CPU: getrusage(RUSAGE_SELF) of each shard's process during the shard, summed (on Dask this
includes the worker's own threads). Skew: first to last shard's first request. "wall" is the
whole `run_load` call, set-up and tear-down included (not part of req/s); "shards apart" is
the slowest minus the fastest shard's elapsed time (each has the same share of the requests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

from _support import cpu_model, fixed_cost_nginx

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadResult, LoadSpec, ShardExecutor, Target, run_load
from pytest_trinity.drivers.dask_cluster import DaskExecutor
from pytest_trinity.services.dask import DaskWorkers, run_dask
from pytest_trinity.services.process import ServiceError

MIN_REQUESTS = 1000
FINISH_GRACE_FACTOR = 4.0  # a timed round may take this many times --seconds before its time limit stops it


@dataclass(frozen=True)
class Round:
    """One timed run of one executor."""

    rps: float
    cpu_us: float
    skew_ms: float | None
    wall_s: float
    elapsed_s: float
    shard_spread_s: float  # slowest minus fastest shard's elapsed: the fixed count waits for the slowest


    def row(self) -> str:
        skew = "n/a" if self.skew_ms is None else f"{self.skew_ms:.1f} ms"
        return (f"{self.rps:,.0f} req/s, {self.cpu_us:.2f} us CPU/req, skew {skew}, "
                f"elapsed {self.elapsed_s:.2f} s (shards {self.shard_spread_s:.2f} s apart), wall {self.wall_s:.2f} s")


def make_spec(port: int, conns: int, requests: int, max_seconds: float, workers: int) -> LoadSpec:
    return LoadSpec(Target("127.0.0.1", port), (HttpRequest("price", "/price?symbol=BTC-USD", api_key="bench-key"),),
                    ClosedModel(requests=requests, concurrency=conns), max_requests=requests,
                    max_seconds=max_seconds, timeout=10.0, processes=workers)


def run_once(label: str, spec: LoadSpec, executor: ShardExecutor | None, workers: int, exact: bool) -> tuple[LoadResult, float]:
    """One run; raises RuntimeError unless every request completed OK (with `exact`: all of the planned ones)."""
    t0 = time.monotonic()
    result = run_load(spec, executor=executor, processes=workers)
    wall = time.monotonic() - t0
    o = result.outcomes
    expected = spec.total_requests if exact else o.completed
    if o.ok != expected or o.completed != o.ok:
        raise RuntimeError(f"{label}: {o.ok} of {expected} requests OK (completed {o.completed}, stop "
                           f"{result.stop_reason}, errors {list(result.errors)}): {o.to_dict()}")
    if result.shards != workers:
        raise RuntimeError(f"{label}: ran {result.shards} shards, expected {workers} (one per worker)")
    return result, wall


def timed(label: str, spec: LoadSpec, executor: ShardExecutor | None, workers: int) -> Round:
    result, wall = run_once(label, spec, executor, workers, exact=True)
    skew = result.start_skew_s
    ends = [r.elapsed for r in result.by_shard]
    return Round(result.requests_per_second, result.cpu_us_per_request, None if skew is None else skew * 1000,
                 wall, result.elapsed, max(ends) - min(ends))


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(rounds: list[Round]) -> tuple[float, float, float | None]:
    skews = [r.skew_ms for r in rounds if r.skew_ms is not None]
    return (median([r.rps for r in rounds]), median([r.cpu_us for r in rounds]), median(skews) if skews else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0, help="about how long each timed round takes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="shards: local processes = Dask workers")
    args = ap.parse_args()
    if args.connections < 1 or args.seconds <= 0 or args.rounds < 1 or args.workers < 1:
        ap.error("--connections, --rounds and --workers must be >= 1 and --seconds > 0")
    if args.workers > args.connections:
        ap.error(f"--workers {args.workers} > --connections {args.connections}: every shard needs a connection")
    n, conns = args.workers, args.connections
    rows: dict[str, list[Round]] = {"local": [], "dask": []}
    with fixed_cost_nginx() as port, run_dask(workers=(DaskWorkers(count=n, threads=1),)) as cluster, \
            DaskExecutor(cluster.url) as dask:
        # Warm-ups (untimed, time-bounded): the faster one's rate sizes the rounds (the first
        # run can be slowed by the cluster's processes still settling after their start).
        warm = make_spec(port, conns, 10**9, min(args.seconds, 2.0), n)
        local_warm, _ = run_once("local warm-up", warm, None, n, exact=False)
        dask_warm, _ = run_once("dask warm-up", warm, dask, n, exact=False)
        rate = max(local_warm.requests_per_second, dask_warm.requests_per_second)
        requests = max(MIN_REQUESTS, int(rate * args.seconds))
        spec = make_spec(port, conns, requests, args.seconds * FINISH_GRACE_FACTOR + 10.0, n)
        print(f"{n} shards, {conns} connections, {requests:,} requests per round "
              f"(warm-ups: local {local_warm.requests_per_second:,.0f}, dask {dask_warm.requests_per_second:,.0f} req/s); "
              f"Dask cluster {cluster.url}", flush=True)
        for i in range(args.rounds):
            rows["local"].append(timed(f"round {i + 1} local", spec, None, n))
            print(f"round {i + 1} local: {rows['local'][-1].row()}", flush=True)
            rows["dask"].append(timed(f"round {i + 1} dask", spec, dask, n))
            print(f"round {i + 1} dask:  {rows['dask'][-1].row()}", flush=True)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; {n} shards, {conns} connections, "
          f"~{args.seconds:g}s x {args.rounds} rounds, medians")
    med = {name: summary(rs) for name, rs in rows.items()}
    for name, (rps, cpu, skew) in med.items():
        skew_s = "n/a" if skew is None else f"{skew:.1f} ms"
        print(f"median {name}: {rps:,.0f} req/s, {cpu:.2f} us CPU/req, start skew {skew_s}")
    ratio = med["dask"][0] / med["local"][0]
    dask_skew = med["dask"][2]
    skew_text = "n/a (one shard)" if dask_skew is None else f"{dask_skew:.1f} ms"
    print(f"RESULT dask/local req/s = {ratio:.2f}x, dask start skew = {skew_text} (goal: >= 0.9x, < 50 ms)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ServiceError) as exc:  # WorkerError and ExecutorError are RuntimeErrors
        print(f"dask_vs_local: {exc}", file=sys.stderr)
        sys.exit(1)
