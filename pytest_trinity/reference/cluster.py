"""The launcher: `run_cluster()` starts Redis, the nodes and nginx on loopback, waits until all
are healthy, yields a frozen `ClusterInfo`, and tears everything down on any exit.

With `aws` ids, it also publishes what AWS would publish for the deployment into a local
CloudWatch (cloudwatch.py), from the moment the cluster is healthy until just before it stops.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_trinity.plan import Plan, load_plan
from pytest_trinity.reference.cloudwatch import CloudPublisher, CloudSources, NodeSource, cloudwatch_endpoint, publish_cloudwatch
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.dialect import IDENTITY, Dialect
from pytest_trinity.reference.lb import LOOPBACK, http_block, make_certificates, stream_block
from pytest_trinity.reference.secrets import ClusterSecrets, KeySpec, Secret
from pytest_trinity.services import Daemon, ServiceError, free_port, wait_for_tcp
from pytest_trinity.services.nginx import dynamic_module, run_nginx
from pytest_trinity.services.redis import run_redis
from pytest_trinity.targets import AwsIds

DEFAULT_PLAN = Path(__file__).resolve().parents[2] / "profiles.toml"
DEFAULT_PUBLIC_MONTHLY_CAP = 10**12   # a reference-cluster choice: plan runs never reach it
HEALTH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class NodeInfo:
    name: str
    api_url: str        # http://127.0.0.1:<api>
    admin_url: str      # http://127.0.0.1:<admin>
    udp: tuple[str, int]
    pid: int
    log_path: Path


@dataclass(frozen=True)
class Endpoints:
    """Where a test sends its traffic: API base URL, admin base URL and UDP address."""

    api_url: str
    admin_url: str
    udp: tuple[str, int]


@dataclass(frozen=True)
class ClusterInfo:
    nodes: dict[str, NodeInfo]
    direct: Endpoints          # the `main` node itself (phase 1)
    balanced: Endpoints        # nginx: https API, https admin, UDP (phase 2); same as direct without LB
    public_key: Secret
    partner_key: Secret
    admin_token: Secret
    public_key_id: str
    partner_key_id: str
    extra_keys: tuple[KeySpec, ...]
    redis_url: str
    ca_file: Path | None
    dsn: str | None
    plan_path: Path
    faults_enabled: bool
    cluster_dir: Path
    secrets_file: Path
    publish_s: float
    snapshot_ttl_s: float
    pids: tuple[int, ...] = field(default=())   # every process the cluster runs (redis, nodes, nginx)
    ports: tuple[int, ...] = field(default=())  # every loopback port it listens on
    dialect: Dialect = IDENTITY                 # the names the nodes report under
    cloudwatch: CloudPublisher | None = None    # what publishes the cluster's AWS metrics (run_cluster(aws=…))

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the load balancer's CA (and the system's)."""
        ctx = ssl.create_default_context()
        if self.ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.ca_file))
        return ctx

    def key(self, tier: str) -> Secret:
        return {"public": self.public_key, "partner": self.partner_key}[tier]

    def endpoints(self, topology: str) -> Endpoints:
        return {"direct": self.direct, "balanced": self.balanced}[topology]


@dataclass(frozen=True)
class TelemetryTimings:
    """Overrides of the plan's telemetry timings, for tests (e.g. a short snapshot TTL)."""

    publish_s: float | None = None
    snapshot_ttl_s: float | None = None


def _distinct_port(kind: str, taken: list[int], attempts: int = 32) -> int:
    """A free loopback port not already handed out in this launch (free_port alone may repeat
    a port nobody has bound yet); appended to `taken`."""
    for _ in range(attempts):
        port = free_port(kind)
        if port not in taken:
            taken.append(port)
            return port
    raise ServiceError("no distinct free loopback port found")


