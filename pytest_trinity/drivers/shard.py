"""Run one shard: make its event loop (uvloop when installed), look its protocol's driver up
in the registry and run it under a `ShardRun`. Importing this module registers the built-in
HTTP and UDP drivers.

`run_shard_async(shard)` runs a shard inside the caller's loop (usable in a test);
`run_shard(shard, ...)` runs it on a fresh loop in this thread.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable

import pytest_trinity.drivers.http  # noqa: F401  (registers the "http" driver)
import pytest_trinity.drivers.udp  # noqa: F401  (registers the "udp" driver)
from pytest_trinity.drivers.core import ShardProgress, ShardRun
from pytest_trinity.drivers.registry import driver_for
from pytest_trinity.drivers.result import ShardResult
from pytest_trinity.drivers.spec import ShardSpec
from pytest_trinity.oslimits import raise_nofile_limit


async def run_shard_async(shard: ShardSpec, on_progress: ShardProgress | None = None,
                          should_stop: Callable[[], bool] | None = None) -> ShardResult:
    """Run one shard in the running loop."""
    driver = driver_for(shard.spec.protocol)
    return await ShardRun(shard, on_progress, should_stop).run(driver)


def new_event_loop(use_uvloop: bool | None) -> asyncio.AbstractEventLoop:
    """A fresh loop: uvloop's when installed (required with True), asyncio's with False."""
    if use_uvloop is not False:
        try:
            import uvloop
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
        except ImportError:
            if use_uvloop:
                raise
    return asyncio.new_event_loop()


def run_shard(shard: ShardSpec, on_progress: ShardProgress | None = None,
              should_stop: Callable[[], bool] | None = None, handle_sigint: bool = False) -> ShardResult:
    """Run one shard on a fresh event loop in this thread. With `handle_sigint`, SIGINT stops
    the shard (partial result, stop_reason "interrupted") instead of raising."""
    needed = shard.spec.concurrency + shard.spec.udp_sockets + 1024
    if raise_nofile_limit(needed) < shard.model_concurrency() + 64:
        raise OSError(f"RLIMIT_NOFILE is too low for {shard.model_concurrency()} connections; raise it (ulimit -n)")
    loop = new_event_loop(shard.spec.use_uvloop)
    interrupted: list[bool] = []

    def on_sigint() -> None:
        interrupted.append(True)

    def stop_check() -> bool:
        return bool(interrupted) or (should_stop is not None and should_stop())

    handle_sigint = handle_sigint and threading.current_thread() is threading.main_thread()
    try:
        asyncio.set_event_loop(loop)
        if handle_sigint:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        return loop.run_until_complete(run_shard_async(shard, on_progress, stop_check))
    finally:
        if handle_sigint:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except Exception:
                pass
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
