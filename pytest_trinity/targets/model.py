"""Frozen dataclasses for a target: its two topologies' addresses, its secrets, its contract, its AWS ids.

Secrets are `Secret` objects whose repr and str show only where they come from
(`env:VAR`), so a target can be logged, reported or put in an assertion message safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_trinity.targets.aws import AwsIds
from pytest_trinity.targets.contract import TrinityContract


@dataclass(frozen=True)
class Secret:
    """A value read from an environment variable; it prints as `env:NAME`, never as itself."""

    source: str
    value: str = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    def reveal(self) -> str:
        return self.value


@dataclass(frozen=True)
class Endpoints:
    """Where one topology answers: API and admin base URLs, and the UDP (host, port)."""

    api: str
    admin: str
    udp: tuple[str, int] | None = None


@dataclass(frozen=True)
class UsageLogs:
    """`[targets.X.usage_logs]`: the target's PostgreSQL usage_logs table, trimmed before each
    test to the plan's row limit and rid of the run's stress rows after (runner/usage_logs.py).

    The stress rows are those written since the run started (`time_column`, epoch seconds or a
    timestamp) and, when `stress_key_ids` is given, only those whose `key_column` is one of them.
    """

    dsn: Secret
    table: str = "usage_logs"
    time_column: str = "ts"
    key_column: str = "key_id"
    stress_key_ids: tuple[str, ...] = ()


# The target contract's defaults (DESIGN.md); a target file may override them.
DEFAULT_PATHS = (("lpo", "/price?symbol=BTC-USD"), ("lrs", "/reports/usage"))
DEFAULT_UDP_SYMBOL = "BTC-USD"


@dataclass(frozen=True)
class Target:
    """A system under test. `local` targets get their addresses when the cluster starts."""

    name: str
    local: bool = False
    description: str = ""
    direct: Endpoints | None = None
    balanced: Endpoints | None = None
    public_key: Secret | None = None
    partner_key: Secret | None = None
    admin_token: Secret | None = None
    redis_url: Secret | str | None = None
    ca_file: str | None = None
    aws: AwsIds | None = None
    usage_logs: UsageLogs | None = None
    faults: bool = False  # a `local = true` target: the reference cluster's fault knobs are on (for tests)
    # `[workers]`: stream -> the Dask worker resource whose workers run it (2d's two stress
    # clients, docs/distributed.md); used only with --trinity-executor dask://
    workers: tuple[tuple[str, str], ...] = ()
    paths: tuple[tuple[str, str], ...] = DEFAULT_PATHS  # stream name -> request path (with query)
    udp_symbol: str = DEFAULT_UDP_SYMBOL
    contract: TrinityContract = field(default_factory=TrinityContract)

    def path(self, stream: str) -> str:
        return dict(self.paths)[stream]

    def endpoints(self, topology: str) -> Endpoints:
        endpoints = self.direct if topology == "direct" else self.balanced
        if endpoints is None:
            raise ValueError(f"target {self.name} has no {topology} endpoints")
        return endpoints

    def key(self, tier: str) -> Secret | None:
        return self.partner_key if tier == "partner" else self.public_key

    def secrets(self) -> tuple[str, ...]:
        """Every secret value of this target, for redaction."""
        values = (self.public_key, self.partner_key, self.admin_token, self.redis_url,
                  self.usage_logs.dsn if self.usage_logs else None)
        return tuple(v.reveal() for v in values if isinstance(v, Secret) and v.reveal())
