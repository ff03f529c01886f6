"""Read target definitions from TOML (`--trinity-targets FILE`) and pick one by name.

Format (documented in docs/targets.md):

    [targets.staging]
    description = "us-east-2 staging"
    redis_url = "env:TRINITY_REDIS_URL"        # optional; literal if it holds no password
    ca_file = "certs/ca.pem"                   # optional, relative to the targets file
    [targets.staging.direct]                   # phase 1: one node, no load balancer
    api = "http://beast-main.internal:8080"
    admin = "http://beast-main.internal:9090"
    udp = "beast-main.internal:2679"
    [targets.staging.balanced]                 # phase 2: the ALB / NLB
    api = "https://alb.example.com"
    admin = "https://alb.example.com:9443"
    udp = "nlb.example.com:2679"
    [targets.staging.secrets]                  # always env:VAR_NAME, never the value
    public_key = "env:TRINITY_PUBLIC_KEY"
    partner_key = "env:TRINITY_PARTNER_KEY"
    admin_token = "env:TRINITY_ADMIN_TOKEN"
    [targets.staging.paths]                    # optional: the contract's defaults shown
    lpo = "/price?symbol=BTC-USD"
    lrs = "/reports/usage"
    [targets.staging.contract]                 # optional: names that differ from the default
    refusals = { rate_limited = "throttled" }  # contract (docs/targets.md, "The contract")
    [targets.staging.contract.config_keys]
    micro_batch = "ubat"
    [targets.staging.aws]                      # optional
    region = "us-east-2"
    ecs_cluster = "trinity"
    services = { main = "beast-main", mirror = "beast-mirror", lrs = "beast-lrs" }
    alb = "app/Trinity-Beast-TCP-ALB/abc"
    nlb = "net/Trinity-Beast-UDP-NLB/def"
    db_cluster = "trinity-aurora"
    cache_cluster = "trinity-valkey"
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_trinity.targets.contract import REFUSAL_OUTCOMES, AdminApi, SnapshotFields, TrinityContract
from pytest_trinity.targets.model import DEFAULT_PATHS, DEFAULT_UDP_SYMBOL, AwsIds, Endpoints, Secret, Target
from pytest_trinity.tomlschema import FileError, Table, display_path, read_toml

LOCAL = "local"
SECRET_KEYS = ("public_key", "partner_key", "admin_token")
_ENV_REF = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


class TargetError(FileError):
    """A target definition is wrong or incomplete; the message names what to fix."""


def load_target(name: str, targets_file: Path | None, resolve_secrets: bool = True,
                counters: tuple[str, ...] = (), config_keys: tuple[str, ...] = ()) -> Target:
    """Return the target called `name`.

    `local` is the bundled reference cluster and needs no file. Any other name must be a
    `[targets.<name>]` table of `targets_file`. With `resolve_secrets`, every `env:VAR` is
    read now, and a missing variable is an error naming it. `counters` and `config_keys` are
    the plan's names a `[contract]` table may map (any name when empty).
    """
    if name == LOCAL and targets_file is None:
        return Target(name=LOCAL, local=True, description="the bundled reference cluster on loopback")
    if targets_file is None:
        raise TargetError(f"target {name!r} is not 'local', so it needs a targets file: give --trinity-targets FILE")
    file = display_path(targets_file)
    root = Table(file, "", read_toml(targets_file, TargetError, "targets file", "--trinity-targets"), TargetError)
    targets = root.sub("targets")
    if name not in targets.data:
        if name == LOCAL:
            return Target(name=LOCAL, local=True, description="the bundled reference cluster on loopback")
        known = ", ".join(sorted([LOCAL, *targets.keys()]))
        raise TargetError(f"{file}: no target named {name!r} (defined: {known})")
    return _read_target(targets.sub(name), name, targets_file.parent, resolve_secrets, counters, config_keys)


def _read_target(t: Table, name: str, base: Path, resolve: bool, counters: tuple[str, ...], config_keys: tuple[str, ...]) -> Target:
    secrets_table = t.sub("secrets")
    secrets: dict[str, Any] = {key: _secret(secrets_table, key, resolve) for key in SECRET_KEYS}
    secrets_table.done()
    redis_url: Secret | str | None = None
    if t.has("redis_url"):
        raw = t.str("redis_url")
        if _ENV_REF.match(raw):
            redis_url = _secret(t, "redis_url", resolve)
        elif urlsplit(raw).scheme not in ("redis", "rediss") or urlsplit(raw).password:
            # Not echoed: a URL with a password is itself a secret.
            raise TargetError(f"{t.file}: [{t.path}].redis_url must be a redis:// or rediss:// URL without a password, or env:VAR_NAME")
        else:
            redis_url = raw
    ca_file = None
    if t.has("ca_file"):
        ca_path = base / t.str("ca_file")
        if not ca_path.is_file():
            raise t.fail("ca_file", f"an existing file ({ca_path} does not exist)", t.data["ca_file"])
        try:
            ssl.create_default_context(cafile=str(ca_path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TargetError(f"{t.file}: [{t.path}].ca_file must be a PEM file of CA certificates; {ca_path} is not "
                              f"({type(exc).__name__}: {exc})") from None
        ca_file = str(ca_path)
    target = Target(
        name=name,
        description=t.str("description") if t.has("description") else "",
        direct=_endpoints(t.sub("direct")),
        balanced=_endpoints(t.sub("balanced")),
        redis_url=redis_url,
        ca_file=ca_file,
        aws=_aws(t.sub("aws")) if t.has("aws") else None,
        paths=_paths(t.sub("paths")) if t.has("paths") else DEFAULT_PATHS,
        udp_symbol=t.str("udp_symbol") if t.has("udp_symbol") else DEFAULT_UDP_SYMBOL,
        contract=_contract(t.sub("contract"), counters, config_keys) if t.has("contract") else TrinityContract(),
        **secrets,
    )
    t.done()
    return target


def _secret(t: Table, key: str, resolve: bool) -> Secret:
    raw = t.raw(key)
    match = _ENV_REF.match(raw) if isinstance(raw, str) else None
    if match is None:
        # Never echo the value: it may be the very secret that must not be written down.
        shown = "a literal value" if isinstance(raw, str) else type(raw).__name__
        raise TargetError(f"{t.file}: [{t.path}].{key} must be env:VAR_NAME (secrets are read from the environment), got {shown}")
    var = match.group(1)
    value = os.environ.get(var, "")
    if resolve and not value:
        raise TargetError(f"{t.file}: [{t.path}].{key} reads the environment variable {var}, which is not set")
    return Secret(source=raw, value=value)


def _url(t: Table, key: str) -> str:
    raw = t.str(key)
    parts = urlsplit(raw)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.username or parts.password:
        # Not echoed: credentials in a URL are secrets; they belong in [secrets] as env:VAR.
        raise TargetError(f"{t.file}: [{t.path}].{key} must not carry credentials (user:password@); "
                          "the admin token goes in [secrets].admin_token")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise t.fail(key, "an http:// or https:// URL with a host", raw)
    return raw.rstrip("/")


def _endpoints(t: Table) -> Endpoints:
    udp = None
    if t.has("udp"):
        raw = t.str("udp")
        host, _, port = raw.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise t.fail("udp", "HOST:PORT", raw)
        udp = (host.strip("[]"), int(port))
    endpoints = Endpoints(api=_url(t, "api"), admin=_url(t, "admin"), udp=udp)
    t.done()
    return endpoints


def _paths(t: Table) -> tuple[tuple[str, str], ...]:
    paths = dict(DEFAULT_PATHS)
    for stream in paths:
        if t.has(stream):
            value = t.str(stream)
            if not value.startswith("/"):
                raise t.fail(stream, "a path starting with /", value)
            paths[stream] = value
    t.done()
    return tuple(paths.items())


def _aws(t: Table) -> AwsIds:
    services: tuple[tuple[str, str], ...] = ()
    if t.has("services"):
        table = t.sub("services")
        services = tuple((role, table.str(role)) for role in table.keys())
        table.done()
    aws = AwsIds(
        region=t.str("region", default=None),
        endpoint_url=_url(t, "endpoint_url") if t.has("endpoint_url") else None,
        ecs_cluster=t.str("ecs_cluster", default=None),
        services=services,
        alb=t.str("alb", default=None),
        nlb=t.str("nlb", default=None),
        db_cluster=t.str("db_cluster", default=None),
        cache_cluster=t.str("cache_cluster", default=None),
    )
    t.done()
    return aws


def _names(t: Table, known: tuple[str, ...], what: str) -> dict[str, str]:
    """A table of plan name -> the target's name, each plan name one of `known` (if given)."""
    out = {}
    for key in t.keys():
        if known and key not in known:
            raise TargetError(f"{t.file}: [{t.path}].{key} is not a {what} of the plan (known: {', '.join(known)})")
        out[key] = t.str(key)
    t.done()
    return out


