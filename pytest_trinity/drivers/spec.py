"""What a load run should do, as frozen, picklable, plain-data dataclasses.

A `LoadSpec` names the target, the request kinds to mix (HTTP or UDP), the load model
(closed: N requests with C in flight; open: a fixed arrival rate for a duration) and the
bounds every run has (a request limit and a time limit). Nothing here holds a socket or a
loop, so specs cross process boundaries (and executors such as Dask) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

_HIDDEN = "***"
READY_TIMEOUT_S = 60.0  # how long a run waits for its shards to be ready to start
FINISH_GRACE_S = 30.0  # how long after its time limit a shard may take to return its result
REFUSAL_OUTCOMES = ("monthly_cap", "rate_limited")  # the outcomes a 429 can be counted as


def _hide_headers(headers: tuple[tuple[str, str], ...], secret_names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    lowered = {n.lower() for n in secret_names}
    return tuple((k, _HIDDEN if k.lower() in lowered else v) for k, v in headers)


@dataclass(frozen=True)
class HttpRequest:
    """One kind of HTTP/1.1 request; its bytes are built once per connection pool.

    `api_key` is sent in the `api_key_header` header but never shown in repr or `to_dict`.
    `cache_field`/`cache_values`: a 2xx response whose JSON body has `"<cache_field>":"<v>"`
    with v in `cache_values` is a cache hit and also lands in the cache-hit histogram.
    `refusals`: (outcome, body word) pairs, checked in order: a 429 whose body contains the
    word counts as that outcome ("monthly_cap" or "rate_limited"), else as client error 429.
    """

    name: str
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    api_key: str | None = field(default=None, repr=False)
    api_key_header: str = "X-API-Key"
    weight: int = 1
    cache_field: str = "source"
    cache_values: tuple[str, ...] = ("syncmap", "cache")
    refusals: tuple[tuple[str, str], ...] = (("monthly_cap", "monthly_cap"), ("rate_limited", "rate_limited"))

    protocol = "http"

    def __post_init__(self) -> None:
        for outcome, word in self.refusals:
            if outcome not in REFUSAL_OUTCOMES or not word:
                raise ValueError(f"HttpRequest {self.name!r}: refusals need (outcome, non-empty body word) with "
                                 f"outcome in {REFUSAL_OUTCOMES}, got {(outcome, word)!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"HttpRequest {self.name!r}: path must start with '/', got {self.path!r}")
        if self.weight < 1:
            raise ValueError(f"HttpRequest {self.name!r}: weight must be >= 1, got {self.weight}")

    def __repr__(self) -> str:
        key = ", api_key=***" if self.api_key else ""
        return (f"HttpRequest(name={self.name!r}, method={self.method!r}, path={self.path!r}, "
                f"headers={_hide_headers(self.headers, (self.api_key_header,))!r}{key}, weight={self.weight})")

    def request_bytes(self, host_header: str) -> bytes:
        """The full request, keep-alive, ready to write as is."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host_header}"]
        names = {k.lower() for k, _ in self.headers}
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        if self.api_key is not None and self.api_key_header.lower() not in names:
            lines.append(f"{self.api_key_header}: {self.api_key}")
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def to_dict(self) -> dict[str, Any]:
        """Public description (no key, no body bytes) for reports."""
        return {"protocol": "http", "name": self.name, "method": self.method, "path": self.path,
                "headers": [list(h) for h in _hide_headers(self.headers, (self.api_key_header,))],
                "weight": self.weight, "has_api_key": self.api_key is not None}


@dataclass(frozen=True)
class UdpRequest:
    """One kind of UDP request, encoded by the codec named in `codec`: "json" (DESIGN's JSON
    codec, the default) or "package.module:factory", imported in each worker process; the
    factory takes this UdpRequest and returns a Codec (see `codec.make_codec`)."""

    name: str
    symbol: str = "BTC-USD"
    api_key: str | None = field(default=None, repr=False)
    weight: int = 1
    codec: str = "json"

    protocol = "udp"

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError(f"UdpRequest {self.name!r}: weight must be >= 1, got {self.weight}")

    def __repr__(self) -> str:
        key = ", api_key=***" if self.api_key else ""
        return f"UdpRequest(name={self.name!r}, symbol={self.symbol!r}{key}, weight={self.weight}, codec={self.codec!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": "udp", "name": self.name, "symbol": self.symbol, "weight": self.weight,
                "codec": self.codec, "has_api_key": self.api_key is not None}


RequestKind = HttpRequest | UdpRequest


@dataclass(frozen=True)
class Target:
    """Where the load goes. `tls`: HTTPS, verified against `ca_file` or the system trust."""

    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    server_hostname: str | None = None
    host_header: str | None = None

    def header_host(self) -> str:
        return self.host_header or f"{self.server_hostname or self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "tls": self.tls, "ca_file": self.ca_file,
                "server_hostname": self.server_hostname}


@dataclass(frozen=True)
class ClosedModel:
    """`requests` requests with `concurrency` in flight (one connection per in-flight slot)."""

    requests: int
    concurrency: int

    kind = "closed"

    def __post_init__(self) -> None:
        if self.requests < 0 or self.concurrency < 1:
            raise ValueError(f"ClosedModel needs requests >= 0 and concurrency >= 1, got {self}")

    def to_dict(self) -> dict[str, Any]:
        return {"model": "closed", "requests": self.requests, "concurrency": self.concurrency}


