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
    [targets.staging.workers]                  # optional: with --trinity-executor dask://, the
    lpo = "client-a"                           # Dask worker resource whose workers run each
    lrs = "client-b"                           # stream of a test with several (2d's two clients)
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

import dataclasses
import os
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_trinity.plan.metrics import BUILTIN_SOURCES
from pytest_trinity.targets.aws import ABSENT, CLOUD_QUERIES, ID_FIELDS, PLACEHOLDER, QUERY_SETS, REDUCERS, AwsIds, CloudQuery, StressClient
from pytest_trinity.targets.contract import REFUSAL_OUTCOMES, AdminApi, SnapshotFields, TrinityContract
from pytest_trinity.targets.model import DEFAULT_PATHS, DEFAULT_UDP_SYMBOL, Endpoints, Secret, Target, UsageLogs
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
    if t.bool("local", default=False):
        # The reference cluster, with what a targets file may add to it: its AWS side (the
        # cluster publishes its metrics into the CloudWatch the ids name, docs/aws.md).
        local = Target(name=name, local=True, description=t.str("description", default="the bundled reference cluster on loopback"),
                       aws=_aws(t.sub("aws")) if t.has("aws") else None,
                       usage_logs=_usage_logs(t.sub("usage_logs"), resolve, local=True) if t.has("usage_logs") else None,
                       faults=t.bool("faults", default=False), workers=_workers(t))
        aws = local.aws
        if aws is not None and aws.cloud_on and not _loopback(aws.endpoint_url):
            raise TargetError(f"{t.file}: [{t.path}.aws].endpoint_url must be a loopback URL (e.g. moto's http://127.0.0.1:5000): "
                              "the local cluster publishes its metrics there, never to AWS itself")
        t.done()
        return local
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
        usage_logs=_usage_logs(t.sub("usage_logs"), resolve, local=False) if t.has("usage_logs") else None,
        paths=_paths(t.sub("paths")) if t.has("paths") else DEFAULT_PATHS,
        workers=_workers(t),
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
    return _check_url(t, key, t.str(key))


def _check_url(t: Table, key: str, raw: str) -> str:
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


_RESOURCE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _workers(target: Table) -> tuple[tuple[str, str], ...]:
    """`[workers]`: stream -> Dask worker resource (a name as `dask worker --resources NAME=1` takes)."""
    if not target.has("workers"):
        return ()
    t = target.sub("workers")
    streams = [stream for stream, _ in DEFAULT_PATHS]
    out = []
    for stream in t.keys():
        if stream not in streams:
            raise TargetError(f"{t.file}: [{t.path}] names the stream {stream!r}; the plan's streams are {', '.join(streams)}")
        value = t.str(stream)
        if not _RESOURCE.match(value):
            raise t.fail(stream, "a Dask worker resource name (letters, digits, _ . : -)", value)
        out.append((stream, value))
    t.done()
    return tuple(out)


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
    """`[targets.X.aws]` (docs/aws.md): ids, opt-ins, and any CloudWatch query overrides."""
    def table_of_strs(key: str) -> tuple[tuple[str, str], ...]:
        if not t.has(key):
            return ()
        table = t.sub(key)
        out = tuple((k, table.str(k)) for k in table.keys())
        table.done()
        return out

    subnets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if t.has("subnets"):
        table = t.sub("subnets")
        subnets = tuple((az, table.strs(az)) for az in table.keys())
        table.done()
    endpoint_urls = table_of_strs("endpoint_urls")
    for service, url in endpoint_urls:
        _check_url(t, f"endpoint_urls.{service}", url)
    stress = None
    if t.has("stress_client"):
        s = t.sub("stress_client")
        tag = s.str("tag")
        key, sep, value = tag.partition("=")
        if not sep or not key or not value:
            raise s.fail("tag", '"KEY=VALUE", the tag every instance to terminate must carry', tag)
        stress = StressClient(s.strs("instance_ids"), key, value, s.bool("terminate", default=False))
        s.done()
    aws = AwsIds(
        region=t.str("region", default=None),
        endpoint_url=_url(t, "endpoint_url") if t.has("endpoint_url") else None,
        endpoint_urls=endpoint_urls,
        ecs_cluster=t.str("ecs_cluster", default=None),
        services=table_of_strs("services"),
        alb=t.str("alb", default=None),
        alb_target_group=t.str("alb_target_group", default=None),
        nlb=t.str("nlb", default=None),
        nlb_target_group=t.str("nlb_target_group", default=None),
        db_cluster=t.str("db_cluster", default=None),
        db_instance=t.str("db_instance", default=None),
        db_resource_id=t.str("db_resource_id", default=None),
        cache_cluster=t.str("cache_cluster", default=None),
        period_s=t.int("period_s", default=60),
        subnets=subnets,
        force_new_deployment=t.bool("force_new_deployment", default=True),
        stable_timeout_s=t.num("stable_timeout_s", minimum=1.0, default=600.0),
        publish_namespace=t.str("publish_namespace", default=None),
        stress_client=stress,
        console_url=t.str("console_url", default="https://{region}.console.aws.amazon.com"),
        queries=_queries(t.sub("metrics")) if t.has("metrics") else CLOUD_QUERIES,
    )
    if aws.region is None and (aws.ids() or aws.services):
        raise TargetError(f"{t.file}: [{t.path}].region is missing: the AWS resources it names need their region (e.g. \"us-east-2\")")
    t.done()
    return aws


