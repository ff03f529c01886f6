"""Admin API client (httpx, control plane only): system-mode, stress-reset, stress-stats,
cluster-stats, usage-trim, with paths, parameters, headers and answer shapes from the
target's contract. The admin token travels in a header and never appears in an error message.
"""

from __future__ import annotations

import ssl
from collections.abc import Generator
from typing import Any

import httpx

from pytest_trinity.model import ClusterStats, NodeSnapshot
from pytest_trinity.targets import Secret, TargetContract


class AdminError(RuntimeError):
    """An admin call failed; the message names the URL path and what came back.

    `unreachable` is true when nothing answered at all (connection refused or timed out).
    """

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class _TokenAuth(httpx.Auth):
    """Adds the admin token header to each request. The token stays a `Secret` until then, so
    no frame a traceback can show (arguments, `headers` dicts) holds it as a plain string."""

    def __init__(self, header: str, token: Secret):
        self.header, self.token = header, token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self.token.reveal()
        yield request

    def __repr__(self) -> str:
        return f"_TokenAuth({self.header}: {self.token})"


class AdminClient:
    def __init__(self, base_url: str, token: Secret | None, contract: TargetContract, nodes: tuple[str, ...],
                 counters: tuple[str, ...], ca_file: str | None = None, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.contract, self.nodes, self.counters = contract, nodes, counters
        auth = _TokenAuth(contract.admin_token_header, token) if token is not None and token.reveal() else None
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout, verify=verify, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, action: str, **values: str | int | bool) -> tuple[str, Any]:
        path, params = self.contract.admin_request(action, **values)
        where = f"{self.base_url}{path}"
        try:
            response = self._http.get(path, params=params or None)
        except httpx.HTTPError as exc:
            raise AdminError(f"{where}: {type(exc).__name__}: {exc}",
                             unreachable=isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))) from None
        if response.status_code != 200:
            detail = response.text[:500].strip()
            raise AdminError(f"{where}{'?' + str(response.request.url.query, 'ascii') if params else ''}: "
                             f"HTTP {response.status_code}: {detail}")
        try:
            return where, response.json()
        except ValueError:
            raise AdminError(f"{where}: answered 200 but not JSON: {response.text[:200]!r}") from None

    def system_mode(self, mode: str | None = None, adaptive_enabled: bool | None = None) -> Any:
        values: dict[str, str | bool] = {}
        if mode is not None:
            values["mode"] = mode
        if adaptive_enabled is not None:
            values["adaptive_enabled"] = adaptive_enabled
        return self._call("system_mode", **values)[1]

    def stress_reset(self) -> Any:
        return self._call("stress_reset")[1]

    def usage_trim(self, max_rows: int) -> Any:
        """The reference cluster's usage_logs trim (a real target trims in PostgreSQL instead)."""
        return self._call("usage_trim", max_rows=max_rows)[1]

    def stress_stats(self) -> NodeSnapshot:
        where, data = self._call("stress_stats")
        return self.contract.parse_node(data, self.counters, where)

    def cluster_stats(self) -> ClusterStats:
        where, data = self._call("cluster_stats")
        return self.contract.parse_cluster(data, self.nodes, self.counters, where)
