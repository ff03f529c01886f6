"""Judge the cloud side: CloudWatch's figures against the plan's red flags of cloud sources.

Two places use it. A level judged on its own whole periods has its cloud figures merged into
`LevelFigures.sources`, so `judge_level` reads them like any source; `missing_breaches` adds
what `judge_level` cannot know: a configured metric whose datapoints never arrived is a
breach of its own ("cloud:missing"), never a pass. A test's cloud-window case is judged by
`judge_window`: every applicable red flag of a cloud source over the window's periods.
"""

from __future__ import annotations

from pytest_trinity.model import Breach, Verdict
from pytest_trinity.model.cloud import MISSING, CloudFigures
from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.plan.metrics import BUILTIN_SOURCES
from pytest_trinity.verdict.judge import red_flag_breaches

CLOUD_SOURCES = tuple(BUILTIN_SOURCES)
LATE_ADVICE = ("the datapoints did not arrive within [cloud].late_data_s: check the target's [aws] ids and that the "
               "resource publishes this metric (Container Insights and Performance Insights must be enabled)")


def missing_breaches(plan: Plan, test: PlanTest, cloud: CloudFigures, fails: bool) -> list[Breach]:
    """A breach for each applicable cloud red flag whose metric is missing."""
    missing = {(m.source, m.metric): m for m in cloud.metrics if m.status == MISSING}
    out = []
    for flag in plan.red_flags:
        if not flag.applies_to(test) or flag.source not in CLOUD_SOURCES:
            continue
        for metric in (flag.metric, flag.relative_to):
            m = missing.get((flag.source, metric or ""))
            if m is None:
                continue
            arrived = sum(1 for _, v in m.periods if v is not None)
            out.append(Breach(f"cloud:missing:{flag.id}", "cloud", f"{flag.source} {metric} periods arrived ({m.detail})",
                              arrived, "of", max(len(m.periods), 1), "", LATE_ADVICE, fails))
            break
    return out


def judge_window(plan: Plan, test: PlanTest, cloud: CloudFigures, extra: dict[str, dict[str, float]]) -> Verdict:
    """The test's cloud window: its levels are all held to the strict rules, so every breach fails.
    `extra` holds figures from the levels themselves (Aurora's pool size from cluster-stats)."""
    sources = cloud.sources()
    for source, values in extra.items():
        sources.setdefault(source, {}).update(values)
    breaches, unmeasured = red_flag_breaches(plan, test, lambda source, name: sources.get(source, {}).get(name), True, CLOUD_SOURCES)
    breaches += missing_breaches(plan, test, cloud, True)
    return Verdict(not breaches, tuple(breaches), tuple(unmeasured))
