"""The service's own telemetry: the admin client, the Redis reader, the 3 s poller."""

from pytest_trinity.telemetry.admin import AdminClient, AdminError
from pytest_trinity.telemetry.poller import PollSample, TelemetryPoller

__all__ = ["AdminClient", "AdminError", "PollSample", "TelemetryPoller"]
