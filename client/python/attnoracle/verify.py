"""Checks a revealed challenge against what the server promised, after
docs/VERIFICATION.md: the commitment opens with the revealed secret and
nonce, every link of the learner's transcript hash chain holds, and every
answer is the revealed layer's output on its query (or on its seeded random
example, redrawn bit for bit), with the seeded noise, the declared precision
and the answer form (sign, top-k pairs, quantized).

The seeded generator, the noise and the bytes are reproduced bit for bit;
the forward pass is numpy's (``ao.layer``), whose last bits may differ from
the server's build, so answers are compared within a tolerance
(docs/VERIFICATION.md, "Verifying from Python"). ``oracle-client verify``
compares answers bit for bit.
"""

import dataclasses
import hashlib
import math
import struct

import numpy as np

from attnoracle import layer
from attnoracle.errors import VerificationError

MASK64 = (1 << 64) - 1
STREAM_NOISE = 2
STREAM_EXAMPLES = 5
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
    """The secret's canonical bytes (EncodeParams), factor form only: each
    attention layer's (u32 heads, the heads, bo), first layer first, then
    with an FFN block w1, b1, w2, b2. Shared and tied blocks are written in
    every head, as copies."""
    out = b""
    for lay in layer._layers(params):
        heads = layer.resolve_heads(spec, lay["heads"])
        out += struct.pack("<I", len(heads))
        for h in heads:
            for name in ("wq", "wk", "wv", "wo"):
                out += _put_matrix(h[name])
            for name in ("bq", "bk", "bv"):
                out += _put_vector(h.get(name) if spec.biases else None)
        out += _put_vector(lay.get("bo") if spec.biases else None)
    if spec.has_ffn:
        ffn = params["ffn"]
        out += _put_matrix(ffn["w1"])
        out += _put_vector(ffn.get("b1") if spec.ffn_biases else None)
        out += _put_matrix(ffn["w2"])
        out += _put_vector(ffn.get("b2") if spec.ffn_biases else None)
    return out


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


@dataclasses.dataclass(frozen=True)
class AnswerPolicy:
    """What verify needs of a challenge's AccessPolicy: the answer form
    ("values", "sign", "top_k", "quantized") with its top_k or
    quantize_step, the access ("queries", "examples", "both") and the
    random examples' distribution ("signs" or "gaussian", tokens,
    scale)."""
    precision: str = "float64"
    noise_sigma: float = 0.0
    answers: str = "values"
    top_k: int = 0
    quantize_step: float = 0.0
    access: str = "queries"
    inputs: str = "signs"
    example_tokens: int = 0
    example_scale: float = 1.0

    @classmethod
    def from_proto(cls, policy):
        from attnoracle.v1 import types_pb2
        answers = types_pb2.Answers.Name(
            policy.answers or types_pb2.ANSWERS_VALUES)
        access = types_pb2.Access.Name(policy.access or
                                       types_pb2.ACCESS_QUERIES)
        inputs = types_pb2.Inputs.Name(policy.examples.inputs or
                                       types_pb2.INPUTS_SIGNS)
        precision = "float32" if policy.precision == \
            types_pb2.PRECISION_FLOAT32 else "float64"
        return cls(precision=precision, noise_sigma=policy.noise_sigma,
                   answers=answers.removeprefix("ANSWERS_").lower(),
                   top_k=policy.top_k, quantize_step=policy.quantize_step,
                   access=access.removeprefix("ACCESS_").lower(),
                   inputs=inputs.removeprefix("INPUTS_").lower(),
                   example_tokens=policy.examples.tokens,
                   example_scale=(policy.examples.scale
                                  if policy.examples.HasField("scale")
                                  else 1.0))


def degrade(spec, exact, noise_seed, query_index, sigma, precision,
            answers="values", top_k=0, quantize_step=0.0):
    """The answer the server sends for the exact output `exact`: noise,
    precision, then the answer form (docs/VERIFICATION.md section 2).
    Under "top_k" the answer is rows x 2k: index_1, value_1, ... per row."""
    y = np.array(exact, dtype=np.float64)
    if sigma > 0:
        y = y + noise(noise_seed, query_index, sigma, y.size).reshape(y.shape)
    if precision == "float32":
        y = y.astype(np.float32).astype(np.float64)
    return answer_form(y, answers, top_k, quantize_step)


def answer_form(y, answers, top_k=0, quantize_step=0.0):
    """Step 3 of the degradation: sign (-0 gives +1), quantized (ties to
    even, every zero +0) or top-k pairs (largest first, the lower column
    first among equal values)."""
    if answers == "sign":
        return np.where(y >= 0.0, 1.0, -1.0)
    if answers == "quantized":
        # np.rint rounds half to even, as nearbyint does by default.
        return quantize_step * np.rint(y / quantize_step) + 0.0
    if answers == "top_k":
        # A stable sort of -y keeps lower columns first among equal values.
        order = np.argsort(-y, axis=1, kind="stable")[:, :top_k]
        pairs = np.empty((y.shape[0], 2 * top_k))
        pairs[:, 0::2] = order
        pairs[:, 1::2] = np.take_along_axis(y, order, axis=1)
        return pairs
    return y


