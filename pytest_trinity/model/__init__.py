"""The record model: typed data for everything a run measures and concludes, at the bottom
of the import graph (it imports only `plan`).

  figures.py    LevelFigures: what the checks of one level read
  verdict.py    Breach, Verdict
  telemetry.py  NodeSnapshot, ClusterStats (the service's counters, in the plan's names)
  load.py       LoadSummary: what the load driver did
  facts.py      cross-test facts: streams, compared tests, baselines, 2e's ceiling, earlier runs
  record.py     LevelRecord: one level, `to_json`/`from_json` for results.json schema v1
  summary.py    the one definition of ceiling, breaking point, test verdict and baseline ratio
  numbers.py    how a number is written for people
  trend.py      the least-squares growth of a series (2e's memory trends)
  cloud.py      CloudMetric, CloudFigures: what CloudWatch said about a level or a test's window

Every report (terminal, results.json, JUnit, HTML, comparisons) reads these objects.
"""

from pytest_trinity.model.facts import (
    BaselineFact,
    ComparedWith,
    CompareFact,
    EnduranceFact,
    Facts,
    MetricDelta,
    StreamFact,
    ratio,
)
from pytest_trinity.model.figures import LevelFigures
from pytest_trinity.model.load import ClientCapacity, Histogram, KindLoad, LoadModel, LoadSummary, Second, ShardLoad
from pytest_trinity.model.numbers import num
from pytest_trinity.model.record import JUDGED, MEASURED, LevelRecord, PollFailure, PollSummary
from pytest_trinity.model.summary import (
    TestSummary,
    baseline_facts,
    breaking_record,
    ceiling_record,
    summarize,
    summarize_test,
    verdict_of,
)
from pytest_trinity.model.telemetry import ClusterStats, NodeSnapshot
from pytest_trinity.model.verdict import BREACH_KINDS, Breach, Verdict

__all__ = [
    "BREACH_KINDS", "JUDGED", "MEASURED", "BaselineFact", "Breach", "ClusterStats", "CompareFact", "ComparedWith",
    "ClientCapacity", "EnduranceFact", "Facts", "Histogram", "KindLoad", "LevelFigures", "LevelRecord", "LoadModel", "LoadSummary", "ShardLoad",
    "MetricDelta", "NodeSnapshot", "PollFailure", "PollSummary", "Second", "StreamFact", "TestSummary", "Verdict",
    "baseline_facts", "breaking_record", "ceiling_record", "num", "ratio", "summarize", "summarize_test", "verdict_of",
]
