"""What a target sends is not trusted into a record as it is: every known secret is redacted
from it, and the distinct error texts kept per level are bounded (the rest are counted).

A target whose error replies echo the API key would otherwise put the key in the terminal,
junit.xml, the HTML report and results.json; one whose errors carry a request id would grow
results.json by an entry per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_trinity.model import LevelRecord

REDACTED = "***"
MAX_ERROR_TEXTS = 20  # distinct error texts kept per level and kind; the rest are summed under OTHER
OTHER = "(other error texts)"
MIN_SECRET_LEN = 4  # shorter values would redact ordinary words
TEXT_KEYED = ("error_replies", "failure_classes")  # maps whose keys are texts a target sent
ERROR_REPLY = "error reply "  # the failure-class prefix of a UDP error reply's text


class Sanitizer:
    def __init__(self, secrets: Iterable[str]):
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """A JSON value (e.g. a cloud action's log entry) with every secret redacted."""
        return self._walk(value)

    def record(self, record: LevelRecord) -> LevelRecord:
        data = record.to_json()
        changed = _bound_texts(data)
        clean = self._walk(data)
        if clean == data and not changed:
            return record
        return LevelRecord.from_json(clean)

    def _walk(self, value: Any, texts_as_keys: bool = False) -> Any:
        """`value` with every secret redacted from its strings, and from the keys of the maps
        keyed by a target's text (error replies, failure classes); never from the record's own
        structure or its numbers."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {(self.text(k) if texts_as_keys and isinstance(k, str) else k): self._walk(v, k in TEXT_KEYED)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return value


def bounded(counts: dict[str, int], prefix: str = "") -> dict[str, int]:
    """`counts` with at most MAX_ERROR_TEXTS of its `prefix` keys, the rest summed under OTHER."""
    return _top(counts, prefix)[0]


def _top(counts: dict[str, int], prefix: str = "") -> tuple[dict[str, int], bool]:
    """`counts` with at most MAX_ERROR_TEXTS of its `prefix` keys; the rest summed under OTHER."""
    # most frequent first, then by text: the load's error replies and the failure classes keep the same texts
    texts = sorted(((k, v) for k, v in counts.items() if k.startswith(prefix)), key=lambda kv: (-kv[1], kv[0]))
    if len(texts) <= MAX_ERROR_TEXTS:
        return counts, False
    kept = {k: v for k, v in counts.items() if not k.startswith(prefix)}
    kept.update(texts[:MAX_ERROR_TEXTS])
    kept[prefix + OTHER] = sum(v for _, v in texts[MAX_ERROR_TEXTS:])
    return kept, True


def _bound_texts(data: dict[str, Any]) -> bool:
    changed = False
    figures = data.get("figures") or {}
    if figures.get("failure_classes"):
        figures["failure_classes"], c = _top(figures["failure_classes"], ERROR_REPLY)
        changed |= c
    load = data.get("load") or {}
    outcomes = [k["outcomes"] for k in (load.get("kinds") or {}).values()]
    if load.get("totals"):
        outcomes.append(load["totals"]["outcomes"])
    for o in outcomes:
        if o.get("error_replies"):
            o["error_replies"], c = _top(o["error_replies"])
            changed |= c
    return changed
