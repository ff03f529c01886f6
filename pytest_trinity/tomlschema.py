"""Typed reading of TOML tables, with errors that name the file, the table and the key.

Shared by the plan loader and the target loader: `Table` wraps one TOML table, its getters
check types and ranges, and `done()` rejects keys nobody read, so a typo is an error rather
than a silent default. A reader asks `has(key)` about an optional key (rather than looking in
`data`), so the unknown-key message lists every key the table accepts, not only those given.
Numbers are always finite: TOML's `inf` and `nan` are refused wherever a number is read.
"""

from __future__ import annotations

import builtins
import difflib
import json
import math
import tomllib
from pathlib import Path
from typing import Any

MISSING = object()


class FileError(ValueError):
    """A user's TOML file is wrong; the message names the file, table and key to fix."""


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_toml(path: Path, error: type[FileError], what: str, option: str) -> dict[str, Any]:
    """Parse `path`, turning every failure into `error` with a message fit for the user."""
    shown = display_path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{shown}: {what} not found (give one with {option} PATH)") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read the {what}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{shown}: not valid TOML: {exc}") from None


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # inf, -inf, nan: as TOML spells them (JSON has no such numbers)
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


class Table:
    """A TOML table being read: typed getters, and a check that no unknown key is left."""

    def __init__(self, file: builtins.str, path: builtins.str, data: Any, error: type[FileError] = FileError):
        self.file, self.path, self.error = file, path, error
        if not isinstance(data, dict):
            raise error(f"{file}: [{path}] must be a table, got {_show(data)}")
        self.data = data
        self.used: set[str] = set()  # every key read or asked about: the keys this table accepts

    def fail(self, key: builtins.str, expected: builtins.str, value: Any) -> FileError:
        return self.error(f"{self.file}: [{self.path}].{key} must be {expected}, got {_show(value)}")

    def raw(self, key: builtins.str, default: Any = MISSING) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is MISSING:
            near = difflib.get_close_matches(key, [k for k in self.data if isinstance(k, str)], n=1)
            hint = f" (is {near[0]!r} a misspelling of it?)" if near else ""
            raise self.error(f"{self.file}: [{self.path}] is missing the key {key!r}{hint}")
        return default

    def has(self, key: builtins.str) -> builtins.bool:
        """Whether the optional `key` is given; either way it is a key this table accepts."""
        self.used.add(key)
        return key in self.data

    def sub(self, key: builtins.str) -> Table:
        return Table(self.file, f"{self.path}.{key}" if self.path else key, self.raw(key), self.error)

    def int(self, key: builtins.str, minimum: builtins.int = 1, default: Any = MISSING,
            maximum: builtins.int | None = None) -> builtins.int:
        value = self.raw(key, default)
        if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
                or (maximum is not None and value > maximum)):
            expected = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
            if maximum is not None:
                expected += f" ≤ {maximum:,}"
            raise self.fail(key, expected, value)
        return value

    def num(self, key: builtins.str, minimum: float = 0.0, maximum: float | None = None, default: Any = MISSING) -> float:
        """A finite number in [minimum, maximum]; `minimum=-math.inf` for any finite number."""
        value = self.raw(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and value >= minimum and (maximum is None or value <= maximum))
        if not ok:
            if maximum is not None:
                bounds = f" between {minimum:g} and {maximum:g}"
            else:
                bounds = f" ≥ {minimum:g}" if math.isfinite(minimum) else ""
            raise self.fail(key, f"a finite number{bounds}", value)
        return float(value)

    def str(self, key: builtins.str, choices: tuple[builtins.str, ...] = (), default: Any = MISSING) -> builtins.str:
        value = self.raw(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty string", value)
        if choices and value not in choices:
            raise self.fail(key, "one of " + ", ".join(_show(c) for c in choices), value)
        return value

    def bool(self, key: builtins.str, default: Any = MISSING) -> builtins.bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def strs(self, key: builtins.str, choices: tuple[builtins.str, ...] = (), default: Any = MISSING, nonempty: builtins.bool = True) -> tuple[builtins.str, ...]:
        value = self.raw(key, default)
        expected = ("a non-empty list of strings" if nonempty else "a list of strings") + (
            " from " + ", ".join(_show(c) for c in choices) if choices else "")
        if not isinstance(value, list) or (nonempty and not value):
            raise self.fail(key, expected, value)
        for item in value:
            if not isinstance(item, str) or (choices and item not in choices):
                raise self.fail(key, expected, value)
        return tuple(value)

    def keys(self) -> list[builtins.str]:
        return list(self.data)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(f"{self.file}: [{self.path}] has unknown key {unknown[0]!r} (known keys: {known})")


