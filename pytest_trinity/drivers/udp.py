"""The UDP hot path for one shard: several connected non-blocking sockets drained with
`add_reader` + batched reads (recvmmsg where available, else `recv`), request ids correlating replies, timeouts turning requests into
`lost`, replies after the timeout counted `late` (never ok), error replies counted by text.
Drives the closed model (N requests, W in flight) and the open model (fixed rate).
"""

from __future__ import annotations

import errno
import socket
from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from time import monotonic_ns
from typing import cast

from pytest_trinity.drivers.codec import ID_HEAD, JsonCodec, make_codec
from pytest_trinity.drivers.core import KindState, ShardRun
from pytest_trinity.drivers.mmsg import MmsgIO
from pytest_trinity.drivers.openplan import OpenPlan
from pytest_trinity.drivers.registry import register_driver
from pytest_trinity.drivers.spec import OpenModel, UdpRequest

MMSG_BATCH = 64  # datagrams per recvmmsg/sendmmsg call
RECV_ROUNDS = 8  # batches read per readiness callback before yielding to the loop
_DROPPED = (-errno.EAGAIN, -errno.EWOULDBLOCK, -errno.ENOBUFS, -errno.EINTR)
EXPIRED_KEEP = 1 << 20  # ids remembered after their timeout, to recognise late replies
_first, _third = itemgetter(0), itemgetter(2)


Entry = tuple[int, int, KindState]  # a pending request: (t_send_ns, t_plan_ns, kind)


