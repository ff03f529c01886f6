"""Real Debian daemons (nginx, redis-server, PostgreSQL, moto) started on loopback for a run.

Used by the reference cluster, the plugin's own tests and the benchmarks. Each launcher is a
context manager that picks free loopback ports, waits until the daemon answers, and stops
it, and everything it started, on any exit. A missing binary is a clear error that names the
Debian package to install.
"""

from pytest_trinity.services.ports import free_port, wait_for_tcp
from pytest_trinity.services.process import Daemon, ServiceError, require_binary

__all__ = ["Daemon", "ServiceError", "free_port", "require_binary", "wait_for_tcp"]
