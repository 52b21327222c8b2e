# tests/dns/pstipc.py - the lib/ipc attribute protocol from Python: a frame is a
# 4-byte big-endian body length, then attributes `u16 name length, name, u32 value
# length, value`. Attribute order is kept and names may repeat, so messages are lists.
import socket
import struct


def encode(attrs):
    body = b""
    for name, value in attrs:
        n = name.encode()
        v = value if isinstance(value, bytes) else str(value).encode()
        body += struct.pack(">H", len(n)) + n + struct.pack(">I", len(v)) + v
    return struct.pack(">I", len(body)) + body


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def read(s):
    (length,) = struct.unpack(">I", _recv_exact(s, 4))
    body = _recv_exact(s, length)
    out, p = [], 0
    while p < len(body):
        (nl,) = struct.unpack(">H", body[p:p + 2])
        name = body[p + 2:p + 2 + nl].decode()
        p += 2 + nl
        (vl,) = struct.unpack(">I", body[p:p + 4])
        out.append((name, body[p + 4:p + 4 + vl].decode("utf-8", "replace")))
        p += 4 + vl
    return out


def call(path, attrs, timeout=30.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(encode(attrs))
        return read(s)
    finally:
        s.close()


def get(msg, name, default=None):
    for n, v in msg:
        if n == name:
            return v
    return default


def get_all(msg, name):
    return [v for n, v in msg if n == name]
