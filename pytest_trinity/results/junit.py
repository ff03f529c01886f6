"""The per-case JUnit properties dashboards read, from a level record.

They go into `item.user_properties`, which pytest's junitxml writes as `<properties>` of the
test case. We recommend `junit_family = xunit1`, whose schema allows per-case properties
(the repository's own pyproject.toml sets it); pytest writes them under xunit2 as well,
without the warning `record_property` would raise. Values are plain str/int/float.
"""

from __future__ import annotations

from pytest_trinity.model import LevelRecord

PROPERTIES = ("trinity_test", "level", "verdict", "rps", "ok_rps", "p50_ms", "p99_ms", "success_pct",
              "errors_5xx", "udp_drop_pct", "red_flags", "unmeasured", "cloud", "cloud_missing",
              "executor", "start_skew_ms", "client_warning")


def junit_properties(record: LevelRecord) -> list[tuple[str, str | int | float]]:
    figures = record.figures
    load, client = record.load, record.client
    cluster = figures.sources.get("cluster-stats", {}) if figures else {}
    values: dict[str, str | int | float | None] = {
        "trinity_test": record.test_id,
        "level": record.level_id,
        "verdict": record.status,
        "rps": figures.rps if figures else None,
        "ok_rps": record.ok_rps,
        "p50_ms": figures.p50_ms if figures else None,
        "p99_ms": figures.p99_ms if figures else None,
        "success_pct": figures.success_pct if figures else None,
        "errors_5xx": figures.errors_5xx if figures else None,
        "udp_drop_pct": cluster.get("udp_drop_pct"),
        "red_flags": ",".join(b.check for b in record.verdict.red_flags) if record.verdict else "",
        # the checks that applied but read nothing (their ids), so a dashboard can tell "passed" from "not measured"
        "unmeasured": ",".join(u.split(" ", 1)[0] for u in record.verdict.unmeasured) if record.verdict else "",
        # how CloudWatch judged this case ("level": on its own periods, "window": the test's cloud window), and what never arrived
        "cloud": record.cloud.judged if record.cloud else None,
        "cloud_missing": ",".join(f"{m.source}:{m.metric}" for m in record.cloud.metrics if m.status == "missing") if record.cloud else None,
        # where the level's shards ran ("local" or "dask://host:port"), how far apart they started (ms), and the capacity warning
        "executor": load.executor if load else None,
        "start_skew_ms": load.start_skew_ms if load else None,
        "client_warning": client.warning if client and client.warning else None,
    }
    return [(name, round(v, 3) if isinstance(v, float) else v) for name in PROPERTIES if (v := values[name]) is not None]
