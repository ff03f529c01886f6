"""Results of a run: the JSON store under the report dir, lookups across runs, comparisons,
JUnit properties and the HTML report's content."""

from pytest_trinity.results.store import RunStore, judged_records, newest_records, stored_runs

__all__ = ["RunStore", "judged_records", "newest_records", "stored_runs"]
