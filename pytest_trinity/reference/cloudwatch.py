"""The reference cluster's CloudWatch side: it publishes what AWS would publish for the real
deployment, into moto's CloudWatch on loopback, so the plugin reads it back like any target's.

`publish_cloudwatch(aws, sources)` samples the local cluster every second in a background
thread and sends PutMetricData every `aws.period_s` seconds (every second when `period_s` < 60,
then with StorageResolution 1), each datapoint stamped with its sample time. Names, units and
dimensions are AWS's own, as `targets/aws.py` CLOUD_QUERIES reads them, with the ids of `aws`:

* ECS/ContainerInsights (ClusterName, ServiceName = the node role's service in `aws.services`):
  CpuUtilized (CPU units, 1024 per vCPU, from /proc/<pid>/stat), CpuReserved (`CPU_RESERVED`,
  1 vCPU), MemoryUtilized (MiB of RSS, /proc/<pid>/status), MemoryReserved
  (`MEMORY_RESERVED_MIB`), NetworkRxBytes / NetworkTxBytes (bytes/second, from the node's own
  socket byte counters in its `cluster:stats:<node>` snapshot: a rate per snapshot period).
* AWS/ApplicationELB (LoadBalancer = `aws.alb`), from nginx's API access log: RequestCount,
  TargetResponseTime (seconds, every request's $upstream_response_time as Values/Counts in 1 ms
  buckets), HTTPCode_Target_5XX_Count (a node answered 5xx), HTTPCode_ELB_5XX_Count (nginx
  answered 502/504, or 5xx without a node's answer), ActiveConnectionCount (client connections
  that carried a request, each counted once per period: Sum over a period is the connections
  active in it). Like AWS, the counts are published only when not zero. Admin calls are not
  logged (the plugin's own control plane would count as traffic); past `LOG_ROTATE_BYTES` the
  log is rotated (renamed, nginx reopens it on SIGUSR1, the old one is read out and removed), so
  a long run's log stays bounded and no line is lost. With TargetGroup =
  `aws.alb_target_group`: HealthyHostCount / UnHealthyHostCount from a health check of each node
  like a target group's: GET /healthz on its API port, `HEALTH_TIMEOUT_S`, unhealthy after
  `HEALTH_THRESHOLD` failures in a row, healthy again after as many successes.
* AWS/NetworkELB (LoadBalancer = `aws.nlb`): ActiveFlowCount_UDP (nginx's UDP sessions to the
  nodes: its connected UDP sockets in /proc/net/udp whose peer is a node's UDP port; with
  `lb_pid` only sockets of nginx's processes), and with TargetGroup = `aws.nlb_target_group`
  HealthyHostCount / UnHealthyHostCount: the same check as the ALB's, since AWS health-checks a
  UDP target group over TCP/HTTP too.
* AWS/ElastiCache (CacheClusterId = `aws.cache_cluster`), from Redis INFO: EngineCPUUtilization
  (% of one core used by Redis's main thread, used_cpu_*_main_thread deltas over wall time),
  CurrConnections (connected_clients, the publisher's own excluded), CacheHits / CacheMisses
  (keyspace_hits / keyspace_misses deltas, only when not zero).
* AWS/RDS (DBClusterIdentifier = `aws.db_cluster`), with a dsn, from pg_stat_activity (the
  publisher's own session excluded): DatabaseConnections (client backends of the dsn's
  database), DBLoad (DBInstanceIdentifier = `aws.db_instance`, as AWS publishes it: active
  client sessions, sampled each second), ServerlessDatabaseCapacity:
  the reference's stand-in for Aurora Serverless v2's ACU, `ACU_PER_CORE` ACU per CPU core the
  server's backends used in the second (their /proc/<pid>/stat), rounded up to 0.5 ACU and
  within 0.5..128 like Aurora's range.

The publisher never publishes anywhere but loopback (`[aws].endpoint_url` must be
http://127.x.x.x:port) and never raises into the cluster: a failed sample or PutMetricData is
counted in `errors` (the last few texts in `error_texts`) and the loop goes on. Every call has
a timeout; stop joins the thread within `STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import json
import math
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_trinity.reference.dialect import IDENTITY, Dialect
from pytest_trinity.reference.telemetry import stats_key
from pytest_trinity.targets import AwsIds

CPU_RESERVED = 1024.0            # CPU units reserved per node: 1 vCPU (1024 units per vCPU)
MEMORY_RESERVED_MIB = 2048.0     # memory reserved per node
ACU_PER_CORE = 4.0               # the ServerlessDatabaseCapacity stand-in: ACU per busy core
ACU_MIN, ACU_MAX = 0.5, 128.0
HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT_S = 1.0
HEALTH_THRESHOLD = 2
SAMPLE_S = 1.0
STOP_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 2
MAX_VALUES = 150                 # distinct values per Values/Counts datum (AWS's limit)
MAX_DATUMS_PER_CALL = 500        # PutMetricData takes up to 1000
MAX_PENDING = 20_000             # datums kept for the next PutMetricData; older ones are dropped
MAX_LOG_READ = 8 * 1024 * 1024   # access-log bytes read per sample (the rest next second)
LOG_ROTATE_BYTES = 64 * 1024 * 1024   # past this the access log is rotated (nginx reopens it on SIGUSR1)
LOG_DRAIN_S = 2.0                # how long the rotated log is still read (nginx's buffers flush at reopen)
ERROR_TEXTS = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOCAL_CREDENTIALS = ("trinity-local", "trinity-local")   # moto accepts any: used only without a credential chain


@dataclass(frozen=True)
class NodeSource:
    """One node: its role (main, mirror, lrs), process id and API address (the health check's)."""

    role: str
    pid: int
    api_host: str
    api_port: int


@dataclass(frozen=True)
class CloudSources:
    """What the publisher samples. `access_log` is nginx's API log (lb.ALB_LOG_FORMAT) and
    `udp_ports` the nodes' UDP ports behind nginx: both None/empty without a load balancer
    (then no ALB/NLB metrics). `lb_pid` is nginx's master (its sockets are the NLB's flows).
    No `dsn`: no Aurora metrics. `dialect`: the names the nodes' snapshots are written under."""

    nodes: tuple[NodeSource, ...]
    redis_url: str
    access_log: Path | None = None
    udp_ports: tuple[int, ...] = ()
    lb_pid: int | None = None
    dsn: str | None = None
    dialect: Dialect = IDENTITY


def cloudwatch_endpoint(aws: AwsIds) -> str:
    """The CloudWatch endpoint the reference may publish to: http on a 127.x.x.x address, else ValueError."""
    url = aws.endpoint_for("cloudwatch")
    if url is None:
        raise ValueError("[aws].endpoint_url is not set: the reference cluster publishes only to a local CloudWatch "
                         "(moto on http://127.0.0.1:<port>), never to AWS")
    parts = urlsplit(url)
    try:
        loopback = parts.scheme == "http" and parts.hostname is not None and ipaddress.ip_address(parts.hostname).is_loopback \
            and ipaddress.ip_address(parts.hostname).version == 4 and parts.port is not None
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"[aws].endpoint_url {url!r}: the reference cluster publishes only to http://127.x.x.x:<port> "
                         "(moto on loopback), never to AWS")
    if not aws.region:
        raise ValueError("[aws].region is not set: CloudWatch needs a region (e.g. us-east-2)")
    return url


