"""Admission: public keys are rate limited (QPS + burst) and capped monthly, on TCP and UDP;
partner keys never are."""

from __future__ import annotations

from collections import Counter

from pytest_trinity.reference.settings import running_profile
from tests.reference.conftest import CAPPED, Admin, api_client, udp_call


def _burst(cluster, key: str, n: int) -> Counter:
    seen: Counter = Counter()
    with api_client(cluster, key) as c:
        for _ in range(n):
            r = c.get(cluster.direct.api_url + "/price", params={"symbol": "BTC-USD"})
            seen[(r.status_code, r.json().get("error"))] += 1
    return seen


def test_public_key_is_rate_limited_beyond_its_burst(cluster, admin: Admin, plan) -> None:
    profile = running_profile(plan, plan.restore.profile)  # the cluster runs the production profile
    admin.reset()
    n = profile.burst * 3
    seen = _burst(cluster, cluster.public_key.value, n)
    limited = seen[(429, "rate_limited")]
    assert seen[(200, None)] >= profile.burst
    assert limited >= 1
    assert seen[(200, None)] + limited == n
    counters = admin.node_stats("main")["counters"]
    assert counters["rate_limit_hits"] == limited
    assert counters["errors_4xx"] == limited


def test_partner_key_is_never_limited(cluster, admin: Admin, plan) -> None:
    profile = running_profile(plan, plan.restore.profile)
    admin.reset()
    seen = _burst(cluster, cluster.partner_key.value, profile.burst * 3)
    assert seen == Counter({(200, None): profile.burst * 3})
    assert admin.node_stats("main")["counters"]["rate_limit_hits"] == 0


def test_monthly_cap_on_tcp_and_udp(cluster, admin: Admin) -> None:
    assert CAPPED.monthly_cap is not None
    admin.reset()
    seen = _burst(cluster, CAPPED.key.value, CAPPED.monthly_cap + 3)
    assert seen == Counter({(200, None): CAPPED.monthly_cap, (429, "monthly_cap"): 3})
    answers = udp_call(cluster.direct.udp, [{"id": 9, "key": CAPPED.key.value, "symbol": "BTC-USD"}])
    assert answers[9] == {"id": 9, "error": "monthly_cap"}
    counters = admin.node_stats("main")["counters"]
    assert counters["monthly_cap_hits"] == 4


def test_udp_is_rate_limited_for_public_keys_only(cluster, admin: Admin, plan) -> None:
    profile = running_profile(plan, plan.restore.profile)
    admin.reset()
    n = profile.burst * 3
    public = udp_call(cluster.direct.udp, [{"id": i, "key": cluster.public_key.value, "symbol": "BTC-USD"} for i in range(n)])
    partner = udp_call(cluster.direct.udp, [{"id": i, "key": cluster.partner_key.value, "symbol": "BTC-USD"} for i in range(n)])
    limited = sum(1 for a in public.values() if a.get("error") == "rate_limited")
    assert limited >= 1
    assert not any("error" in a for a in partner.values())
    counters = admin.node_stats("main")["counters"]
    assert counters["rate_limit_hits"] == limited
    assert counters["udp_requests"] == len(public) + len(partner) == 2 * n
