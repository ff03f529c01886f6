"""A UDP codec defined outside the package, selected by import name in the codec tests:
`UdpRequest(codec="tests.drivers.pipe_codec:PipeCodec")`. Request `<id>|<symbol>`; reply
`<id>|ok|<price>` or `<id>|err|<text>`. `PipeResponder` answers it (id % 10 == 7: error "busy")."""

from __future__ import annotations

import socket
import threading

from pytest_trinity.drivers.spec import UdpRequest

SEPARATOR = b"|"


class PipeCodec:
    def __init__(self, kind: UdpRequest) -> None:
        self.tail = SEPARATOR + kind.symbol.encode()

    def encode(self, request_id: int) -> bytes:
        return b"%d" % request_id + self.tail

    @staticmethod
    def decode(datagram: bytes) -> tuple[int, str | None]:
        parts = datagram.split(SEPARATOR)
        if len(parts) != 3 or parts[1] not in (b"ok", b"err"):
            raise ValueError(f"not a pipe-codec reply: {datagram!r}")
        return int(parts[0]), (parts[2].decode() if parts[1] == b"err" else None)


class PipeResponder(threading.Thread):
    """Answers pipe-codec requests on a loopback port until `stop()`; counts what it answered."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.ok = 0
        self.errors = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            rid, _, symbol = data.partition(SEPARATOR)
            if int(rid) % 10 == 7:
                self.errors += 1
                reply = rid + b"|err|busy"
            else:
                self.ok += 1
                reply = rid + b"|ok|" + str(len(symbol)).encode()
            self.sock.sendto(reply, addr)

    def stop(self) -> None:
        self.running = False
        self.join(5)
        self.sock.close()
