"""Process limits of this machine that both the load driver and the reference nodes need:
the open-files limit (one descriptor per connection) and the peak resident set size."""

from __future__ import annotations

import resource


def raise_nofile_limit(wanted: int | None = None) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit, or to `wanted` (raising the hard
    limit too when allowed, e.g. as root). Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None else max(wanted, soft)
    if wanted is not None and target > hard and hard != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target
        except (ValueError, OSError):
            target = hard
    if target != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return target


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM), 0 where /proc is unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
