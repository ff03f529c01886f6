"""UDP request/reply codecs. A codec turns a request id into datagram bytes and a reply
datagram back into (id, error text or None). The default is DESIGN.md's JSON codec:
`{"id":<u64>,"key":"…","symbol":"…"}` → `{"id":<same>,"symbol","price","ts"}` or
`{"id":…,"error":"…"}`. Any other codec is named by import path, "package.module:factory",
so that every worker process resolves it by importing that module (`make_codec`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Protocol

from pytest_trinity.drivers.spec import UdpRequest


class Codec(Protocol):
    def encode(self, request_id: int) -> bytes: ...

    def decode(self, datagram: bytes) -> tuple[int, str | None]:
        """(request id, error text or None); raises ValueError for an undecodable datagram."""
        ...


ID_HEAD = b'{"id":%d'  # a JSON request's and its reply's common head, up to the first comma


class JsonCodec:
    """The JSON codec. Encoding appends the id to prebuilt bytes; decoding reads the id from
    the reply's head without a JSON parse unless the reply is an error or oddly laid out."""

    __slots__ = ("rest",)

    def __init__(self, kind: UdpRequest) -> None:
        tail = {"symbol": kind.symbol} if kind.api_key is None else {"key": kind.api_key, "symbol": kind.symbol}
        self.rest = b"," + json.dumps(tail, separators=(",", ":")).encode()[1:]

    def encode(self, request_id: int) -> bytes:
        return ID_HEAD % request_id + self.rest

    def __repr__(self) -> str:
        return "JsonCodec()"

    @staticmethod
    def decode(datagram: bytes) -> tuple[int, str | None]:
        if datagram.startswith(b'{"id":') and b'"error"' not in datagram:
            end = datagram.find(b",", 6)
            if end > 6 and datagram.endswith(b"}"):
                try:
                    return int(datagram[6:end]), None
                except ValueError:
                    pass
        try:
            obj = json.loads(datagram)
            rid = obj["id"]
            if not isinstance(rid, int) or isinstance(rid, bool):
                raise ValueError("id is not an integer")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"undecodable reply: {exc}") from None
        err = obj.get("error")
        return rid, (None if err is None else str(err))


CodecFactory = Callable[[UdpRequest], Codec]


def make_codec(kind: UdpRequest) -> Codec:
    """The codec `kind.codec` names: "json", or "package.module:factory" (the module is
    imported here, in the worker; `factory(kind)` returns the codec). A name that does not
    resolve raises ValueError naming it."""
    name = kind.codec
    if name == "json":
        return JsonCodec(kind)
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"unknown UDP codec {name!r}: use 'json' or 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"UDP codec {name!r} does not resolve: {type(exc).__name__}: {exc}") from None
    if not callable(factory):
        raise ValueError(f"UDP codec {name!r} is not a factory (not callable)")
    codec: Codec = factory(kind)
    return codec
