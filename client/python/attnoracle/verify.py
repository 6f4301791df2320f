"""Checks a revealed challenge against what the server promised, after
docs/VERIFICATION.md: the commitment opens with the revealed secret and
nonce, every link of the learner's transcript hash chain holds, and every
answer is the revealed layer's output on its query, with the seeded noise
and the declared precision.

The seeded generator, the noise and the bytes are reproduced bit for bit;
the forward pass is numpy's (``ao.layer``), whose last bits may differ from
the server's build, so answers are compared within a tolerance
(docs/VERIFICATION.md, "Verifying from Python"). ``oracle-client verify``
compares answers bit for bit.
"""

import hashlib
import math
import struct

import numpy as np

from attnoracle import layer
from attnoracle.errors import VerificationError

MASK64 = (1 << 64) - 1
STREAM_NOISE = 2
# Relative tolerance of a replayed float64 answer: the forward passes agree
# to about 1e-15, noise and rounding are exact.
ANSWER_REL_TOLERANCE = 1e-12


def _splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def derive_seed(seed, stream, index):
    _, a = _splitmix64(seed)
    _, b = _splitmix64(a ^ stream)
    _, c = _splitmix64(b ^ index)
    return c


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


def portable_log(x):
    """The server's logarithm, made of basic IEEE operations only."""
    m, e = math.frexp(x)
    if m < 0.70710678118654752440:
        m *= 2.0
        e -= 1
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    series = 1.0 / 25.0
    for k in range(11, -1, -1):
        series = series * t2 + 1.0 / (2 * k + 1)
    log_m = 2.0 * t * series
    de = float(e)
    return de * 6.93147180369123816490e-01 + (
        log_m + de * 1.90821492927058770002e-10)


class Rng:
    """xoshiro256** seeded by splitmix64, with the polar-method gaussian."""

    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed, word = _splitmix64(seed)
            self.s.append(word)
        self.spare = None

    def next_u64(self):
        s = self.s
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def next_uniform(self):
        return float(self.next_u64() >> 11) * 2.0 ** -53

    def next_gaussian(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        while True:
            u = 2.0 * self.next_uniform() - 1.0
            v = 2.0 * self.next_uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        f = math.sqrt(-2.0 * portable_log(s) / s)
        self.spare = v * f
        return u * f


def noise(noise_seed, query_index, sigma, count):
    """The noise added to the answer of the sequence with this query index:
    `count` numbers in row-major order."""
    rng = Rng(derive_seed(noise_seed, STREAM_NOISE, query_index))
    return np.array([sigma * rng.next_gaussian() for _ in range(count)])


def _put_matrix(a):
    a = np.ascontiguousarray(a, dtype="<f8")
    return struct.pack("<II", *a.shape) + a.tobytes()


def encode_params(spec, params):
    """The secret's canonical bytes (EncodeParams), factor form only."""
    out = struct.pack("<I", len(params["heads"]))
    for h in params["heads"]:
        for name in ("wq", "wk", "wv", "wo"):
            out += _put_matrix(h[name])
        for name in ("bq", "bk", "bv"):
            out += _put_vector(h.get(name) if spec.biases else None)
    return out + _put_vector(params.get("bo") if spec.biases else None)


def _put_vector(v):
    if v is None or len(v) == 0:
        return struct.pack("<II", 0, 0)
    v = np.asarray(v, dtype="<f8").ravel()
    return struct.pack("<II", 1, v.size) + v.tobytes()


def decode_matrices(data):
    """A canonical matrix list as a list of float64 arrays."""
    (count,), pos, out = struct.unpack_from("<I", data), 4, []
    for _ in range(count):
        rows, cols = struct.unpack_from("<II", data, pos)
        pos += 8
        out.append(np.frombuffer(data, dtype="<f8", count=rows * cols,
                                 offset=pos).reshape(rows, cols))
        pos += 8 * rows * cols
    if pos != len(data):
        raise VerificationError("a transcript matrix list has trailing bytes")
    return out


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def degrade(spec, exact, noise_seed, query_index, sigma, precision):
    """The answer the server sends for the exact output `exact`."""
    y = np.array(exact, dtype=np.float64)
    if sigma > 0:
        y = y + noise(noise_seed, query_index, sigma, y.size).reshape(y.shape)
    if precision == "float32":
        y = y.astype(np.float32).astype(np.float64)
    return y


def _answers_agree(got, want, precision):
    if got.shape != want.shape:
        return False
    if precision == "float32":
        # One float32 step either way: a last-bit difference of the forward
        # pass can round to the neighbouring float32.
        step = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        return bool(np.all(np.abs(got - want) <= step))
    scale = np.maximum(1.0, np.abs(want))
    return bool(np.all(np.abs(got - want) <= ANSWER_REL_TOLERANCE * scale))


def verify(spec, reveal, entries, precision, sigma):
    """Checks the commitment and the transcript `entries` (TranscriptEntry
    messages, in order) against `reveal`. Returns a dict of counts; raises
    VerificationError naming the first failure."""
    secret = reveal.secret
    if sha256(encode_params(spec, secret), reveal.nonce) != reveal.commitment:
        raise VerificationError(
            "the revealed secret and nonce do not open the commitment")
    if reveal.published_commitment and \
            reveal.published_commitment != reveal.commitment:
        raise VerificationError(
            "the reveal's commitment differs from the one published before "
            "the first query")
    previous, answers = b"", 0
    for k, e in enumerate(entries):
        if e.index != k:
            raise VerificationError(f"entry {k}: has index {e.index}")
        if e.first_query_index != answers:
            raise VerificationError(
                f"entry {k}: first_query_index is {e.first_query_index}, but "
                f"{answers} sequences come before it")
        request_digest = sha256(struct.pack("<Q", e.first_query_index),
                                e.request)
        response_digest = sha256(e.response)
        chain = sha256(previous, request_digest, response_digest)
        if (request_digest != e.request_digest or
                response_digest != e.response_digest or
                chain != e.chain_hash):
            raise VerificationError(f"entry {k}: the hash chain breaks")
        inputs, outputs = decode_matrices(e.request), decode_matrices(
            e.response)
        if len(inputs) != len(outputs):
            raise VerificationError(f"entry {k}: {len(inputs)} sequences but "
                                    f"{len(outputs)} answers")
        for i, (x, y) in enumerate(zip(inputs, outputs)):
            want = degrade(spec, layer.forward(spec, secret, x),
                           reveal.noise_seed, e.first_query_index + i, sigma,
                           precision)
            if not _answers_agree(y, want, precision):
                raise VerificationError(
                    f"entry {k} sequence {i}: the answer is not the revealed "
                    "layer's output")
            answers += 1
        previous = chain
    return {"entries": len(entries), "answers": answers,
            "chain_head": previous.hex()}
