"""Read the nodes' published snapshots straight from Redis (`cluster:stats:<node>`).

The same single pipeline call /admin/cluster-stats makes, for a target whose Redis the stress
client can reach (`redis_url` in the target); useful when the admin API itself is in doubt.
"""

from __future__ import annotations

import json

import redis

from pytest_trinity.telemetry.snapshot import ClusterStats, TelemetryError


def read_cluster_stats(url: str, nodes: tuple[str, ...], counters: tuple[str, ...],
                       prefix: str = "cluster:stats:", timeout: float = 5.0) -> ClusterStats:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for node in nodes:
            pipe.get(prefix + node)
        raw = pipe.execute()
    except redis.RedisError as exc:
        raise TelemetryError(f"redis {prefix}*: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    snapshots = {}
    for node, blob in zip(nodes, raw):
        if blob is None:
            continue
        try:
            snapshots[node] = json.loads(blob)
        except ValueError:
            raise TelemetryError(f"redis {prefix}{node}: not JSON: {blob[:100]!r}") from None
    return ClusterStats.parse({"nodes": snapshots, "missing": []}, nodes, counters, f"redis {prefix}*")
