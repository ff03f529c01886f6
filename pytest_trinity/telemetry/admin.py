"""Admin API client (httpx, control plane only): system-mode, stress-reset, stress-stats,
cluster-stats. The admin token travels in a header and never appears in an error message.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from pytest_trinity.telemetry.snapshot import ClusterStats, NodeSnapshot


class AdminError(RuntimeError):
    """An admin call failed; the message names the URL path and what came back.

    `unreachable` is true when nothing answered at all (connection refused or timed out).
    """

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class AdminClient:
    def __init__(self, base_url: str, token: str | None, nodes: tuple[str, ...], counters: tuple[str, ...],
                 ca_file: str | None = None, timeout: float = 5.0, token_header: str = "X-Admin-Token"):
        self.base_url = base_url.rstrip("/")
        self.nodes, self.counters = nodes, counters
        headers = {token_header: token} if token else {}
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, verify=verify, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        where = f"{self.base_url}{path}"
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise AdminError(f"{where}: {type(exc).__name__}: {exc}",
                             unreachable=isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))) from None
        if response.status_code != 200:
            detail = response.text[:500].strip()
            raise AdminError(f"{where}{'?' + str(response.request.url.query, 'ascii') if params else ''}: "
                             f"HTTP {response.status_code}: {detail}")
        try:
            return response.json()
        except ValueError:
            raise AdminError(f"{where}: answered 200 but not JSON: {response.text[:200]!r}") from None

    def system_mode(self, mode: str | None = None, adaptive_enabled: bool | None = None) -> dict[str, Any]:
        params = {}
        if mode is not None:
            params["mode"] = mode
        if adaptive_enabled is not None:
            params["adaptive_enabled"] = "true" if adaptive_enabled else "false"
        return self._get("/admin/system-mode", params)

    def stress_reset(self) -> dict[str, Any]:
        return self._get("/admin/stress-reset")

    def usage_trim(self, max_rows: int) -> dict[str, Any]:
        """The reference cluster's usage_logs trim (a real target trims in PostgreSQL instead)."""
        return self._get("/admin/usage-trim", {"max_rows": str(max_rows)})

    def stress_stats(self) -> NodeSnapshot:
        return NodeSnapshot.parse(self._get("/admin/stress-stats"), self.counters, f"{self.base_url}/admin/stress-stats")

    def cluster_stats(self) -> ClusterStats:
        return ClusterStats.parse(self._get("/admin/cluster-stats"), self.nodes, self.counters,
                                  f"{self.base_url}/admin/cluster-stats")
