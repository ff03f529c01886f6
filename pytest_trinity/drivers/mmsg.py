"""Batched datagram I/O for a connected UDP socket: `recvmmsg`/`sendmmsg` through ctypes
(Linux). One system call moves a whole batch, and an empty socket is reported by a short
count instead of a Python exception (socket.recv's BlockingIOError costs microseconds).
`MmsgIO.available()` is False where libc lacks the calls; the UDP driver then uses recv/send.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import socket
import sys

MSG_DONTWAIT = 0x40


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_IoVec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _recvmmsg = _libc.recvmmsg
        _recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
        _recvmmsg.restype = ctypes.c_int
        _sendmmsg = _libc.sendmmsg
        _sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        _sendmmsg.restype = ctypes.c_int
    except (OSError, AttributeError):
        _libc = None

_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class MmsgIO:
    """Batched I/O on one connected socket. Buffers are allocated once."""

    def __init__(self, sock: socket.socket, batch: int = 64, size: int = 2048) -> None:
        self.fd = sock.fileno()
        self.batch = batch
        self.size = size
        self.rbuf = (ctypes.c_char * (batch * size))()
        self.sbuf = (ctypes.c_char * (batch * size))()
        self.rview = memoryview(self.rbuf).cast("B")
        self.sview = memoryview(self.sbuf).cast("B")
        self.riov = (_IoVec * batch)()
        self.siov = (_IoVec * batch)()
        self.rmsgs = (_MMsgHdr * batch)()
        self.smsgs = (_MMsgHdr * batch)()
        rbase = ctypes.addressof(self.rbuf)
        sbase = ctypes.addressof(self.sbuf)
        for i in range(batch):
            self.riov[i].iov_base = rbase + i * size
            self.riov[i].iov_len = size
            self.siov[i].iov_base = sbase + i * size
            self.rmsgs[i].msg_hdr.msg_iov = ctypes.pointer(self.riov[i])
            self.rmsgs[i].msg_hdr.msg_iovlen = 1
            self.smsgs[i].msg_hdr.msg_iov = ctypes.pointer(self.siov[i])
            self.smsgs[i].msg_hdr.msg_iovlen = 1
        stride = ctypes.sizeof(_MMsgHdr)
        if stride % 4 or _MMsgHdr.msg_len.offset % 4 or ctypes.sizeof(_IoVec) != 16:
            raise OSError("unexpected struct layout")
        # msg_len of message i, and iov_len of send slot i, as plain integer views
        self.lens = memoryview(self.rmsgs).cast("B").cast("I")
        self.len_stride = stride // 4
        self.len_off = _MMsgHdr.msg_len.offset // 4
        self.siov_q = memoryview(self.siov).cast("B").cast("Q")
        self.rmsgs_addr = ctypes.addressof(self.rmsgs)
        self.smsgs_addr = ctypes.addressof(self.smsgs)
        # (offset of slot i in the receive buffer, index of its msg_len in `lens`)
        self.rslots = [(i * size, i * self.len_stride + self.len_off) for i in range(batch)]
        self.sbase = sbase
        self.packed = 0  # send iovecs laid out back to back at this length (0: one per slot)

    @staticmethod
    def available() -> bool:
        return _libc is not None

    def recv_batch(self) -> list[bytes]:
        """Up to `batch` datagrams waiting on the socket (an empty list when none)."""
        n = _recvmmsg(self.fd, self.rmsgs_addr, self.batch, MSG_DONTWAIT, None)
        if n <= 0:
            if n < 0 and ctypes.get_errno() not in _RETRY:
                return []  # ICMP errors (e.g. port unreachable): the requests will time out
            return []
        lens = self.lens
        view = self.rview
        return [view[o:o + lens[li]].tobytes() for o, li in self.rslots[:n]]

    def send_batch(self, datagrams: list[bytes]) -> int:
        """Send up to `batch` datagrams; returns how many the kernel took (-errno on error)."""
        self._unpack()
        view = self.sview
        q = self.siov_q
        size = self.size
        n = 0
        for d in datagrams:
            start = n * size
            ln = len(d)
            if ln > size:
                raise ValueError(f"datagram of {ln} bytes exceeds the {size}-byte slot")
            view[start:start + ln] = d
            q[2 * n + 1] = ln
            n += 1
        return self._send(n)

    def send_packed(self, blob: bytes, length: int) -> int:
        """Send `blob`, the concatenation of len(blob) // length datagrams of `length` bytes
        each (at most `batch`), with one copy; returns how many the kernel took (-errno)."""
        n = len(blob) // length
        if n * length != len(blob) or n > self.batch or length > self.size:
            raise ValueError(f"cannot pack {len(blob)} bytes as datagrams of {length} bytes")
        if self.packed != length:
            q = self.siov_q
            for i in range(self.batch):
                q[2 * i] = self.sbase + i * length
                q[2 * i + 1] = length
            self.packed = length
        self.sview[:len(blob)] = blob
        return self._send(n)

    def _unpack(self) -> None:
        if self.packed:
            q = self.siov_q
            for i in range(self.batch):
                q[2 * i] = self.sbase + i * self.size
            self.packed = 0

    def _send(self, n: int) -> int:
        sent: int = _sendmmsg(self.fd, self.smsgs_addr, n, 0)
        if sent < 0:
            return -ctypes.get_errno()
        return sent
