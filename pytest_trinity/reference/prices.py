"""The three-layer price lookup: the in-process map fed by six simulated exchange feeds (layer 1),
Redis (layer 2) and a simulated slow REST fallback (layer 3).

No network: each feed is a task that moves its prices by a small random walk. A hit in the map
is answered synchronously from a response prebuilt as bytes at tick time; a miss goes to Redis,
then to the REST fallback, which stores what it found in Redis and in the map. The TTL of both
layers is the active profile's `ttl_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import dataclass
from typing import Any

# (exchange, quote currency, bases it lists): symbols are BASE-QUOTE as the plan writes BTC-USD.
FEEDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("coinbase", "USD", ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "AVAX", "LINK", "DOT")),
    ("gemini", "USD", ("BTC", "ETH", "SOL", "DOGE", "LTC", "LINK")),
    ("kraken", "USD", ("BTC", "ETH", "SOL", "XRP", "ADA", "DOT")),
    ("gateio", "USDT", ("BTC", "ETH", "SOL", "XRP", "DOGE", "TRX")),
    ("bybit", "USDT", ("BTC", "ETH", "SOL", "XRP", "TON")),
    ("okx", "USDT", ("BTC", "ETH", "SOL", "DOGE", "TON", "TRX")),
)
CACHE_PREFIX = "price:"
MAX_SYMBOLS = 65536  # bound of the map: beyond it, symbols no feed lists are forgotten


def _seed_price(symbol: str) -> float:
    """A stable starting price per symbol, so every node and the fallback roughly agree."""
    digest = hashlib.sha256(symbol.encode()).digest()
    return round(1 + int.from_bytes(digest[:4], "big") % 60_000 + digest[4] / 256, 4)


def valid_symbol(symbol: str) -> bool:
    base, sep, quote = symbol.partition("-")
    return bool(sep) and 1 <= len(base) <= 12 and 2 <= len(quote) <= 6 and (base + quote).isalnum() and symbol.isupper()


@dataclass(frozen=True)
class Entry:
    """One price in the map, with its answers prebuilt: the HTTP body and the UDP tail."""

    symbol: str
    price: float
    ts: float          # epoch seconds of the quote
    stored: float      # monotonic time the map got it (for the TTL)
    http_body: bytes   # {"symbol","price","source":"syncmap","ts"}
    http_response: bytes  # the whole HTTP/1.1 200 answer carrying http_body
    udp_tail: bytes    # ,"symbol":…,"price":…,"ts":…}  (the id goes in front)

    @classmethod
    def make(cls, symbol: str, price: float, ts: float) -> Entry:
        fields = b'"symbol":"%s","price":%s' % (symbol.encode(), repr(price).encode())
        stamp = b'"ts":%s' % repr(round(ts, 3)).encode()
        body = b"{" + fields + b',"source":"syncmap",' + stamp + b"}"
        return cls(symbol, price, ts, time.monotonic(), body, ok_response(body), b"," + fields + b"," + stamp + b"}")


def ok_response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def body_for(symbol: str, price: float, ts: float, source: str) -> bytes:
    return json.dumps({"symbol": symbol, "price": price, "source": source, "ts": round(ts, 3)}, separators=(",", ":")).encode()


class PriceBook:
    """The lookup. `get_fresh` is the synchronous hot path; `resolve` the slow path on a miss."""

    def __init__(self, counters: Any, redis: Any, rest_latency_s: float, tick_s: float) -> None:
        self.counters = counters
        self.redis = redis
        self.rest_latency_s = rest_latency_s
        self.tick_s = tick_s
        self.ttl_s = 0.0
        self.cache_read_s = 1.0
        self.map: dict[str, Entry] = {}
        self.quotes: dict[str, dict[str, float]] = {}
        self.paused = False
        self._inflight: dict[str, asyncio.Future[tuple[Entry, str]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def configure(self, ttl_s: float, cache_read_ms: float) -> None:
        self.ttl_s = float(ttl_s)
        self.cache_read_s = cache_read_ms / 1000.0

    # ---- layer 1: the map and its feeds -------------------------------------------------
    def start_feeds(self) -> None:
        for exchange, quote, bases in FEEDS:
            self._tasks.append(asyncio.create_task(self._feed(exchange, quote, bases), name=f"feed-{exchange}"))
        # Prime the map synchronously so the first request is already a map hit.
        for exchange, quote, bases in FEEDS:
            for base in bases:
                self._tick(exchange, f"{base}-{quote}", random.Random(exchange))

    async def stop_feeds(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _tick(self, exchange: str, symbol: str, rng: random.Random) -> None:
        quotes = self.quotes.setdefault(symbol, {})
        last = quotes.get(exchange) or _seed_price(symbol)
        price = round(last * (1 + rng.gauss(0, 0.0005)), 4)
        quotes[exchange] = price
        self.map[symbol] = Entry.make(symbol, price, time.time())

    async def _feed(self, exchange: str, quote: str, bases: tuple[str, ...]) -> None:
        rng = random.Random(f"{exchange}-{time.time_ns()}")
        while True:
            await asyncio.sleep(self.tick_s * rng.uniform(0.5, 1.5))
            if self.paused:
                continue
            for base in bases:
                self._tick(exchange, f"{base}-{quote}", rng)

    def get_fresh(self, symbol: str) -> Entry | None:
        """Layer 1: the map entry if younger than the TTL. Counts a syncmap hit when it answers."""
        entry = self.map.get(symbol)
        if entry is not None and time.monotonic() - entry.stored < self.ttl_s:
            self.counters.syncmap_hits += 1
            return entry
        return None

    # ---- layers 2 and 3 ----------------------------------------------------------------
    async def resolve(self, symbol: str) -> tuple[Entry, str]:
        """A miss: Redis, then the REST fallback. Concurrent misses of one symbol share a lookup."""
        pending = self._inflight.get(symbol)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[tuple[Entry, str]] = asyncio.get_running_loop().create_future()
        self._inflight[symbol] = fut
        try:
            result = await self._resolve(symbol)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: sharers re-raise it themselves
            raise
        finally:
            del self._inflight[symbol]

    async def _resolve(self, symbol: str) -> tuple[Entry, str]:
        cached = await self._from_cache(symbol)
        if cached is not None:
            self.counters.cache_hits += 1
            entry = Entry.make(symbol, cached[0], cached[1])
            self._remember(entry)
            return entry, "cache"
        self.counters.rest_fallbacks += 1
        await asyncio.sleep(self.rest_latency_s)
        quotes = self.quotes.get(symbol)
        price = round(sum(quotes.values()) / len(quotes), 4) if quotes else _seed_price(symbol)
        entry = Entry.make(symbol, price, time.time())
        self._remember(entry)
        await self.store(entry)
        return entry, "rest"

    def _remember(self, entry: Entry) -> None:
        if len(self.map) >= MAX_SYMBOLS:
            self.map = {s: e for s, e in self.map.items() if s in self.quotes}
        self.map[entry.symbol] = entry

    async def _from_cache(self, symbol: str) -> tuple[float, float] | None:
        try:
            raw = await asyncio.wait_for(self.redis.get(CACHE_PREFIX + symbol), self.cache_read_s)
        except (TimeoutError, OSError, ConnectionError) as exc:
            _ = exc  # a cache failure is a miss: the REST fallback answers
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return float(data["price"]), float(data["ts"])

    async def store(self, entry: Entry) -> None:
        await self.redis.set(CACHE_PREFIX + entry.symbol, json.dumps({"price": entry.price, "ts": entry.ts}), px=max(int(self.ttl_s * 1000), 1))

    async def store_feed_prices(self) -> None:
        """Write the feed prices to layer 2 (one pipeline), as the feeds' consumers would."""
        if not self.map or self.paused:
            return
        pipe = self.redis.pipeline(transaction=False)
        ttl_ms = max(int(self.ttl_s * 1000), 1)
        for symbol in self.quotes:
            e = self.map.get(symbol)
            if e is not None:
                pipe.set(CACHE_PREFIX + symbol, json.dumps({"price": e.price, "ts": e.ts}), px=ttl_ms)
        await pipe.execute()


