"""The per-case JUnit properties dashboards read, from a level record.

They go into `item.user_properties`, which pytest's junitxml writes as `<properties>` of the
test case. We recommend `junit_family = xunit1`, whose schema allows per-case properties
(the repository's own pyproject.toml sets it); pytest writes them under xunit2 as well,
without the warning `record_property` would raise. Values are plain str/int/float.
"""

from __future__ import annotations

from typing import Any

PROPERTIES = ("trinity_test", "level", "verdict", "rps", "ok_rps", "p50_ms", "p99_ms", "success_pct",
              "errors_5xx", "udp_drop_pct", "red_flags")


def junit_properties(record: dict[str, Any]) -> list[tuple[str, str | int | float]]:
    figures = record.get("figures") or {}
    cluster = (figures.get("sources") or {}).get("cluster-stats", {})
    breaches = (record.get("verdict") or {}).get("breaches", [])
    values: dict[str, Any] = {
        "trinity_test": record["test_id"],
        "level": record["level_id"],
        "verdict": record["status"],
        "rps": figures.get("rps"),
        "ok_rps": record.get("ok_rps"),
        "p50_ms": figures.get("p50_ms"),
        "p99_ms": figures.get("p99_ms"),
        "success_pct": figures.get("success_pct"),
        "errors_5xx": figures.get("errors_5xx"),
        "udp_drop_pct": cluster.get("udp_drop_pct"),
        "red_flags": ",".join(b["check"] for b in breaches if b["kind"] == "red_flag"),
    }
    return [(name, round(v, 3) if isinstance(v, float) else v) for name in PROPERTIES
            if (v := values[name]) is not None]
