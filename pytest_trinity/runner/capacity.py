"""The capacity check: before a level, estimate from the test's previous level whether the
stress client can apply the planned load; after it, measure the client's own CPU use; warn in
the record when the client, not the service, is likely the bottleneck.

The estimate uses the previous level's client CPU seconds per request and its CPU use
(CPU seconds / (elapsed x shards)): no calibration load is sent. A closed-model level asks
for more concurrency than the one before it, so a client already at `BUSY` of its cores
will not keep up; an open-model level needs `rate x CPU per request` cores.
"""

from __future__ import annotations

from pytest_trinity import drivers
from pytest_trinity.model import ClientCapacity, LevelRecord, LoadSummary

BUSY = 0.8  # of the client's cores: above it, the client is likely the bottleneck


def _cores(n: int) -> str:
    return f"{n} core{'s' if n != 1 else ''}"


def estimate(spec: drivers.LoadSpec, previous: LevelRecord | None) -> tuple[str, bool]:
    """Before the level: what the previous level of the test predicts ("" when nothing), and
    whether that is a client too busy for this level."""
    if previous is None or previous.load is None or not previous.load.outcomes.get("completed"):
        return "", False
    load = previous.load
    use = load.client_cpu_use
    cores = load.shards
    per_request_us = load.cpu_seconds * 1e6 / int(load.outcomes["completed"])
    if isinstance(spec.model, drivers.OpenModel):
        needed = spec.model.rate * per_request_us / 1e6
        text = (f"{spec.model.rate:.0f} req/s need about {needed:.1f} of the client's {_cores(cores)} "
                f"({per_request_us:.0f} µs of client CPU per request at {previous.level_id})")
        busy = needed > BUSY * cores
        return text + ("; likely more than the client can apply" if busy else ""), busy
    if use is None:
        return "", False
    text = f"at {previous.level_id} the client used {use:.0%} of its {_cores(cores)} ({per_request_us:.0f} µs per request)"
    busy = use >= BUSY
    return text + ("; with more concurrency it is likely the bottleneck" if busy else ""), busy


def check(before: tuple[str, bool], load: LoadSummary) -> ClientCapacity:
    """After the level: the estimate, the measured CPU use and the warning if any."""
    use = load.client_cpu_use
    warnings = []
    if use is not None and use >= BUSY:
        where = "its Dask workers" if load.executor != "local" else "this machine"
        warnings.append(f"the stress client used {use:.0%} of its {_cores(load.shards)} over the level: it is likely the "
                        f"bottleneck, not the service; add cores or workers on {where} (docs/distributed.md)")
    elif use is None and before[1]:  # measured use, when there is one, beats the estimate
        warnings.append(f"before the level: {before[0]}")
    return ClientCapacity(load.executor, load.shards, None if use is None else round(use, 4), before[0], "; ".join(warnings))


def previous_record(records: list[LevelRecord], test_id: str) -> LevelRecord | None:
    """The test's latest level of this run that ran its load."""
    return next((r for r in reversed(records) if r.test_id == test_id and r.load is not None and r.level > 0), None)
