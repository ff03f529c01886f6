"""Results of a run: the JSON store under the report dir, and lookups across runs."""

from pytest_trinity.results.store import RunStore, newest_records

__all__ = ["RunStore", "newest_records"]
