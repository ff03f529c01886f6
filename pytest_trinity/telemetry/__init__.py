"""The service's own telemetry: the admin client, cluster snapshots, the 3 s poller."""

from pytest_trinity.telemetry.admin import AdminClient, AdminError
from pytest_trinity.telemetry.poller import PollSample, TelemetryPoller
from pytest_trinity.telemetry.snapshot import ClusterStats, NodeSnapshot, TelemetryError

__all__ = ["AdminClient", "AdminError", "ClusterStats", "NodeSnapshot", "PollSample", "TelemetryError", "TelemetryPoller"]
