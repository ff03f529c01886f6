"""Read the nodes' published snapshots straight from Redis (`cluster:stats:<node>`).

The same single pipeline call /admin/cluster-stats makes, for a target whose Redis the stress
client can reach (`redis_url` in the target); useful when the admin API itself is in doubt.
Snapshots are parsed by the target's contract, like the admin API's.
"""

from __future__ import annotations

import json

import redis

from pytest_trinity.model import ClusterStats
from pytest_trinity.targets import ContractError, TargetContract


def read_cluster_stats(url: str, contract: TargetContract, nodes: tuple[str, ...], counters: tuple[str, ...],
                       prefix: str = "cluster:stats:", timeout: float = 5.0) -> ClusterStats:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for node in nodes:
            pipe.get(prefix + node)
        raw = pipe.execute()
    except redis.RedisError as exc:
        raise ContractError(f"redis {prefix}*: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    parsed = {}
    for node, blob in zip(nodes, raw, strict=True):
        if blob is None:
            continue
        try:
            data = json.loads(blob)
        except ValueError:
            raise ContractError(f"redis {prefix}{node}: not JSON: {blob[:100]!r}") from None
        parsed[node] = contract.parse_node(data, counters, f"redis {prefix}{node}")
    return ClusterStats(nodes=parsed, missing=tuple(n for n in nodes if n not in parsed))