def _loopback(url: str | None) -> bool:
    host = urlsplit(url).hostname if url else None
    return host is not None and (host == "localhost" or host.startswith("127."))


def _usage_logs(t: Table, resolve: bool, local: bool) -> UsageLogs:
    names = {}
    for key in ("table", "time_column", "key_column"):
        if t.has(key):
            names[key] = t.str(key)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", names[key]):
                raise t.fail(key, "an SQL identifier (letters, digits, _; schema.table for a table)", names[key])
    if not local and not t.has("stress_key_ids"):
        # The stress rows are the stress keys' rows since the run started; without the keys, every
        # customer's row of that time would go too.
        raise TargetError(f"{t.file}: [{t.path}].stress_key_ids is missing: name the stress test's key ids "
                          "(the values of key_column), so that only their rows are removed after the run")
    keys = t.strs("stress_key_ids") if t.has("stress_key_ids") else ()
    usage = UsageLogs(_secret(t, "dsn", resolve), stress_key_ids=keys, **names)
    t.done()
    return usage


def _queries(t: Table) -> dict[str, dict[str, CloudQuery]]:
    """`[aws.metrics."<query set>".<metric>]`: each table replaces fields of the default query."""
    queries = {name: dict(entries) for name, entries in CLOUD_QUERIES.items()}
    for set_name in t.keys():
        if set_name not in QUERY_SETS:
            raise TargetError(f"{t.file}: [{t.path}].{set_name} is not a query set (known: {', '.join(QUERY_SETS)})")
        metrics = t.sub(set_name)
        known = BUILTIN_SOURCES[QUERY_SETS[set_name]]
        for metric in metrics.keys():
            if metric not in known:
                raise TargetError(f"{t.file}: [{metrics.path}].{metric} is not a metric of {QUERY_SETS[set_name]} "
                                  f"(known: {', '.join(known)})")
            queries[set_name][metric] = _query(metrics.sub(metric), queries[set_name].get(metric))
        metrics.done()
    t.done()
    return queries


def _query(t: Table, default: CloudQuery | None) -> CloudQuery:
    if default is None and not (t.has("namespace") and t.has("metric") and t.has("stat")):
        raise TargetError(f"{t.file}: [{t.path}] has no default query: give namespace, metric, stat and dimensions")
    changes: dict[str, object] = {}
    for key in ("namespace", "stat", "per"):
        if t.has(key):
            changes[key] = t.str(key)
    if t.has("metric"):
        raw = t.raw("metric")
        changes["metrics"] = (t.str("metric"),) if isinstance(raw, str) else t.strs("metric")
    if t.has("dimensions"):
        dims = t.sub("dimensions")
        changes["dimensions"] = tuple((k, dims.str(k)) for k in dims.keys())
        dims.done()
        unknown = [n for _, v in changes["dimensions"] for n in PLACEHOLDER.findall(v) if n not in ID_FIELDS]  # type: ignore[attr-defined]
        if unknown:
            raise TargetError(f"{t.file}: [{t.path}].dimensions name {{{unknown[0]}}}, which is not an id (known: {', '.join(ID_FIELDS)})")
    if t.has("scale"):
        changes["scale"] = t.num("scale", minimum=0.0)
    for key, choices in (("reduce", REDUCERS), ("across", REDUCERS)):
        if t.has(key):
            changes[key] = t.str(key, choices=choices)
    if t.has("absent"):
        changes["absent"] = t.str("absent", choices=ABSENT)
    t.done()
    if default is None:
        changes.setdefault("dimensions", ())
        return CloudQuery(**changes)  # type: ignore[arg-type]
    return dataclasses.replace(default, **changes)  # type: ignore[arg-type]


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