def _strings(t: Table, defaults: object) -> dict[str, str]:
    """The keys of `t` that override fields of the dataclass `defaults`; unknown keys are errors."""
    out = {key: t.str(key) for key in vars(defaults) if t.has(key)}
    t.done()
    return out


def _contract(t: Table, counters: tuple[str, ...], config_keys: tuple[str, ...]) -> TrinityContract:
    """`[targets.X.contract]`: the names in which this target's contract differs from the default."""
    default = TrinityContract()
    changes: dict[str, object] = {}
    for key in ("api_key_header", "admin_token_header", "cache_field", "udp_codec"):
        if t.has(key):
            changes[key] = t.str(key)
    if "udp_codec" in changes and changes["udp_codec"] != "json" and ":" not in str(changes["udp_codec"]):
        raise t.fail("udp_codec", '"json" or "package.module:factory"', changes["udp_codec"])
    if t.has("cache_values"):
        changes["cache_values"] = t.strs("cache_values")
    if t.has("refusals"):
        words = t.sub("refusals")
        given = {outcome: words.str(outcome) for outcome in REFUSAL_OUTCOMES if words.has(outcome)}
        words.done()
        changes["refusals"] = tuple((outcome, given.get(outcome, word)) for outcome, word in default.refusals)
    if t.has("admin"):
        changes["admin"] = AdminApi(**_strings(t.sub("admin"), default.admin))
    if t.has("fields"):
        changes["fields"] = SnapshotFields(**_strings(t.sub("fields"), default.fields))
    if t.has("counters"):
        changes["counters"] = _names(t.sub("counters"), counters, "counter")
    if t.has("config_keys"):
        changes["config_keys"] = _names(t.sub("config_keys"), config_keys, "config key")
    t.done()
    return TrinityContract(**changes)  # type: ignore[arg-type]