@dataclass(frozen=True)
class OpenModel:
    """A fixed arrival rate (`rate` per second) for `duration` seconds, on at most
    `connections` connections (HTTP) or in flight (UDP). Latency is measured from the
    planned send time; a send made more than `late_send_us` after its plan is counted late.
    """

    rate: float
    duration: float
    connections: int
    late_send_us: int

    kind = "open"

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration <= 0 or self.connections < 1 or self.late_send_us < 0:
            raise ValueError(f"OpenModel needs rate > 0, duration > 0, connections >= 1, late_send_us >= 0; got {self}")

    @property
    def planned_requests(self) -> int:
        return int(self.rate * self.duration)

    def to_dict(self) -> dict[str, Any]:
        return {"model": "open", "rate": self.rate, "duration": self.duration,
                "connections": self.connections, "late_send_us": self.late_send_us}


Model = ClosedModel | OpenModel


@dataclass(frozen=True)
class LoadSpec:
    """A whole run: target, kinds, model and bounds.

    `max_requests` and `max_seconds` bound every run whatever the model says. `timeout` is the
    per-request timeout (s); for UDP, a reply after it is `late`, none at all is `lost`, and
    the run waits `late_grace` s at its end for late replies. `processes` = None: one per core.
    """

    target: Target
    kinds: tuple[RequestKind, ...]
    model: Model
    max_requests: int
    max_seconds: float
    timeout: float
    processes: int | None = None
    udp_sockets: int = 2
    udp_batch_io: bool | None = None  # recvmmsg/sendmmsg; None: when available
    late_grace: float | None = None
    use_uvloop: bool | None = None
    interval: float = 1.0

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("LoadSpec needs at least one request kind")
        protocols = {k.protocol for k in self.kinds}
        if len(protocols) != 1:
            raise ValueError(f"LoadSpec mixes protocols {sorted(protocols)}; run HTTP and UDP as separate specs")
        names = [k.name for k in self.kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"LoadSpec request kinds need distinct names, got {names}")
        if self.max_requests < 0 or self.max_seconds <= 0 or self.timeout <= 0:
            raise ValueError("LoadSpec needs max_requests >= 0, max_seconds > 0 and timeout > 0")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"LoadSpec.processes must be >= 1 or None, got {self.processes}")

    @property
    def protocol(self) -> str:
        return self.kinds[0].protocol

    @property
    def total_requests(self) -> int:
        """Requests this run will attempt at most."""
        planned = self.model.requests if isinstance(self.model, ClosedModel) else self.model.planned_requests
        return min(planned, self.max_requests)

    @property
    def concurrency(self) -> int:
        return self.model.concurrency if isinstance(self.model, ClosedModel) else self.model.connections

    def with_(self, **changes: Any) -> LoadSpec:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.to_dict(), "kinds": [k.to_dict() for k in self.kinds],
                "model": self.model.to_dict(), "max_requests": self.max_requests,
                "max_seconds": self.max_seconds, "timeout": self.timeout, "processes": self.processes}


@dataclass(frozen=True)
class ShardSpec:
    """One worker's share of a run: the same spec with its own model numbers and index."""

    spec: LoadSpec
    index: int
    shards: int
    model: Model
    max_requests: int
    start_at: float | None = None  # wall-clock time (time.time()) to start at, shared by all shards

    def model_concurrency(self) -> int:
        return self.model.concurrency if isinstance(self.model, ClosedModel) else self.model.connections

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "shards": self.shards, "model": self.model.to_dict(),
                "max_requests": self.max_requests}


def split(spec: LoadSpec, shards: int) -> list[ShardSpec]:
    """Divide a spec into `shards` near-equal shares (requests, concurrency, rate)."""
    def share(total: int, i: int) -> int:
        return total // shards + (1 if i < total % shards else 0)

    out = []
    for i in range(shards):
        if isinstance(spec.model, ClosedModel):
            model: Model = ClosedModel(share(spec.model.requests, i), max(1, share(spec.model.concurrency, i)))
        else:
            m = spec.model
            model = OpenModel(m.rate / shards, m.duration, max(1, share(m.connections, i)), m.late_send_us)
        out.append(ShardSpec(spec, i, shards, model, share(spec.max_requests, i)))
    return out


def split_by_kind(spec: LoadSpec) -> list[LoadSpec]:
    """One spec per request kind, each with the kind's weighted share of the load (requests,
    concurrency or rate and connections, the request limit): a stream per stress client.
    Requests and limits add up exactly; each kind gets at least one connection."""
    weights = [k.weight for k in spec.kinds]
    total = sum(weights)

    def shares(amount: int, floor: int = 0) -> list[int]:
        # largest remainder: the shares add up to `amount` exactly
        exact = [amount * w / total for w in weights]
        out = [int(x) for x in exact]
        for i in sorted(range(len(out)), key=lambda i: exact[i] - out[i], reverse=True)[:amount - sum(out)]:
            out[i] += 1
        return [max(floor, x) for x in out]

    limits = shares(spec.max_requests)
    if isinstance(spec.model, ClosedModel):
        requests, conc = shares(spec.model.requests), shares(spec.model.concurrency, 1)
        models: list[Model] = [ClosedModel(r, c) for r, c in zip(requests, conc, strict=True)]
    else:
        m = spec.model
        conns = shares(m.connections, 1)
        models = [OpenModel(m.rate * w / total, m.duration, c, m.late_send_us) for w, c in zip(weights, conns, strict=True)]
    return [replace(spec, kinds=(k,), model=model, max_requests=limit)
            for k, model, limit in zip(spec.kinds, models, limits, strict=True)]