class UdpDriver(OpenPlan):
    """Runs one shard's UDP load (closed or open model)."""

    def __init__(self, run: ShardRun) -> None:
        super().__init__(run)
        spec = run.spec
        for k in run.kinds:
            if not isinstance(k.spec, UdpRequest):
                raise TypeError(f"the UDP driver got a {type(k.spec).__name__} ({k.name!r})")
            k.payload = make_codec(k.spec)
        self.decode = run.kinds[0].payload.decode
        self.fast_json = all(type(k.payload) is JsonCodec for k in run.kinds)
        self.socks: list[socket.socket] = []
        self.use_mmsg = MmsgIO.available() if spec.udp_batch_io is None else spec.udp_batch_io
        self.ios: list[MmsgIO] = []
        self.sock_i = 0
        # key -> (t_send_ns, t_plan_ns, kind); insertion order is send order. The key is the
        # request id, or with the JSON codec its head b'{"id":N', which its reply starts with too
        # (found with one `partition`, no integer parse).
        self.key = (ID_HEAD.__mod__ if self.fast_json else int)
        self.pending: dict[bytes | int, Entry] = {}
        self.expired: dict[bytes | int, KindState] = {}
        self.next_id = (run.shard.index << 40) + 1
        self.window = run.model.connections if isinstance(run.model, OpenModel) else run.model.concurrency
        self.grace_ns = int((spec.late_grace if spec.late_grace is not None else spec.timeout) * 1e9)
        self.settling = False  # all answered or timed out; waiting `grace_ns` for late replies
        self.settle_until = 0
        self.strays = 0
        run.housekeepers.append(self.check_timeouts)

    # --- sockets -------------------------------------------------------------------------
    def open_sockets(self) -> None:
        t = self.run.spec.target
        for i in range(max(1, self.run.spec.udp_sockets)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            except OSError:
                pass
            s.connect((t.host, t.port))
            self.socks.append(s)
            if self.use_mmsg:
                self.ios.append(MmsgIO(s, MMSG_BATCH))
            self.run.peak_connections = len(self.socks)
            self.loop.add_reader(s.fileno(), self.drain, i)

    def close_sockets(self) -> None:
        for s in self.socks:
            try:
                self.loop.remove_reader(s.fileno())
            except Exception:
                pass
            s.close()
        self.socks = []
        self.ios = []

    def _recv_plain(self, i: int) -> list[bytes]:
        recv = self.socks[i].recv
        out = []
        for _ in range(MMSG_BATCH):
            try:
                out.append(recv(2048))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # ICMP errors surface here; the request will time out as lost
        return out

    # --- hot path: replies -----------------------------------------------------------------
    def drain(self, i: int) -> None:
        receive = self.ios[i].recv_batch if self.use_mmsg else (lambda: self._recv_plain(i))
        replies = self._json_replies if self.fast_json else self._replies
        freed = 0
        for _ in range(RECV_ROUNDS):
            batch = receive()
            if batch:
                freed += replies(batch, monotonic_ns())
            if len(batch) < MMSG_BATCH:
                break  # the socket is empty: no extra call that would only say so
        if freed:
            self.refill()

    def _json_replies(self, batch: list[bytes], now: int) -> int:
        """A batch of JSON-codec replies, taken whole when every one is the common answer:
        `{"id":N,…}` ending in `}`, no `"error"`, no NUL byte (checked on all of them at once),
        each `{"id":N` the key of a pending request. Then the per-reply work runs in C
        (partition, pop, counting equal send records); otherwise reply by reply."""
        n = len(batch)
        parts = list(map(bytes.partition, batch, repeat(b",", n)))
        tails = b"\0".join(map(_third, parts))
        if (b'"error"' in tails or tails.count(b"\0") != n - 1 or tails.count(b"}\0") != n - 1
                or tails[-1:] != b"}"):
            return self._replies(batch, now)
        pending = self.pending
        before = len(pending)
        entries: list[Entry | None] = list(map(pending.pop, map(_first, parts), repeat(None, n)))
        freed = 0
        if before - len(pending) != n:  # some reply we no longer wait for (late, stray)
            for data, entry in zip(batch, entries, strict=True):
                if entry is None:
                    freed += self._replies([data], now)
            entries = [e for e in entries if e is not None]
        # requests sent in one batch of the closed model share one record: count them as one
        for (t_send, t_plan, kind), count in Counter(cast("list[Entry]", entries)).items():
            kind.raw.extend(repeat((now - t_plan) // 1000, count))
            if self.open:
                kind.raw_service.extend(repeat((now - t_send) // 1000, count))
            kind.tally.ok += count
            freed += count
        return freed

    def _replies(self, batch: list[bytes], now: int) -> int:
        """Replies one by one, through the codec where the common form does not fit."""
        decode = self.decode
        fast_json = self.fast_json
        pop = self.pending.pop
        open_model = self.open
        freed = 0
        for data in batch:
            entry: Entry | None = None
            err: str | None = None
            if fast_json:
                # the JSON codec's common reply `{"id":N,…}`: its head is the pending key
                head, _, tail = data.partition(b",")
                if tail[-1:] == b"}" and b'"error"' not in tail:
                    entry = pop(head, None)
            if entry is None:  # any other reply, or one we no longer wait for
                try:
                    rid, err = decode(data)
                except ValueError:
                    self.strays += 1
                    continue
                key = self.key(rid)
                entry = pop(key, None)
                if entry is None:
                    kind = self.expired.pop(key, None)
                    if kind is not None:
                        kind.tally.lost -= 1
                        kind.tally.late += 1
                    else:
                        self.strays += 1
                    continue
            t_send, t_plan, kind = entry
            kind.raw.append((now - t_plan) // 1000)
            if open_model:
                kind.raw_service.append((now - t_send) // 1000)
            if err is None:
                kind.tally.ok += 1
            else:
                kind.tally.error_reply(err)
            freed += 1
        return freed

    # --- hot path: requests ----------------------------------------------------------------
    def refill(self) -> None:
        run = self.run
        if run.stopping:
            return
        room = self.window - len(self.pending)
        if self.open:
            backlog = self.backlog
            if self.generating:
                self._fill_due(monotonic_ns())
            n = min(room, len(backlog))
            if n > 0:
                self._emit(n, [self._plan_for_send() for _ in range(n)])
            self._maybe_done()
            return
        n = room if room < run.remaining else run.remaining
        if n > 0:
            run.remaining -= n
            self._emit(n, None)
        if run.remaining <= 0 and not self.pending:
            self._settle()

    def _emit(self, n: int, planned: list[int] | None) -> None:
        """Send `n` new requests, spread over the sockets in batches; `planned`: the open
        model's planned send times (the closed model plans = sends)."""
        run = self.run
        cycle = run.cycle_kinds
        single = cycle[0] if run.cycle_len == 1 else None
        pos = run.cycle_pos
        rid = self.next_id
        pending = self.pending
        ns = len(self.socks)
        per_sock = -(-n // ns)
        j = 0
        while j < n:
            m = min(per_sock, n - j, MMSG_BATCH)
            kinds = [single] * m if single is not None else [cycle[(pos + k) % run.cycle_len] for k in range(m)]
            heads = [ID_HEAD % r for r in range(rid, rid + m)] if self.fast_json else None
            keys: Sequence[bytes | int] = heads if heads is not None else range(rid, rid + m)
            si = self.sock_i % ns
            self.sock_i += 1
            if heads is not None and single is not None and self.use_mmsg and len(heads[0]) == len(heads[-1]):
                # one kind, ids of one width: the batch is one join, copied into place at once
                rest = single.payload.rest
                blob = rest.join(heads) + rest
                t = monotonic_ns()
                sent = self.ios[si].send_packed(blob, len(blob) // m)
            else:
                if heads is not None:
                    datas = [heads[k] + kinds[k].payload.rest for k in range(m)]
                else:
                    datas = [kinds[k].payload.encode(rid + k) for k in range(m)]
                t = monotonic_ns()
                sent = self.ios[si].send_batch(datas) if self.use_mmsg else self._send_plain(si, datas)
            if sent > 0 and single is not None and planned is None:
                pending.update(zip(keys[:sent], repeat((t, t, single))))
                single.tally.sent += sent
            else:
                for k in range(max(sent, 0)):
                    kinds[k].tally.sent += 1
                    pending[keys[k]] = (t, planned[j + k] if planned else t, kinds[k])
            for k in range(max(sent, 0), m):
                if sent < 0 and sent not in _DROPPED:
                    kinds[k].tally.connect_error += 1  # e.g. ICMP port unreachable reported on send
                else:
                    kinds[k].tally.lost += 1  # the kernel dropped it before it left
            pos += m
            rid += m
            j += m
        run.cycle_pos = pos
        self.next_id = rid

    def _send_plain(self, si: int, datas: list[bytes]) -> int:
        send = self.socks[si].send
        for k, d in enumerate(datas):
            try:
                send(d)
            except (BlockingIOError, InterruptedError):
                return k if k else -errno.EAGAIN
            except OSError as exc:
                return k if k else -(exc.errno or errno.EIO)
        return len(datas)

    # --- open-plan hooks -----------------------------------------------------------------
    def _send_due(self) -> None:
        self.refill()

    def _in_flight(self) -> bool:
        return bool(self.pending)

    def _drained(self) -> None:
        self._settle()

    def _abandon_in_flight(self) -> None:
        for _, _, kind in self.pending.values():
            kind.tally.abandoned += 1
        self.pending.clear()
        if not self.done.done():
            self.done.set_result(None)

    def _settle(self) -> None:
        """All requests answered or timed out: wait the grace period for late replies."""
        if self.done.done() or self.settling:
            return
        self.settling = True
        if not self.expired:
            self.done.set_result(None)
            return
        self.settle_until = monotonic_ns() + self.grace_ns

    # --- bounds --------------------------------------------------------------------------
    def check_timeouts(self, now: int) -> None:
        limit = now - self.run.timeout_ns
        pending = self.pending
        old = []
        for rid, entry in pending.items():
            if entry[0] >= limit:
                break
            old.append(rid)
        backlog = self.backlog
        while backlog and backlog[0] < limit:  # waited a whole timeout for room in the window
            backlog.popleft()
            self.run.unsent += 1
        expired = self.expired
        for rid in old:
            kind = pending.pop(rid)[2]
            kind.tally.lost += 1
            expired[rid] = kind
        while len(expired) > EXPIRED_KEEP:
            del expired[next(iter(expired))]
        if old:
            self.refill()
        if self.settling and not self.done.done() and (not self.expired or now >= self.settle_until):
            self.done.set_result(None)

    async def drive(self) -> None:
        run = self.run
        if run.total <= 0:
            return
        self.open_sockets()
        try:
            if isinstance(run.model, OpenModel):
                self._start_plan(run.model)
            else:
                self.refill()
            await self.done
        finally:
            self.close_sockets()


async def drive_udp(run: ShardRun) -> None:
    await UdpDriver(run).drive()


register_driver("udp", drive_udp)
