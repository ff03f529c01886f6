"""The reference cluster: a real Trinity-compatible target on loopback (3 nodes, Redis, nginx).

`run_cluster()` is the launcher (a context manager yielding `ClusterInfo`);
`python -m pytest_trinity.reference` runs it in the foreground. See docs/reference-cluster.md.
"""

from pytest_trinity.reference.cluster import ClusterInfo, Endpoints, NodeInfo, TelemetryTimings, run_cluster
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.secrets import KeySpec, Secret

__all__ = ["ClusterInfo", "Dialect", "Endpoints", "KeySpec", "NodeInfo", "Secret", "TelemetryTimings", "run_cluster"]