def example_input(noise_seed, query_index, tokens, d_model, inputs, scale):
    """The random example the server draws for this query index: tokens x
    d_model, from Rng(DeriveSeed(noise_seed, 5, q)) in row-major order."""
    rng = Rng(derive_seed(noise_seed, STREAM_EXAMPLES, query_index))
    count = tokens * d_model
    if inputs == "gaussian":
        values = [scale * rng.next_gaussian() for _ in range(count)]
    else:
        values = [-scale if rng.next_u64() >> 63 else scale
                  for _ in range(count)]
    return np.array(values, dtype=np.float64).reshape(tokens, d_model)


def _answers_agree(got, want, precision, answers="values"):
    if got.shape != want.shape:
        return False
    if answers == "sign":
        return bool(np.all(got == want))
    if precision == "float32":
        # One float32 step either way: a last-bit difference of the forward
        # pass can round to the neighbouring float32.
        step = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        return bool(np.all(np.abs(got - want) <= step))
    scale = np.maximum(1.0, np.abs(want))
    return bool(np.all(np.abs(got - want) <= ANSWER_REL_TOLERANCE * scale))


def verify(spec, reveal, entries, precision, sigma, policy=None):
    """Checks the commitment and the transcript `entries` (TranscriptEntry
    messages, in order) against `reveal`. `policy` (an AnswerPolicy, or
    None for values answers to queries only) gives the answer form and the
    random examples. Returns a dict of counts; raises VerificationError
    naming the first failure."""
    if policy is None:
        policy = AnswerPolicy(precision=precision, noise_sigma=sigma)
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
    # (first, end, entry) of every range so far: replicas on one database
    # commit in any order and a killed one leaves a gap, so the ranges need
    # only be pairwise disjoint (docs/VERIFICATION.md section 3).
    ranges, max_end = [], 0
    for k, e in enumerate(entries):
        if e.index != k:
            raise VerificationError(f"entry {k}: has index {e.index}")
        request_digest = sha256(struct.pack("<Q", e.first_query_index),
                                e.request)
        response_digest = sha256(e.response)
        chain = sha256(previous, request_digest, response_digest)
        if (request_digest != e.request_digest or
                response_digest != e.response_digest or
                chain != e.chain_hash):
            raise VerificationError(f"entry {k}: the hash chain breaks")
        # A sample's request is u32 0 followed by the inputs' matrix list.
        is_sample = len(e.request) >= 8 and \
            struct.unpack_from("<I", e.request)[0] == 0 and \
            struct.unpack_from("<I", e.request, 4)[0] > 0
        if is_sample and policy.access == "queries":
            raise VerificationError(
                f"entry {k}: a sample on a challenge without examples")
        if not is_sample and policy.access == "examples":
            raise VerificationError(
                f"entry {k}: a query on an examples-only challenge")
        inputs = decode_matrices(e.request[4:] if is_sample else e.request)
        outputs = decode_matrices(e.response)
        if len(inputs) != len(outputs):
            raise VerificationError(f"entry {k}: {len(inputs)} sequences but "
                                    f"{len(outputs)} answers")
        first, end = e.first_query_index, e.first_query_index + len(inputs)
        for other_first, other_end, other in ranges:
            if first < other_end and other_first < end:
                raise VerificationError(
                    f"entry {k}: query indices [{first}, {end}) overlap those "
                    f"of entry {other}")
        if end > first:
            ranges.append((first, end, k))
            max_end = max(max_end, end)
        for i, (x, y) in enumerate(zip(inputs, outputs)):
            q = e.first_query_index + i
            if is_sample:
                drawn = example_input(reveal.noise_seed, q, x.shape[0],
                                      spec.d_model, policy.inputs,
                                      policy.example_scale)
                if not np.array_equal(drawn, x) or \
                        np.any(np.signbit(drawn) != np.signbit(x)):
                    raise VerificationError(
                        f"entry {k}: sample input {i} (sequence index {q}) "
                        "is not the example the seed dictates")
            want = degrade(spec, layer.forward(spec, secret, x),
                           reveal.noise_seed, q, policy.noise_sigma,
                           policy.precision, policy.answers, policy.top_k,
                           policy.quantize_step)
            if not _answers_agree(y, want, policy.precision,
                                  policy.answers):
                raise VerificationError(
                    f"entry {k} sequence {i}: the answer is not the revealed "
                    "layer's output")
            answers += 1
        previous = chain
    return {"entries": len(entries), "answers": answers,
            "unanswered_indices": max_end - answers,
            "chain_head": previous.hex()}
