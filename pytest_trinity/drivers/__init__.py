"""Load drivers: HTTP/1.1 (TLS too) and UDP load at wrk speed, closed and open models,
several processes, HdrHistogram latencies. This module only re-exports the public API:

    spec = LoadSpec(Target("127.0.0.1", 8080), (HttpRequest("price", "/price?symbol=BTC-USD",
                    api_key=key),), ClosedModel(requests, concurrency), max_requests=...,
                    max_seconds=..., timeout=...)
    result = run_load(spec, on_progress=print)       # worker processes, one per core
    result.kinds["price"].outcomes.ok, result.latency.percentile_ms(99), result.to_dict()

`run_load_async(spec)` runs the same spec as one shard inside a running event loop. Scripts
calling `run_load` need the usual `if __name__ == "__main__":` guard (workers re-import it).
A UDP codec other than JSON is named by import path: `UdpRequest(..., codec="pkg.mod:factory")`.

Shards run where the executor puts them: `run_load(spec, executor=DaskExecutor("dask://host:8786"))`
(`pytest_trinity.drivers.dask_cluster`, needs `pytest-trinity[dask]`) runs them on a Dask cluster.
"""

from pytest_trinity.drivers.codec import Codec, JsonCodec
from pytest_trinity.drivers.latency import Latency, SecondSample
from pytest_trinity.drivers.local_pool import LocalExecutor
from pytest_trinity.drivers.outcomes import Outcomes
from pytest_trinity.drivers.registry import driver_for, register_driver
from pytest_trinity.drivers.result import KindResult, LoadResult, ShardReport, ShardResult
from pytest_trinity.drivers.runner import ExecutorError, Progress, ShardExecutor, WorkerError, run_load, run_load_async, run_load_inline
from pytest_trinity.drivers.shard import run_shard, run_shard_async
from pytest_trinity.drivers.spec import ClosedModel, HttpRequest, LoadSpec, OpenModel, ShardSpec, Target, UdpRequest, split

__all__ = [
    "ClosedModel", "Codec", "ExecutorError", "HttpRequest", "JsonCodec", "KindResult", "Latency", "LoadResult", "LoadSpec",
    "LocalExecutor", "OpenModel", "Outcomes", "Progress", "SecondSample", "ShardExecutor", "ShardReport", "ShardResult",
    "ShardSpec", "Target", "UdpRequest",
    "WorkerError", "driver_for", "register_driver", "run_load", "run_load_async", "run_load_inline",
    "run_shard", "run_shard_async", "split",
]
