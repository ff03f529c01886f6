"""The driver's helper processes (the pool's workers, the control channel's manager) live only
as long as the process that started them.

`child_init(parent_pid)` is their initializer. It makes them ignore SIGINT and SIGTERM: a
Ctrl-C, `docker stop` or CI cancel sent to the whole process group reaches the parent, which
stops them through the control channel and keeps their partial results. And it starts a
watchdog thread that ends the process within about a second once the parent is gone
(SIGKILL, a crash, the OOM killer), so no orphan keeps loading the target: on Linux it waits
on a pidfd of the parent (not fooled by a reused pid, and woken the moment the parent exits);
elsewhere it polls the parent's pid.

(Not `PR_SET_PDEATHSIG`: it fires when the *thread* that started the child ends, and a run
may be started from a thread that ends before its helpers are meant to.)
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time

POLL_S = 0.5  # how often the portable watchdog checks the parent
ORPHANED_EXIT = 70  # the exit code of a helper whose parent vanished


def child_init(parent_pid: int) -> None:
    """Initializer of a helper process started by `parent_pid`."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    watch_parent(parent_pid)


def watch_parent(parent_pid: int) -> threading.Thread:
    """A daemon thread that ends this process as soon as `parent_pid` has exited."""
    thread = threading.Thread(target=_watch, args=(parent_pid,), name=f"trinity-watch-{parent_pid}", daemon=True)
    thread.start()
    return thread


def _watch(parent_pid: int) -> None:
    pidfd = _pidfd(parent_pid)
    if pidfd is not None:
        while not select.select([pidfd], [], [], None)[0]:  # readable once the parent has exited
            pass
    else:
        direct = os.getppid() == parent_pid  # then a re-parenting says it too, even while it is a zombie
        while _alive(parent_pid) and (not direct or os.getppid() == parent_pid):
            time.sleep(POLL_S)
    os._exit(ORPHANED_EXIT)  # nothing here is worth finishing: nobody is left to read it


def _pidfd(pid: int) -> int | None:
    """A pidfd of `pid` (Linux 5.3+), or None where there is none. A parent already gone
    leaves nothing to watch: this process exits at once."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd: int = pidfd_open(pid)
    except ProcessLookupError:
        os._exit(ORPHANED_EXIT)
    except OSError:  # e.g. ENOSYS on an older kernel, or a seccomp filter
        return None
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process has that pid now: ours is gone
    return True


__all__ = ["ORPHANED_EXIT", "child_init", "watch_parent"]