def _get_json(url: str, token: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> dict[str, Any]:
    req = urllib.request.Request(url, headers={"X-Admin-Token": token})
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310 (loopback only)
        data = json.loads(resp.read())
    if not isinstance(data, dict):
        raise ValueError(f"{url} answered {type(data).__name__}, not a JSON object")
    return data


def _wait_cluster(admin_url: str, token: str, nodes: tuple[str, ...], daemons: list[Daemon], timeout: float,
                  context: ssl.SSLContext | None = None, dialect: Dialect = IDENTITY) -> None:
    """Until cluster-stats (read through `admin_url`, answered under `dialect`) lists every started node."""
    f_nodes = dialect.field("nodes")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for d in daemons:
            if not d.alive():
                raise ServiceError(f"{d.name} exited while the cluster was starting; its log says:\n{d.log_tail()}")
        try:
            view = _get_json(f"{admin_url}/admin/cluster-stats", token, context=context)
            if all(n in view[f_nodes] for n in nodes):
                return
            last = f"missing {sorted(set(nodes) - set(view[f_nodes]))}"
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise ServiceError(f"the cluster did not become healthy within {timeout:.0f} s ({last})")


@contextlib.contextmanager
def run_cluster(
    plan_path: Path | str | None = None,
    *,
    faults: bool = False,
    dsn: str | None = None,
    extra_keys: tuple[KeySpec, ...] = (),
    public_monthly_cap: int | None = DEFAULT_PUBLIC_MONTHLY_CAP,
    mode: str | None = None,
    adaptive_enabled: bool | None = None,
    telemetry: TelemetryTimings = TelemetryTimings(),
    nodes: tuple[str, ...] | None = None,
    load_balancer: bool = True,
    governor_limit: int | None = None,
    udp_sockets: int = 2,
    nginx_workers: str = "1",
    nginx_worker_connections: int = 4096,
    health_timeout: float = HEALTH_TIMEOUT_S,
    workdir: Path | None = None,
    dialect: Dialect | None = None,
    aws: AwsIds | None = None,
) -> Iterator[ClusterInfo]:
    """Start the reference cluster on 127.0.0.1 and yield its `ClusterInfo`; stop it on exit.

    `mode`/`adaptive_enabled` default to the plan's restore (production) profile and governor.
    `nodes` defaults to the plan's nodes (a subset runs fewer; cluster-stats then reports the
    others missing). `extra_keys` are added to the generated public and partner keys.
    `dialect` renames what the nodes report (snapshots, cluster-stats, the system-mode echo,
    API error words); None is the standard contract.
    `aws`: when it gives any resource id, the cluster's CloudWatch metrics are published under
    those ids to `aws.endpoint_url`, which must be a loopback CloudWatch (moto); nginx then
    writes an API access log (the ALB metrics' source).
    """
    if dialect is None:
        dialect = IDENTITY
    plan_file = Path(plan_path or DEFAULT_PLAN).resolve()
    plan: Plan = load_plan(plan_file)
    names = tuple(nodes or plan.telemetry.nodes)
    unknown = [n for n in names if n not in plan.telemetry.nodes]
    if unknown:
        raise ValueError(f"unknown nodes {unknown}: the plan's nodes are {list(plan.telemetry.nodes)}")
    start_mode = mode or plan.restore.profile
    if start_mode not in plan.profiles:
        raise ValueError(f"unknown mode {start_mode!r}: the plan's profiles are {sorted(plan.profiles)}")
    publish_s = telemetry.publish_s or plan.telemetry.publish_s
    ttl_s = telemetry.snapshot_ttl_s or plan.telemetry.snapshot_ttl_s
    publishing = aws is not None and bool(aws.ids() or aws.services)
    if publishing:
        assert aws is not None
        cloudwatch_endpoint(aws)   # refused before anything starts

    if load_balancer:
        stream_module = dynamic_module("ngx_stream_module", "libnginx-mod-stream")

    public = KeySpec.generate("public-1", "public", public_monthly_cap)
    partner = KeySpec.generate("partner-1", "partner")
    ids = [public.key_id, partner.key_id, *(k.key_id for k in extra_keys)]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate key ids: {ids}")
    secrets = ClusterSecrets(Secret.generate("tb_admin"), (public, partner, *extra_keys))

    with contextlib.ExitStack() as stack:
        cluster_dir = Path(tempfile.mkdtemp(prefix="trinity-cluster-", dir=workdir))
        stack.callback(shutil.rmtree, cluster_dir, True)
        cluster_dir.chmod(0o700)
        secrets_file = cluster_dir / "secrets.json"
        secrets.write(secrets_file)

        redis = stack.enter_context(run_redis())
        daemons: list[Daemon] = [redis.daemon]
        infos: dict[str, NodeInfo] = {}
        node_daemons: list[Daemon] = []
        ports: list[int] = [redis.port]
        for name in names:
            api, admin, udp = (_distinct_port(kind, ports) for kind in ("tcp", "tcp", "both"))
            cfg = NodeConfig(
                node=name, host=LOOPBACK, api_port=api, admin_port=admin, udp_port=udp,
                redis_url=redis.url, plan_path=str(plan_file), secrets_path=str(secrets_file),
                sqlite_path=str(cluster_dir / "usage_logs.sqlite3"), dsn=dsn, faults_enabled=faults,
                mode=start_mode, adaptive_enabled=plan.restore.governor if adaptive_enabled is None else adaptive_enabled,
                publish_s=publish_s, snapshot_ttl_s=ttl_s, governor_limit=governor_limit, udp_sockets=udp_sockets,
                dialect=dialect,
            )
            cfg_path = cluster_dir / f"node-{name}.json"
            cfg.to_file(cfg_path)
            # Started without waiting: the nodes boot in parallel and are waited for below.
            daemon = Daemon(f"node-{name}", [sys.executable, "-m", "pytest_trinity.reference.node", str(cfg_path)], cluster_dir)
            stack.enter_context(daemon)
            node_daemons.append(daemon)
            assert daemon.proc is not None
            infos[name] = NodeInfo(name, f"http://{LOOPBACK}:{api}", f"http://{LOOPBACK}:{admin}", (LOOPBACK, udp),
                                   daemon.proc.pid, daemon.log_path)
        daemons += node_daemons
        for daemon, info in zip(node_daemons, infos.values(), strict=True):
            for url in (info.api_url, info.admin_url):
                try:
                    wait_for_tcp(int(url.rsplit(":", 1)[1]), health_timeout, alive=daemon.alive)
                except OSError as exc:
                    raise ServiceError(f"{daemon.name} did not start ({exc}); its log says:\n{daemon.log_tail()}") from None
        first = infos[names[0]]
        direct_node = infos.get("main", first)
        direct = Endpoints(direct_node.api_url, direct_node.admin_url, direct_node.udp)
        _wait_cluster(direct.admin_url, secrets.admin_token.value, names, daemons, health_timeout, dialect=dialect)

        ca_file: Path | None = None
        balanced = direct
        access_log = cluster_dir / "alb-access.log" if publishing and load_balancer else None
        lb_pid: int | None = None
        if load_balancer:
            tls = make_certificates(cluster_dir)
            ca_file = tls.ca_file
            lb_api, lb_admin, lb_udp = (_distinct_port(kind, ports) for kind in ("tcp", "tcp", "udp"))
            http = http_block(tls, lb_api, lb_admin, [int(i.api_url.rsplit(":", 1)[1]) for i in infos.values()],
                              [int(i.admin_url.rsplit(":", 1)[1]) for i in infos.values()], access_log)
            stream = stream_block(lb_udp, [i.udp[1] for i in infos.values()])
            nginx = stack.enter_context(run_nginx(http=http, stream=stream, ready_ports=(lb_api, lb_admin),
                                                  workers=nginx_workers, modules=(stream_module,),
                                                  worker_connections=nginx_worker_connections))
            daemons.append(nginx)
            lb_pid = nginx.proc.pid if nginx.proc is not None else None
            balanced = Endpoints(f"https://{LOOPBACK}:{lb_api}", f"https://{LOOPBACK}:{lb_admin}", (LOOPBACK, lb_udp))
            context = ssl.create_default_context(cafile=str(ca_file))
            _wait_cluster(balanced.admin_url, secrets.admin_token.value, names, daemons, health_timeout, context, dialect)

        publisher: CloudPublisher | None = None
        if publishing:
            assert aws is not None
            sources = CloudSources(
                nodes=tuple(NodeSource(i.name, i.pid, LOOPBACK, int(i.api_url.rsplit(":", 1)[1])) for i in infos.values()),
                redis_url=redis.url, access_log=access_log,
                udp_ports=tuple(i.udp[1] for i in infos.values()) if load_balancer else (), lb_pid=lb_pid, dsn=dsn,
                dialect=dialect)
            # Entered last: stopped first, while nginx, the nodes and Redis still answer.
            publisher = stack.enter_context(publish_cloudwatch(aws, sources))

        yield ClusterInfo(
            nodes=infos, direct=direct, balanced=balanced,
            public_key=public.key, partner_key=partner.key, admin_token=secrets.admin_token,
            public_key_id=public.key_id, partner_key_id=partner.key_id, extra_keys=tuple(extra_keys),
            redis_url=redis.url, ca_file=ca_file, dsn=dsn, plan_path=plan_file, faults_enabled=faults,
            cluster_dir=cluster_dir, secrets_file=secrets_file, publish_s=publish_s, snapshot_ttl_s=ttl_s,
            pids=tuple(d.proc.pid for d in daemons if d.proc is not None), ports=tuple(ports), dialect=dialect,
            cloudwatch=publisher,
        )
