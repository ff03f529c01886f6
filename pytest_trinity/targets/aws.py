"""A target's AWS side as data: its resource ids and how each plan metric is read from CloudWatch.

`AwsIds` is `[targets.X.aws]`. `CLOUD_QUERIES` is the default mapping from the plan's cloud
metrics (`plan/metrics.py`: `container-insights`, `load-balancer`, `elasticache`, `aurora`) to
CloudWatch metrics, as AWS publishes them; `[targets.X.aws.metrics."<query set>".<metric>]`
replaces any entry (another namespace, metric name, statistic, dimension or scale), because
the target is not ours: a service may publish under its own names.

A query set is the source a plan metric comes from on one kind of resource. The load
balancer has two: `load-balancer:alb` (TCP tests through the balanced topology) and
`load-balancer:nlb` (UDP tests through it); the NLB publishes no 5xx counts and no response
time, so those are "not published" for UDP tests rather than unmeasured.

Dimension values are templates over the ids: `{ecs_cluster}`, `{service}` (each service of
`services`, in turn), `{alb}`, `{alb_target_group}`, `{nlb}`, `{nlb_target_group}`,
`{db_cluster}`, `{db_instance}`, `{cache_cluster}`. A query whose template names an id the
target does not give is "not configured", and its red flags stay unmeasured (and listed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
REDUCERS = ("max", "sum", "mean")
ABSENT = ("missing", "zero", "skip")
# Which plan source each query set feeds.
QUERY_SETS: dict[str, str] = {
    "container-insights": "container-insights",
    "load-balancer:alb": "load-balancer",
    "load-balancer:nlb": "load-balancer",
    "elasticache": "elasticache",
    "aurora": "aurora",
}
ID_FIELDS = ("ecs_cluster", "service", "alb", "alb_target_group", "nlb", "nlb_target_group", "db_cluster",
             "db_instance", "cache_cluster")


@dataclass(frozen=True)
class CloudQuery:
    """One plan metric read from CloudWatch.

    The value of a period is `scale * sum(metrics)`, or with `per`, `scale * sum(metrics) / per`
    (a ratio, e.g. CpuUtilized / CpuReserved with scale 100 for a percentage). Periods combine
    into a level's figure with `reduce`, and services (`{service}`) combine with `across`.
    `absent` says what a period without a datapoint means while another metric of the same
    query set has that period (the resource was reporting): "missing" (the default: it has not
    arrived), "zero" (AWS publishes a count such as HTTPCode_Target_5XX_Count only when it is
    not zero) or "skip" (TargetResponseTime exists only for periods that had requests). Without
    any datapoint of the set for the period, it is missing whatever `absent` says.
    """

    namespace: str
    metrics: tuple[str, ...]
    stat: str
    dimensions: tuple[tuple[str, str], ...]
    per: str | None = None
    scale: float = 1.0
    reduce: str = "max"
    across: str = "max"
    absent: str = "missing"

    def ids_needed(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for _, v in self.dimensions for n in PLACEHOLDER.findall(v)))


def _q(namespace: str, metric: str | tuple[str, ...], stat: str, dims: dict[str, str], **kw: object) -> CloudQuery:
    metrics = (metric,) if isinstance(metric, str) else metric
    return CloudQuery(namespace, metrics, stat, tuple(dims.items()), **kw)  # type: ignore[arg-type]


_ECS = {"ClusterName": "{ecs_cluster}", "ServiceName": "{service}"}
_ALB = {"LoadBalancer": "{alb}"}
_ALB_TG = {"TargetGroup": "{alb_target_group}", "LoadBalancer": "{alb}"}
_NLB = {"LoadBalancer": "{nlb}"}
_NLB_TG = {"TargetGroup": "{nlb_target_group}", "LoadBalancer": "{nlb}"}
_CACHE = {"CacheClusterId": "{cache_cluster}"}
_DB = {"DBClusterIdentifier": "{db_cluster}"}

# The defaults: AWS's own namespaces, metric names, statistics and units.
CLOUD_QUERIES: dict[str, dict[str, CloudQuery]] = {
    "container-insights": {
        "cpu_pct": _q("ECS/ContainerInsights", "CpuUtilized", "Average", _ECS, per="CpuReserved", scale=100.0),
        "memory_pct": _q("ECS/ContainerInsights", "MemoryUtilized", "Average", _ECS, per="MemoryReserved", scale=100.0),
        "network_rx_bytes": _q("ECS/ContainerInsights", "NetworkRxBytes", "Average", _ECS, reduce="mean", across="sum"),
        "network_tx_bytes": _q("ECS/ContainerInsights", "NetworkTxBytes", "Average", _ECS, reduce="mean", across="sum"),
    },
    "load-balancer:alb": {
        "target_response_p99_ms": _q("AWS/ApplicationELB", "TargetResponseTime", "p99", _ALB, scale=1000.0, absent="skip"),
        "errors_5xx": _q("AWS/ApplicationELB", ("HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"), "Sum", _ALB,
                         reduce="sum", absent="zero"),
        "active_connections": _q("AWS/ApplicationELB", "ActiveConnectionCount", "Sum", _ALB, reduce="sum", absent="zero"),
        "unhealthy_host_count": _q("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", _ALB_TG),
    },
    "load-balancer:nlb": {
        "active_connections": _q("AWS/NetworkELB", "ActiveFlowCount_UDP", "Maximum", _NLB),
        "unhealthy_host_count": _q("AWS/NetworkELB", "UnHealthyHostCount", "Maximum", _NLB_TG),
    },
    "elasticache": {
        "engine_cpu_pct": _q("AWS/ElastiCache", "EngineCPUUtilization", "Maximum", _CACHE),
        "curr_connections": _q("AWS/ElastiCache", "CurrConnections", "Maximum", _CACHE),
        "cache_hits": _q("AWS/ElastiCache", "CacheHits", "Sum", _CACHE, reduce="sum", absent="zero"),
        "cache_misses": _q("AWS/ElastiCache", "CacheMisses", "Sum", _CACHE, reduce="sum", absent="zero"),
    },
    "aurora": {
        "acu": _q("AWS/RDS", "ServerlessDatabaseCapacity", "Maximum", _DB),
        "connections": _q("AWS/RDS", "DatabaseConnections", "Maximum", _DB),
        "active_sessions": _q("AWS/RDS", "DBLoad", "Maximum", {"DBInstanceIdentifier": "{db_instance}"}),  # per instance
    },
}


@dataclass(frozen=True)
class StressClient:
    """The EC2 stress client(s) the restore may terminate: only these ids, and only while they
    carry the tag `tag_key=tag_value`; `terminate` is the opt-in."""

    instance_ids: tuple[str, ...]
    tag_key: str
    tag_value: str
    terminate: bool = False


@dataclass(frozen=True)
class AwsIds:
    """`[targets.X.aws]`: where the target's AWS resources are, and what the run may do to them.

    Every feature is opt-in by what is given: cloud red flags by the resource ids, placement by
    `subnets` (AZ name -> subnets of that AZ), publishing by `publish_namespace`, termination by
    `stress_client.terminate`.
    """

    region: str | None = None
    endpoint_url: str | None = None                       # all services (moto, a VPC endpoint, …)
    endpoint_urls: tuple[tuple[str, str], ...] = ()       # per boto3 service name, over endpoint_url
    ecs_cluster: str | None = None
    services: tuple[tuple[str, str], ...] = ()            # node role (main, mirror, lrs) -> ECS service
    alb: str | None = None
    alb_target_group: str | None = None
    nlb: str | None = None
    nlb_target_group: str | None = None
    db_cluster: str | None = None
    db_instance: str | None = None
    db_resource_id: str | None = None                     # Performance Insights' id (db-…)
    cache_cluster: str | None = None
    period_s: int = 60
    subnets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # AZ name as the plan writes it ("2a") -> subnets
    force_new_deployment: bool = True
    stable_timeout_s: float = 600.0
    publish_namespace: str | None = None
    stress_client: StressClient | None = None
    console_url: str = "https://{region}.console.aws.amazon.com"
    queries: dict[str, dict[str, CloudQuery]] = field(default_factory=lambda: CLOUD_QUERIES, compare=False)

    def ids(self) -> dict[str, str]:
        """The id templates' values (without `service`, which is per service)."""
        return {name: value for name in ID_FIELDS if name != "service" and (value := getattr(self, name)) is not None}

    def endpoint_for(self, service: str) -> str | None:
        return dict(self.endpoint_urls).get(service, self.endpoint_url)

    @property
    def cloud_on(self) -> bool:
        """Whether any cloud metric can be read: a region and at least one resource id."""
        return self.region is not None and bool(self.ids() or self.services)
