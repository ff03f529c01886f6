"""Which driver runs which protocol: protocol modules register their driver here at import
time (`register_driver("http", drive_http)`), and the code that runs a shard looks it up
with `driver_for(protocol)`. Knows no protocol itself, so it imports none of them.
"""

from __future__ import annotations

from pytest_trinity.drivers.core import Driver

_DRIVERS: dict[str, Driver] = {}


def register_driver(protocol: str, factory: Driver) -> None:
    """Make `factory` (a coroutine function taking a ShardRun) the driver of `protocol`."""
    _DRIVERS[protocol] = factory


def driver_for(protocol: str) -> Driver:
    """The driver registered for `protocol`; ValueError naming it when there is none."""
    try:
        return _DRIVERS[protocol]
    except KeyError:
        raise ValueError(f"no load driver for protocol {protocol!r}; registered: {sorted(_DRIVERS)}") from None
