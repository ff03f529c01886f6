"""Turn a plan test, a ramp level and a target into the load driver's `LoadSpec`.

The target's contract supplies what the requests look like on the wire: the API-key header,
the 429 body words, the cache-hit rule and the UDP codec.

Each stream of the test (2d has two) is its own request kind at equal weight, and the level's
load is multiplied by the number of streams: the plan's "two stress clients" each run the
level's full load.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pytest_trinity import drivers
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.targets import Target, TargetContract


def http_target(url: str, ca_file: str | None) -> drivers.Target:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname or ""
    return drivers.Target(host=host, port=port, tls=tls, ca_file=ca_file, server_hostname=host if tls else None)


def request_kinds(test: PlanTest, target: Target, contract: TargetContract) -> tuple[drivers.HttpRequest | drivers.UdpRequest, ...]:
    secret = target.key(test.key_tier)
    key = secret.reveal() if secret is not None else None
    if test.protocol == "udp":
        return tuple(drivers.UdpRequest(name=s, symbol=target.udp_symbol, api_key=key, codec=contract.udp_codec) for s in test.streams)
    return tuple(drivers.HttpRequest(name=s, path=target.path(s), api_key=key, api_key_header=contract.api_key_header,
                                     refusals=contract.refusals, cache_field=contract.cache_field, cache_values=contract.cache_values)
                 for s in test.streams)


def driver_target(test: PlanTest, target: Target) -> drivers.Target:
    endpoints = target.endpoints(test.topology)
    if test.protocol == "udp":
        if endpoints.udp is None:
            raise ValueError(f"target {target.name} has no UDP address for the {test.topology} topology")
        return drivers.Target(host=endpoints.udp[0], port=endpoints.udp[1])
    return http_target(endpoints.api, target.ca_file)


def closed_spec(plan: Plan, test: PlanTest, target: Target, contract: TargetContract, level: ScaledLevel,
                processes: int | None) -> drivers.LoadSpec:
    kinds = request_kinds(test, target, contract)
    requests, concurrency = level.requests * len(kinds), level.concurrent * len(kinds)
    return drivers.LoadSpec(
        target=driver_target(test, target), kinds=kinds,
        model=drivers.ClosedModel(requests=requests, concurrency=concurrency),
        max_requests=requests, max_seconds=plan.limits.max_level_s, timeout=plan.limits.request_timeout_s,
        processes=processes,
    )


def open_spec(plan: Plan, test: PlanTest, target: Target, contract: TargetContract, rate: float, duration: float,
              connections: int, processes: int | None) -> drivers.LoadSpec:
    kinds = request_kinds(test, target, contract)
    model = drivers.OpenModel(rate=rate, duration=duration, connections=connections,
                              late_send_us=int(plan.limits.late_send_ms * 1000))
    return drivers.LoadSpec(
        target=driver_target(test, target), kinds=kinds, model=model,
        max_requests=model.planned_requests + 1, max_seconds=min(plan.limits.max_level_s, duration * 2 + plan.limits.request_timeout_s),
        timeout=plan.limits.request_timeout_s, processes=processes,
    )
