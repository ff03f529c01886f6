"""A small, real target that speaks the Trinity contract and misbehaves on request.

No mocks: an HTTP/1.1 admin server, an HTTP/1.1 API server and a UDP responder on loopback,
each in its own thread, sharing one set of the plan's 24 counters. By default it behaves:
system-mode applies a profile of the plan and every snapshot reports it back, stress-reset
zeroes the counters, every /price and every UDP datagram with a known key is answered, so a
plan level passes against it. Each misbehaviour is a switch (`Misbehaviour`), given to the
constructor or set at run time with `GET /test/misbehave?<switch>=<value>` on the admin port
(that path needs no token and is never slowed down):

- `counters_as_strings`: every counter is sent as a JSON string ("12");
- `omit_request_counters`: tcp_requests, udp_requests and packets_received are not reported;
- `omit_counters`: these counters (comma-separated) are not reported;
- `ts_text`: a snapshot's `ts` is an ISO date string, not a number;
- `echo_key_errors`: every API request fails: HTTP 500 and UDP `{"id":…,"error":…}` whose text
  echoes the API key it was given; admin errors (system-mode) echo the admin token;
- `distinct_errors`: each error text carries its own request id (all texts distinct);
- `admin_fail`: system-mode answers HTTP 500 echoing the admin token it was given;
- `profile_off`: system-mode echoes what it applied, the snapshots report other values;
- `no_flush`: no batch flush ever happens (batch_flushes 0, batch_flush_errors 0);
- `flush_errors`: no batch flush succeeds (batch_flushes 0, batch_flush_errors > 0);
- `admin_delay_s`: every admin answer waits this long; `admin_dead`: admin calls get no
  answer (the connection is held, bounded by `HOLD_S`, then closed).

The plan's nodes main, mirror and lrs are all served in cluster-stats: main holds the counters,
mirror and lrs report zeros (so cluster totals are the real counts), all report the config.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pytest_trinity.plan import Plan, load_plan

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
NODES = ("main", "mirror", "lrs")
REQUEST_COUNTERS = ("tcp_requests", "udp_requests", "packets_received", "lrs_requests")
HOLD_S = 30.0  # the longest an unanswered admin call is held open
PRICE = 97_123.45


@dataclass
class Misbehaviour:
    counters_as_strings: bool = False
    omit_request_counters: bool = False
    omit_counters: str = ""  # comma-separated counters not reported (e.g. "udp_dropped")
    ts_text: bool = False
    echo_key_errors: bool = False
    distinct_errors: bool = False
    admin_fail: bool = False
    profile_off: bool = False
    no_flush: bool = False
    flush_errors: bool = False
    admin_delay_s: float = 0.0
    admin_dead: bool = False

    def set(self, name: str, raw: str) -> None:
        if name not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(name)
        current = getattr(self, name)
        value: Any
        if isinstance(current, bool):
            value = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, str):
            value = raw
        else:
            value = float(raw)
        setattr(self, name, value)


class MisbehavingTarget:
    def __init__(self, public_key: str, partner_key: str, admin_token: str, plan: Plan | None = None,
                 misbehave: Misbehaviour | None = None):
        self.plan = plan or load_plan(REPO / "profiles.toml")
        self.keys = {public_key: "public", partner_key: "partner"}
        self.admin_token = admin_token
        self.misbehave = misbehave or Misbehaviour()
        self._defaults = dataclasses.replace(self.misbehave)
        self.lock = threading.Lock()
        self.counters = dict.fromkeys(self.plan.telemetry.counters, 0)
        self._ids = itertools.count(1)
        self.stop_event = threading.Event()
        restore = self.plan.profiles[self.plan.restore.profile]
        self.mode, self.governor = restore.name, self.plan.restore.governor
        self.admin_calls: list[str] = []
        self._threads: list[threading.Thread] = []
        self.admin_server = _server(self, _AdminHandler)
        self.api_server = _server(self, _ApiHandler)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, 0))
        self.udp.settimeout(0.2)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_server.server_address[1]}"

    @property
    def udp_addr(self) -> str:
        return f"{LOOPBACK}:{self.udp.getsockname()[1]}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> MisbehavingTarget:
        for name, fn in (("admin", self.admin_server.serve_forever), ("api", self.api_server.serve_forever),
                         ("udp", self._serve_udp)):
            thread = threading.Thread(target=fn, name=f"misbehaving-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.admin_server.shutdown()
        self.api_server.shutdown()
        self.admin_server.server_close()
        self.api_server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.udp.close()

    def __enter__(self) -> MisbehavingTarget:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_behaviour(self) -> None:
        """Every switch back to how the target was constructed, counters zeroed, production mode."""
        with self.lock:
            self.misbehave = dataclasses.replace(self._defaults)
            self.counters = dict.fromkeys(self.counters, 0)
            restore = self.plan.profiles[self.plan.restore.profile]
            self.mode, self.governor = restore.name, self.plan.restore.governor
            self.admin_calls.clear()

    # -- behaviour ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        profile = self.plan.profiles[self.mode]
        values = dict(profile.parameters(), mode=profile.name, adaptive_enabled=self.governor)
        if self.misbehave.profile_off:
            values = {k: (v + 1 if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in values.items()}
            values["mode"] = "legacy-" + profile.name
        return values

    def count(self, *names: str) -> None:
        with self.lock:
            for name in names:
                self.counters[name] += 1
            if "bg_submitted" in names:  # a usage row per request: batched, flushed (or not)
                self.counters["rows_queued"] += 1
                if self.misbehave.flush_errors:
                    self.counters["batch_flush_errors"] += 1
                elif not self.misbehave.no_flush:
                    self.counters["batch_flushes"] += 1

    def snapshot(self, node: str) -> dict[str, Any]:
        m = self.misbehave
        with self.lock:
            counters = dict(self.counters) if node == "main" else dict.fromkeys(self.counters, 0)
        counters["db_max_open"] = self.plan.profiles[self.mode].db_max_open
        if m.omit_request_counters:
            for name in REQUEST_COUNTERS:
                counters.pop(name, None)
        for name in filter(None, m.omit_counters.split(",")):
            counters.pop(name.strip(), None)
        sent: dict[str, Any] = {k: str(v) for k, v in counters.items()} if m.counters_as_strings else counters
        now = time.time()
        ts: Any = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)) if m.ts_text else now
        return {"node": node, "ts": ts, "counters": sent, "derived": {}, "config": self.config()}

    def error_text(self, what: str, key: str) -> str:
        text = what
        if self.misbehave.distinct_errors:
            text += f" (request {next(self._ids)})"
        if self.misbehave.echo_key_errors:
            text += f" for key {key}"
        return text

    def price(self, key: str) -> tuple[int, dict[str, Any]]:
        tier = self.keys.get(key)
        if tier is None:
            self.count("tcp_requests", "auth_failures", "errors_4xx")
            return 401, {"error": self.error_text("unknown key", key)}
        if self.misbehave.echo_key_errors:
            self.count("tcp_requests", "errors_5xx")
            return 500, {"error": self.error_text("internal error", key)}
        self.count("tcp_requests", "syncmap_hits", "bg_submitted", "bg_completed")
        return 200, {"symbol": "BTC-USD", "price": PRICE, "source": "syncmap", "ts": time.time()}

    def _serve_udp(self) -> None:
        while not self.stop_event.is_set():
            try:
                data, peer = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._datagram(data)
            if reply is not None:
                try:
                    self.udp.sendto(reply, peer)
                except OSError:
                    continue

    def _datagram(self, data: bytes) -> bytes | None:
        try:
            request = json.loads(data)
            ident, key = request["id"], str(request.get("key", ""))
        except (ValueError, KeyError, TypeError):
            return None
        self.count("udp_requests", "packets_received")
        if key not in self.keys:
            self.count("auth_failures", "packets_sent")
            body: dict[str, Any] = {"id": ident, "error": self.error_text("unknown key", key)}
        elif self.misbehave.echo_key_errors:
            self.count("packets_sent")
            body = {"id": ident, "error": self.error_text("internal error", key)}
        else:
            self.count("syncmap_hits", "bg_submitted", "bg_completed", "packets_sent")
            body = {"id": ident, "symbol": "BTC-USD", "price": PRICE, "ts": time.time()}
        return json.dumps(body, separators=(",", ":")).encode()


def _server(target: MisbehavingTarget, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    server.target = target  # type: ignore[attr-defined]
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall)

    @property
    def target(self) -> MisbehavingTarget:
        return self.server.target  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's name)
        pass

    def reply(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def query(self) -> tuple[str, dict[str, str]]:
        url = urlsplit(self.path)
        return url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}


class _ApiHandler(_Handler):
    def do_GET(self) -> None:  # noqa: N802  (the stdlib's name)
        path, params = self.query()
        key = self.headers.get("X-API-Key", "")
        if path == "/price":
            self.reply(*self.target.price(key))
        elif path == "/reports/usage":
            if key not in self.target.keys:
                self.target.count("auth_failures", "errors_4xx")
                self.reply(401, {"error": self.target.error_text("unknown key", key)})
                return
            self.target.count("lrs_requests")
            self.reply(200, {"key_id": params.get("key_id", ""), "requests": 0, "rows": []})
        else:
            self.reply(404, {"error": f"no such path {path}"})


class _AdminHandler(_Handler):
    def do_GET(self) -> None:  # noqa: N802  (the stdlib's name)
        path, params = self.query()
        target = self.target
        if path == "/test/misbehave":
            try:
                for name, raw in params.items():
                    target.misbehave.set(name, raw)
            except (KeyError, ValueError) as exc:
                self.reply(400, {"error": f"unknown switch or value: {exc}"})
                return
            self.reply(200, dataclasses.asdict(target.misbehave))
            return
        target.admin_calls.append(path)
        if target.misbehave.admin_dead:
            target.stop_event.wait(HOLD_S)
            self.close_connection = True
            return
        if target.misbehave.admin_delay_s:
            target.stop_event.wait(min(target.misbehave.admin_delay_s, HOLD_S))
        token = self.headers.get("X-Admin-Token", "")
        if token != target.admin_token:
            self.reply(401, {"error": "bad admin token"})
            return
        if path == "/admin/system-mode":
            self.system_mode(params, token)
        elif path == "/admin/stress-reset":
            with target.lock:
                for name in target.counters:
                    target.counters[name] = 0
            self.reply(200, {"reset": True, "nodes": list(NODES)})
        elif path == "/admin/stress-stats":
            self.reply(200, target.snapshot("main"))
        elif path == "/admin/cluster-stats":
            self.reply(200, {"nodes": {n: target.snapshot(n) for n in NODES}, "missing": []})
        else:
            self.reply(404, {"error": f"no such path {path}"})

    def system_mode(self, params: dict[str, str], token: str) -> None:
        target = self.target
        if target.misbehave.admin_fail:
            ident = f" (request {next(target._ids)})" if target.misbehave.distinct_errors else ""
            self.reply(500, {"error": f"system-mode failed{ident} for token {token}"})
            return
        mode = params.get("mode")
        if mode is not None:
            if mode not in target.plan.profiles:
                self.reply(400, {"error": f"unknown mode {mode!r}"})
                return
            target.mode = mode
        if "adaptive_enabled" in params:
            target.governor = params["adaptive_enabled"].lower() == "true"
        profile = target.plan.profiles[target.mode]
        self.reply(200, dict(profile.parameters(), mode=profile.name, adaptive_enabled=target.governor))
