#!/usr/bin/env python3
"""Prints the bytes of haproxy.cfg.in's active health check, in hex.

One HTTP/2 exchange by hand: the client preface, an empty SETTINGS frame,
a HEADERS frame for POST /grpc.health.v1.Health/Check (HPACK without
Huffman: indexed :method POST and :scheme http, literal :path, :authority,
content-type and te) and a DATA frame holding an empty HealthCheckRequest
(gRPC framing: not compressed, length 0) that ends the stream.
"""


def literal(name, value):
    """A literal header field without indexing, new name (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    return bytes([0, len(n)]) + n + bytes([len(v)]) + v


def indexed_name(index, value):
    """A literal without indexing whose name is static table entry `index`."""
    v = value.encode()
    return bytes([index, len(v)]) + v


def frame(kind, flags, stream, payload):
    return (len(payload).to_bytes(3, "big") + bytes([kind, flags]) +
            stream.to_bytes(4, "big") + payload)


HEADERS, DATA, SETTINGS = 1, 0, 4
END_STREAM, END_HEADERS = 1, 4
headers = (bytes([0x83, 0x86]) +  # :method POST, :scheme http
           indexed_name(4, "/grpc.health.v1.Health/Check") +  # :path
           indexed_name(1, "oracle") +  # :authority
           literal("content-type", "application/grpc") +
           literal("te", "trailers"))
request = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, b"") +
           frame(HEADERS, END_HEADERS, 1, headers) +
           frame(DATA, END_STREAM, 1, b"\0\0\0\0\0"))
print(request.hex())