def _client(aws: AwsIds, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
    session = boto3.session.Session(region_name=aws.region)
    if session.get_credentials() is None:
        key, secret = LOCAL_CREDENTIALS
        session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=aws.region)
    return session.client("cloudwatch", endpoint_url=endpoint, config=config)


def _proc_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


class Datums:
    """The datums of one sample: one namespace -> MetricDatum list, all stamped with the sample time."""

    def __init__(self, at: datetime, resolution: int) -> None:
        self.at = at
        self.resolution = resolution
        self.by_namespace: dict[str, list[dict[str, Any]]] = {}

    def add(self, namespace: str, metric: str, dims: dict[str, str], unit: str, value: float | None = None,
            values: Counter[float] | None = None) -> None:
        base: dict[str, Any] = {"MetricName": metric, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                                "Timestamp": self.at, "Unit": unit, "StorageResolution": self.resolution}
        out = self.by_namespace.setdefault(namespace, [])
        if values is None:
            out.append({**base, "Value": float(value or 0.0)})
            return
        items = sorted(values.items())
        for i in range(0, len(items), MAX_VALUES):
            chunk = items[i:i + MAX_VALUES]
            out.append({**base, "Values": [v for v, _ in chunk], "Counts": [float(c) for _, c in chunk]})


@dataclass
class _Health:
    healthy: bool = True
    streak: int = 0      # consecutive results that disagree with `healthy`

    def record(self, ok: bool) -> None:
        if ok == self.healthy:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= HEALTH_THRESHOLD:
            self.healthy, self.streak = ok, 0


