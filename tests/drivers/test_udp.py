"""UDP driver correctness: ok, lost, late and error replies counted exactly against a responder
that drops, delays and refuses known sets of request ids; the JSON codec."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from conftest import server_process, udp_stats

from pytest_trinity.drivers import ClosedModel, JsonCodec, LoadSpec, OpenModel, Target, UdpRequest, run_load, run_load_async

TIMEOUT_MS = 300


def expected(ids: range) -> dict[str, int]:
    rules = {3: "lost", 5: "late", 7: "error"}
    out = {"ok": 0, "lost": 0, "late": 0, "error": 0}
    for i in ids:
        out[rules.get(i % 10, "ok")] += 1
    return out


@pytest.fixture
def responder() -> int:
    with server_process("udp", "--timeout-ms", str(TIMEOUT_MS)) as port:
        yield port


@pytest.mark.parametrize("batch_io", [True, False], ids=["recvmmsg", "recv"])
def test_lost_late_and_error_replies_are_exact(responder: int, batch_io: bool) -> None:
    n = 777
    spec = LoadSpec(Target("127.0.0.1", responder), (UdpRequest("price", api_key="udp-secret"),),
                    ClosedModel(n, 32), max_requests=n, max_seconds=60, timeout=TIMEOUT_MS / 1000,
                    late_grace=1.5, udp_sockets=3, udp_batch_io=batch_io)
    r = asyncio.run(run_load_async(spec))
    o = r.outcomes
    exp = expected(range(1, n + 1))  # a single shard numbers its requests 1..n
    assert o.sent == n
    assert o.ok == exp["ok"]
    assert o.lost == exp["lost"]
    assert o.late == exp["late"]
    assert o.error_replies == {"rate_limited": exp["error"]}
    assert o.completed == n and o.abandoned == 0
    stats = udp_stats(responder)
    assert stats["received"] == n and stats["dropped"] == exp["lost"] and stats["delayed"] == exp["late"]
    # latencies only for answered requests (ok + error replies), never for late ones
    assert r.latency.count == exp["ok"] + exp["error"]
    assert r.latency.percentile_us(100) < TIMEOUT_MS * 1000 + 200_000
    assert "udp-secret" not in repr(spec) and "udp-secret" not in str(r.to_dict())


def test_open_model_udp_over_two_processes(responder: int) -> None:
    spec = LoadSpec(Target("127.0.0.1", responder), (UdpRequest("price"),),
                    OpenModel(rate=400, duration=1.5, connections=64, late_send_us=50_000),
                    max_requests=10_000, max_seconds=30, timeout=TIMEOUT_MS / 1000, late_grace=2.0, processes=2)
    r = run_load(spec)
    o = r.outcomes
    assert r.shards == 2
    assert o.sent + r.unsent == 600
    assert udp_stats(responder)["received"] == o.sent
    assert o.ok + o.lost + o.late + sum(o.error_replies.values()) == o.sent
    assert o.lost > 0 and o.late > 0 and o.ok > 0


def test_json_codec_round_trip() -> None:
    codec = JsonCodec(UdpRequest("x", symbol="ETH-USD", api_key="k"))
    assert codec.encode(18446744073709551615) == b'{"id":18446744073709551615,"key":"k","symbol":"ETH-USD"}'
    assert codec.decode(b'{"id":42,"symbol":"BTC-USD","price":1.0,"ts":1}') == (42, None)
    assert codec.decode(b'{"id":43,"error":"monthly_cap"}') == (43, "monthly_cap")
    assert codec.decode(b'{"symbol":"BTC-USD", "id": 44}') == (44, None)
    assert codec.decode(b'{"id": 45 , "price": 2}') == (45, None)
    with pytest.raises(ValueError):
        codec.decode(b"not json")
    with pytest.raises(ValueError):
        codec.decode(b'{"price":1}')


from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(rid=st.integers(min_value=0, max_value=2**64 - 1), symbol=st.text(max_size=12),
       key=st.one_of(st.none(), st.text(max_size=20)))
def test_json_codec_round_trips_any_id(rid: int, symbol: str, key: str | None) -> None:
    import json as _json

    codec = JsonCodec(UdpRequest("x", symbol=symbol, api_key=key))
    sent = _json.loads(codec.encode(rid))
    assert sent["id"] == rid and sent["symbol"] == symbol and sent.get("key") == key
    reply = _json.dumps({"id": rid, "symbol": symbol, "price": 1.5, "ts": 1}, separators=(",", ":")).encode()
    assert codec.decode(reply) == (rid, None)
    assert codec.decode(_json.dumps({"id": rid, "error": symbol}).encode()) == (rid, symbol)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64) | st.builds(lambda b: b'{"id":' + b, st.binary(max_size=32)))
def test_json_codec_rejects_garbage_with_value_error_only(data: bytes) -> None:
    try:
        rid, err = JsonCodec.decode(data)
    except ValueError:
        return
    assert isinstance(rid, int) and (err is None or isinstance(err, str))


def test_truncated_reply_is_not_mistaken_for_an_id() -> None:
    with pytest.raises(ValueError):
        JsonCodec.decode(b'{"id":123')
    with pytest.raises(ValueError):
        JsonCodec.decode(b'{"id":12,"price":1')


def test_batched_io_moves_datagrams_exactly_in_both_send_layouts() -> None:
    from pytest_trinity.drivers.mmsg import MmsgIO

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind(("127.0.0.1", 0))
        tx.connect(rx.getsockname())
        rx.connect(tx.getsockname())
        rx.setblocking(False)
        send, recv = MmsgIO(tx, batch=8, size=64), MmsgIO(rx, batch=8, size=64)
        rounds = [
            [b"a%d" % i for i in range(10, 18)],          # packed: 8 x 3 bytes
            [b"x", b"yy", b"z" * 64],                      # one per slot, slot-sized last one
            [b"bb%d" % i for i in range(100, 103)],        # packed again, another length
        ]
        for datagrams in rounds:
            if len({len(d) for d in datagrams}) == 1:
                assert send.send_packed(b"".join(datagrams), len(datagrams[0])) == len(datagrams)
            else:
                assert send.send_batch(datagrams) == len(datagrams)
            got: list[bytes] = []
            deadline = time.monotonic() + 5
            while len(got) < len(datagrams) and time.monotonic() < deadline:
                got += recv.recv_batch()
            assert got == datagrams
        assert recv.recv_batch() == []
        with pytest.raises(ValueError, match="cannot pack"):
            send.send_packed(b"abcde", 2)
        with pytest.raises(ValueError, match="exceeds the 64-byte slot"):
            send.send_batch([b"z" * 65])


def _driver_state(kind_spec: UdpRequest):  # a UdpDriver's reply-side state, without sockets or a loop
    from pytest_trinity.drivers.codec import ID_HEAD
    from pytest_trinity.drivers.core import KindState
    from pytest_trinity.drivers.udp import UdpDriver

    d = UdpDriver.__new__(UdpDriver)
    kind = KindState(kind_spec, False)
    kind.tally.lost = 5
    d.fast_json, d.open, d.key, d.decode, d.strays = True, False, ID_HEAD.__mod__, JsonCodec.decode, 0
    shared = (1_000, 1_000, kind)  # one closed-model send batch shares its record
    d.pending = {ID_HEAD % i: shared if i <= 10 else (1_000 * i, 1_000 * i, kind) for i in range(1, 21)}
    d.expired = {ID_HEAD % i: kind for i in range(21, 26)}
    return d, kind


_REPLY = st.one_of(
    st.builds(lambda i: b'{"id":%d,"symbol":"BTC-USD","price":1.5,"ts":1}' % i, st.integers(1, 30)),
    st.builds(lambda i, e: b'{"id":%d,"error":"%s"}' % (i, e), st.integers(1, 30), st.sampled_from([b"rate_limited", b"x"])),
    st.builds(lambda i: b'{"id": %d ,"price":2}' % i, st.integers(1, 30)),
    st.builds(lambda i: b'{"id":%d,"symbol":"a\x00b"}' % i, st.integers(1, 30)),
    st.builds(lambda i: b'{"id":%d,"a":"}\x00"' % i, st.integers(1, 30)),  # "}\0" inside, no closing brace
    st.builds(lambda i: b'{"id":%d,"symbol":"x","error":"late"}' % i, st.integers(1, 30)),
    st.builds(lambda i, cut: (b'{"id":%d,"symbol":"BTC-USD","ts":1}' % i)[:cut], st.integers(1, 30), st.integers(1, 40)),
    st.binary(max_size=24),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_REPLY, min_size=1, max_size=12))
@example([b'{"id":3,"a":"}\x00"', b'{"id":4,"symbol":"BTC-USD","price":1.5,"ts":1}'])  # a separator look-alike
def test_whole_batch_reply_path_counts_exactly_like_reply_by_reply(batch: list[bytes]) -> None:
    spec = UdpRequest("price")
    whole, wk = _driver_state(spec)
    single, sk = _driver_state(spec)
    freed_whole = whole._json_replies(list(batch), 2_000_000)
    freed_single = single._replies(list(batch), 2_000_000)
    assert freed_whole == freed_single
    assert wk.tally.freeze() == sk.tally.freeze()
    assert sorted(wk.raw) == sorted(sk.raw)
    assert list(whole.pending) == list(single.pending) and list(whole.expired) == list(single.expired)
    assert whole.strays == single.strays


PIPE_CODEC = "tests.drivers.pipe_codec:PipeCodec"


def test_a_codec_named_by_import_path_runs_in_the_worker_processes() -> None:
    from pipe_codec import PipeResponder

    responder = PipeResponder()
    responder.start()
    try:
        n = 600
        spec = LoadSpec(Target("127.0.0.1", responder.port), (UdpRequest("pipe", symbol="ETH-USD", codec=PIPE_CODEC),),
                        ClosedModel(n, 8), max_requests=n, max_seconds=60, timeout=2.0, processes=2)
        r = run_load(spec)
    finally:
        responder.stop()
    o = r.outcomes
    assert r.shards == 2 and o.sent == n
    assert o.lost == 0 and o.late == 0  # only the pipe codec gets answers from this responder
    assert o.ok == responder.ok and o.ok > 0
    assert o.error_replies == {"busy": responder.errors} and responder.errors > 0
    assert o.ok + responder.errors == n


@pytest.mark.parametrize("name", ["no-such-codec", "no.such.module:Codec", "tests.drivers.pipe_codec:Missing",
                                  "tests.drivers.pipe_codec:SEPARATOR", ":PipeCodec", "tests.drivers.pipe_codec:"])
def test_a_codec_name_that_does_not_resolve_is_a_value_error_naming_it(name: str) -> None:
    from pytest_trinity.drivers.codec import make_codec

    with pytest.raises(ValueError, match=repr(name).replace(".", r"\.")):
        make_codec(UdpRequest("x", codec=name))


def test_the_json_codec_is_the_default() -> None:
    from pytest_trinity.drivers.codec import make_codec

    assert type(make_codec(UdpRequest("x"))) is JsonCodec
    assert type(make_codec(UdpRequest("x", codec=PIPE_CODEC))).__name__ == "PipeCodec"