def _health_check(node: NodeSource) -> bool:
    conn = http.client.HTTPConnection(node.api_host, node.api_port, timeout=HEALTH_TIMEOUT_S)
    try:
        conn.request("GET", HEALTH_PATH, headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@dataclass(frozen=True)
class _LogLine:
    connection: int
    first_on_connection: bool
    status: int
    upstream_status: int | None
    upstream_time: float | None


def parse_alb_line(line: bytes) -> _LogLine | None:
    """One lb.ALB_LOG_FORMAT line; None if it is not one. A "a, b" upstream field (nginx tried
    more than one node) reads its last entry, the node that answered."""
    parts = line.split(b'"')
    if len(parts) < 4:
        return None
    head = parts[0].split()
    if len(head) != 4:
        return None
    try:
        connection, requests, status = int(head[1]), int(head[2]), int(head[3])
    except ValueError:
        return None
    up_status_text = parts[1].rsplit(b",", 1)[-1].strip()
    up_time_text = parts[3].rsplit(b",", 1)[-1].strip()
    up_status = int(up_status_text) if up_status_text.isdigit() else None
    try:
        up_time = float(up_time_text) if up_time_text not in (b"", b"-") else None
    except ValueError:
        up_time = None
    return _LogLine(connection, requests == 1, status, up_status, up_time)


def _elb_5xx(line: _LogLine) -> bool:
    """nginx itself answered 5xx: no node answer, or the gateway errors it makes when a node failed."""
    return line.status >= 500 and (line.upstream_status is None or line.status in (502, 504))


class CloudPublisher:
    """The background publisher; `errors`/`error_texts` say what failed, `published` how many datums went out."""

    def __init__(self, aws: AwsIds, sources: CloudSources, client: Any) -> None:
        self.aws = aws
        self.sources = sources
        self.client = client
        self.period_s = max(int(aws.period_s), 1)
        self.resolution = 1 if self.period_s < 60 else 60
        self.flush_every = self.period_s if self.period_s >= 60 else 1
        self.errors = 0
        self.error_texts: deque[str] = deque(maxlen=ERROR_TEXTS)
        self.published = 0
        self.samples = 0
        self.rotations = 0       # access-log rotations
        self.health = {n.role: _Health() for n in sources.nodes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trinity-cloudwatch", daemon=True)
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(len(sources.nodes), 1), thread_name_prefix="trinity-health")
        # sampler state
        self._cpu: dict[str, tuple[float, int]] = {}
        self._net: dict[str, tuple[float, int, int]] = {}
        self._net_rate: dict[str, tuple[float, float]] = {}
        self._log_offset = 0
        self._log_rest = b""
        self._log_inode: int | None = None
        self._draining: tuple[Path, float] | None = None
        self._period_index = -1
        self._seen_connections: set[int] = set()
        self._redis: Any = None
        self._redis_last: tuple[float, float, int, int] | None = None
        self._pg_loop: asyncio.AbstractEventLoop | None = None
        self._pg: Any = None
        self._pg_retry_at = 0.0
        self._pg_ticks: dict[int, int] = {}
        self._pg_at = 0.0
        if sources.access_log is not None and sources.access_log.exists():
            self._log_offset = sources.access_log.stat().st_size   # what was logged before publishing is not ours

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._error("stop", TimeoutError(f"the publisher thread did not stop within {timeout:.0f} s"))
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _error(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            text = f"{response['Error'].get('Code', 'error')}: {response['Error'].get('Message', '')}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        self.error_texts.append(f"{what}: {text}"[:300])

    def _run(self) -> None:
        next_at = time.monotonic()
        last_flush = time.time()
        try:
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                now = time.time()
                self._sample(now)
                if int(now // self.flush_every) != int(last_flush // self.flush_every):
                    self._flush()
                    last_flush = now
                next_at += SAMPLE_S
                if next_at < time.monotonic():        # a slow sample: skip, never catch up in a burst
                    next_at = time.monotonic() + SAMPLE_S
            self._flush()
        finally:
            self._close()

    def _close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()
        if self._pg_loop is not None:
            if self._pg is not None:
                with contextlib.suppress(Exception):
                    self._pg_loop.run_until_complete(asyncio.wait_for(self._pg.close(), 3))
            self._pg_loop.close()

    # ---- sampling -------------------------------------------------------------------------
    def _sample(self, now: float) -> None:
        out = Datums(datetime.fromtimestamp(now, UTC), self.resolution)
        mono = time.monotonic()
        steps = (("container-insights", self._sample_containers), ("load-balancer", self._sample_lb),
                 ("elasticache", self._sample_redis), ("aurora", self._sample_db))
        for name, step in steps:
            try:
                step(out, mono, now)
            except Exception as exc:  # a source that fails is counted; the others are still published
                self._error(name, exc)
        self.samples += 1
        pending_n = sum(len(v) for v in self._pending.values())
        for namespace, data in out.by_namespace.items():
            if pending_n + len(data) > MAX_PENDING:
                self._error("buffer", OverflowError(f"{len(data)} {namespace} datums dropped: PutMetricData is behind"))
                continue
            self._pending.setdefault(namespace, []).extend(data)
            pending_n += len(data)

    def _service_dims(self) -> dict[str, dict[str, str]]:
        aws = self.aws
        if aws.ecs_cluster is None:
            return {}
        return {role: {"ClusterName": aws.ecs_cluster, "ServiceName": service} for role, service in aws.services}

    def _sample_containers(self, out: Datums, mono: float, now: float) -> None:
        dims_of = self._service_dims()
        nodes = [n for n in self.sources.nodes if n.role in dims_of]
        if not nodes:
            return
        rates = self._network_rates([n.role for n in nodes])
        ns = "ECS/ContainerInsights"
        for node in nodes:
            dims = dims_of[node.role]
            ticks = _proc_ticks(node.pid)
            rss = _rss_mib(node.pid)
            if ticks is None or rss is None:       # the task is gone: it reports nothing
                self._cpu.pop(node.role, None)
                continue
            before = self._cpu.get(node.role)
            self._cpu[node.role] = (mono, ticks)
            if before is not None and mono - before[0] > 1e-3:
                units = (ticks - before[1]) / CLK_TCK / (mono - before[0]) * 1024.0
                out.add(ns, "CpuUtilized", dims, "None", round(max(units, 0.0), 3))
                out.add(ns, "CpuReserved", dims, "None", CPU_RESERVED)
            out.add(ns, "MemoryUtilized", dims, "Megabytes", round(rss, 3))
            out.add(ns, "MemoryReserved", dims, "Megabytes", MEMORY_RESERVED_MIB)
            if node.role in rates:
                rx, tx = rates[node.role]
                out.add(ns, "NetworkRxBytes", dims, "Bytes/Second", round(rx, 3))
                out.add(ns, "NetworkTxBytes", dims, "Bytes/Second", round(tx, 3))

    def _network_rates(self, roles: list[str]) -> dict[str, tuple[float, float]]:
        """Bytes/s per node between its last two snapshots (they carry the node's socket byte counters)."""
        r = self._redis_client()
        raw = r.mget([stats_key(role) for role in roles])
        f_process, f_ts = self.sources.dialect.field("process"), self.sources.dialect.field("ts")
        for role, blob in zip(roles, raw, strict=True):
            if blob is None:
                continue
            snap = json.loads(blob)
            process = snap.get(f_process) or {}
            if "net_rx_bytes" not in process:
                continue
            ts, rx, tx = float(snap[f_ts]), int(process["net_rx_bytes"]), int(process["net_tx_bytes"])
            before = self._net.get(role)
            if before is None or ts > before[0]:
                self._net[role] = (ts, rx, tx)
            if before is not None and ts > before[0] and rx >= before[1] and tx >= before[2]:
                span = ts - before[0]
                self._net_rate[role] = ((rx - before[1]) / span, (tx - before[2]) / span)
        return {role: self._net_rate[role] for role in roles if role in self._net_rate}

    def _sample_lb(self, out: Datums, mono: float, now: float) -> None:
        aws, src = self.aws, self.sources
        if src.access_log is None or not src.nodes or (aws.alb is None and aws.nlb is None):
            return
        futures = {n.role: self._pool.submit(_health_check, n) for n in src.nodes}
        for role, fut in futures.items():
            try:
                ok = fut.result(timeout=HEALTH_TIMEOUT_S * 3)
            except Exception:
                ok = False
            self.health[role].record(ok)
        healthy = sum(1 for h in self.health.values() if h.healthy)
        unhealthy = len(self.health) - healthy
        if aws.alb is not None:
            self._sample_alb_log(out, now, {"LoadBalancer": aws.alb})
            if aws.alb_target_group is not None:
                tg = {"TargetGroup": aws.alb_target_group, "LoadBalancer": aws.alb}
                out.add("AWS/ApplicationELB", "HealthyHostCount", tg, "Count", healthy)
                out.add("AWS/ApplicationELB", "UnHealthyHostCount", tg, "Count", unhealthy)
        if aws.nlb is not None:
            out.add("AWS/NetworkELB", "ActiveFlowCount_UDP", {"LoadBalancer": aws.nlb}, "Count", self._udp_flows())
            if aws.nlb_target_group is not None:
                tg = {"TargetGroup": aws.nlb_target_group, "LoadBalancer": aws.nlb}
                out.add("AWS/NetworkELB", "HealthyHostCount", tg, "Count", healthy)
                out.add("AWS/NetworkELB", "UnHealthyHostCount", tg, "Count", unhealthy)

    def _read_log(self) -> list[bytes]:
        path = self.sources.access_log
        assert path is not None
        if self._draining is not None:
            return self._drain_rotated()
        if self._log_offset >= LOG_ROTATE_BYTES and self.sources.lb_pid is not None:
            self._rotate(path, self.sources.lb_pid)
            return self._drain_rotated()
        try:
            with open(path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if inode != self._log_inode or os.fstat(f.fileno()).st_size < self._log_offset:
                    if self._log_inode is not None:   # rotated or truncated: read the new file from its start
                        self._log_offset, self._log_rest = 0, b""
                    self._log_inode = inode
                f.seek(self._log_offset)
                data = f.read(MAX_LOG_READ)
        except FileNotFoundError:
            return []
        return self._lines(data)

    def _lines(self, data: bytes) -> list[bytes]:
        self._log_offset += len(data)
        lines = (self._log_rest + data).split(b"\n")
        self._log_rest = lines.pop()
        return lines

    def _rotate(self, path: Path, lb_pid: int) -> None:
        """Keep the log bounded: rename it, have nginx reopen a new one, and read the old one out."""
        old = path.with_name(path.name + ".old")
        os.replace(path, old)
        os.kill(lb_pid, signal.SIGUSR1)
        self.rotations += 1
        self._draining = (old, time.monotonic() + LOG_DRAIN_S)

    def _drain_rotated(self) -> list[bytes]:
        assert self._draining is not None
        old, until = self._draining
        done = time.monotonic() >= until
        try:
            with open(old, "rb") as f:
                f.seek(self._log_offset)
                data = f.read(MAX_LOG_READ)
        except FileNotFoundError:
            data, done = b"", True
        lines = self._lines(data)
        if done and len(data) < MAX_LOG_READ:
            with contextlib.suppress(OSError):
                old.unlink()
            if self._log_rest:
                lines.append(self._log_rest)
            self._draining, self._log_offset, self._log_rest, self._log_inode = None, 0, b"", None
        return lines

    def _sample_alb_log(self, out: Datums, now: float, lb: dict[str, str]) -> None:
        period = int(now // self.period_s)
        if period != self._period_index:
            self._period_index, self._seen_connections = period, set()
        times: Counter[float] = Counter()
        requests = target_5xx = elb_5xx = new_connections = 0
        for raw in self._read_log():
            line = parse_alb_line(raw)
            if line is None:
                continue
            requests += 1
            if line.upstream_time is not None:
                times[round(line.upstream_time, 3)] += 1
            if _elb_5xx(line):
                elb_5xx += 1
            elif line.upstream_status is not None and line.upstream_status >= 500:
                target_5xx += 1
            if line.connection not in self._seen_connections:
                self._seen_connections.add(line.connection)
                new_connections += 1
        ns = "AWS/ApplicationELB"
        for metric, value in (("RequestCount", requests), ("HTTPCode_Target_5XX_Count", target_5xx),
                              ("HTTPCode_ELB_5XX_Count", elb_5xx), ("ActiveConnectionCount", new_connections)):
            if value > 0:
                out.add(ns, metric, lb, "Count", value)
        if times:
            out.add(ns, "TargetResponseTime", lb, "Seconds", values=times)

    def _udp_flows(self) -> int:
        """nginx's live UDP sessions: connected sockets whose peer is a node's UDP port."""
        ports = {f"{p:04X}" for p in self.sources.udp_ports}
        inodes = self._lb_socket_inodes()
        flows = 0
        with open("/proc/net/udp", encoding="ascii") as f:
            next(f, None)
            for row in f:
                cols = row.split()
                if len(cols) < 10 or cols[3] != "01" or cols[2].rsplit(":", 1)[-1] not in ports:
                    continue
                if inodes is None or cols[9] in inodes:
                    flows += 1
        return flows

    def _lb_socket_inodes(self) -> set[str] | None:
        """Socket inodes of nginx's master and workers; None when they cannot be listed (no filter)."""
        pid = self.sources.lb_pid
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
                pids = [pid, *(int(p) for p in f.read().split())]
        except OSError:
            return None
        inodes: set[str] = set()
        for p in pids:
            try:
                fds = os.listdir(f"/proc/{p}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        return inodes

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.sources.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                               socket_timeout=READ_TIMEOUT_S)
        return self._redis

    def _sample_redis(self, out: Datums, mono: float, now: float) -> None:
        cluster_id = self.aws.cache_cluster
        if cluster_id is None:
            return
        info = self._redis_client().info()
        mono = time.monotonic()   # INFO waits behind a busy script: the window ends when it answers
        if "used_cpu_sys_main_thread" in info:
            cpu = float(info["used_cpu_sys_main_thread"]) + float(info["used_cpu_user_main_thread"])
        else:
            cpu = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        hits, misses = int(info["keyspace_hits"]), int(info["keyspace_misses"])
        dims = {"CacheClusterId": cluster_id}
        ns = "AWS/ElastiCache"
        before, self._redis_last = self._redis_last, (mono, cpu, hits, misses)
        out.add(ns, "CurrConnections", dims, "Count", max(int(info["connected_clients"]) - 1, 0))
        if before is None or mono - before[0] <= 1e-3:
            return
        pct = 100.0 * (cpu - before[1]) / (mono - before[0])
        out.add(ns, "EngineCPUUtilization", dims, "Percent", round(min(max(pct, 0.0), 100.0), 3))
        for metric, delta in (("CacheHits", hits - before[2]), ("CacheMisses", misses - before[3])):
            if delta > 0:
                out.add(ns, metric, dims, "Count", delta)

    # ---- Aurora (PostgreSQL) --------------------------------------------------------------
    def _pg_run(self, coro: Any, timeout: float = READ_TIMEOUT_S) -> Any:
        assert self._pg_loop is not None
        return self._pg_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def _sample_db(self, out: Datums, mono: float, now: float) -> None:
        dsn, db_cluster = self.sources.dsn, self.aws.db_cluster
        if dsn is None or db_cluster is None:
            return
        if self._pg is None:
            if mono < self._pg_retry_at:
                return
            import asyncpg

            self._pg_loop = self._pg_loop or asyncio.new_event_loop()
            self._pg_retry_at = mono + 5.0
            self._pg = self._pg_run(asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S + 1)
        try:
            rows = self._pg_run(self._pg.fetch(
                "SELECT pid, state, backend_type, datname = current_database() AS here, pid = pg_backend_pid() AS me "
                "FROM pg_stat_activity"))
        except Exception:
            pg, self._pg = self._pg, None
            with contextlib.suppress(Exception):
                self._pg_run(pg.close(), 2)
            raise
        clients = [r for r in rows if r["backend_type"] == "client backend" and not r["me"]]
        dims = {"DBClusterIdentifier": db_cluster}
        out.add("AWS/RDS", "DatabaseConnections", dims, "Count", sum(1 for r in clients if r["here"]))
        if self.aws.db_instance:  # AWS publishes DBLoad per instance
            out.add("AWS/RDS", "DBLoad", {"DBInstanceIdentifier": self.aws.db_instance}, "None",
                    sum(1 for r in clients if r["state"] == "active"))
        ticks = {int(r["pid"]): t for r in rows if (t := _proc_ticks(int(r["pid"]))) is not None}
        before, before_at = self._pg_ticks, self._pg_at
        self._pg_ticks, self._pg_at = ticks, mono
        if before and mono - before_at > 1e-3:
            used = sum(max(t - before[pid], 0) for pid, t in ticks.items() if pid in before)
            cores = used / CLK_TCK / (mono - before_at)
            acu = min(max(math.ceil(cores * ACU_PER_CORE * 2) / 2, ACU_MIN), ACU_MAX)
            out.add("AWS/RDS", "ServerlessDatabaseCapacity", dims, "Count", acu)

    # ---- publishing -----------------------------------------------------------------------
    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for namespace, data in pending.items():
            for i in range(0, len(data), MAX_DATUMS_PER_CALL):
                chunk = data[i:i + MAX_DATUMS_PER_CALL]
                try:
                    self.client.put_metric_data(Namespace=namespace, MetricData=chunk)
                except Exception as exc:   # counted and dropped: the next period is sent on time
                    self._error(f"PutMetricData {namespace}", exc)
                    continue
                self.published += len(chunk)


@contextlib.contextmanager
def publish_cloudwatch(aws: AwsIds, sources: CloudSources) -> Iterator[CloudPublisher]:
    """Publish the cluster's AWS metrics to the local CloudWatch at `aws.endpoint_url` while inside."""
    endpoint = cloudwatch_endpoint(aws)
    publisher = CloudPublisher(aws, sources, _client(aws, endpoint))
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()
