"""The Python package's reference pieces against the checked-in test vectors
of docs/VERIFICATION.md (tests/vectors/verification.json), with no server:
ao.layer's forward pass on each layer class's secret, ao.verify's secret
bytes, random-example inputs, noise and answer forms.

The forward pass is held to the vectors within ao.verify's answer tolerance
(numpy's sums differ from the server's in the last bits); the bytes, the
example inputs and the answer forms bit for bit.
"""

import json
import os
import struct

import numpy as np
import pytest

from attnoracle import layer, verify
from attnoracle.model import Spec, layer_kind

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, os.pardir, "vectors", "verification.json")

with open(VECTORS) as f:
    V = json.load(f)


def doubles(section):
    """A vectors' "bits" list as float64 (sign of zero included)."""
    bits = np.array([int(b, 16) for b in section["bits"]], dtype=np.uint64)
    return bits.view(np.float64)


def matrix(section):
    return doubles(section).reshape(section["rows"], section["cols"])


def bits(values):
    return ["%016x" % b for b in
            np.ascontiguousarray(values, dtype=np.float64).ravel().view(
                np.uint64)]


def spec_of(s):
    ffn = s["ffn"] or {}
    return Spec(d_model=s["d_model"], heads=s["heads"],
                head_dim=s["head_dim"], value_dim=s["value_dim"],
                out_dim=s["out_dim"], mask=s["mask"], readout=s["readout"],
                score_scale=float(doubles(s["score_scale"])[0]),
                biases=s["biases"],
                kind=layer_kind(s["attention"], s["layers"], s["residual"],
                                bool(ffn)),
                kv_heads=s["kv_heads"], attention=s["attention"],
                layers=s["layers"], residual=s["residual"],
                tie_qk=s["tie_qk"], ffn_hidden=ffn.get("hidden", 0),
                ffn_out_dim=ffn.get("out_dim", 0),
                ffn_biases=ffn.get("biases", False),
                ffn_residual=ffn.get("residual", False))


def params_of(spec, encoded):
    """The secret's canonical bytes (section 3) read back into ao.layer's
    dict of ndarrays."""
    pos = 0

    def take(fmt):
        nonlocal pos
        out = struct.unpack_from(fmt, encoded, pos)
        pos += struct.calcsize(fmt)
        return out

    def mat(vector=False):
        rows, cols = take("<II")
        values = np.array(take("<%dd" % (rows * cols)), dtype=np.float64)
        if rows * cols == 0:
            return None
        return values if vector else values.reshape(rows, cols)

    layers = []
    for _ in range(spec.layers):
        (count,) = take("<I")
        heads = []
        for _ in range(count):
            head = {name: mat() for name in ("wq", "wk", "wv", "wo")}
            head.update({name: mat(vector=True)
                         for name in ("bq", "bk", "bv")})
            heads.append({k: v for k, v in head.items() if v is not None})
        lay = {"heads": heads}
        bo = mat(vector=True)
        if bo is not None:
            lay["bo"] = bo
        layers.append(lay)
    params = {"layers": layers}
    if spec.has_ffn:
        ffn = {"w1": mat(), "b1": mat(vector=True), "w2": mat(),
               "b2": mat(vector=True)}
        params["ffn"] = {k: v for k, v in ffn.items() if v is not None}
    assert pos == len(encoded), "trailing bytes in encode_params"
    return params


NONCE = bytes.fromhex(V["challenge"]["nonce"])


@pytest.mark.parametrize("case", V["layer_classes"],
                         ids=[c["name"] for c in V["layer_classes"]])
def test_layer_class_forward_and_bytes(case):
    spec = spec_of(case["spec"])
    encoded = bytes.fromhex(case["encode_params"])
    params = params_of(spec, encoded)
    assert verify.encode_params(spec, params) == encoded
    assert verify.sha256(encoded, NONCE).hex() == case["commitment"]
    want = matrix(case["output"])
    got = layer.forward(spec, params, matrix(case["input"]))
    assert got.shape == want.shape
    tolerance = verify.ANSWER_REL_TOLERANCE * np.maximum(1.0, np.abs(want))
    assert np.all(np.abs(got - want) <= tolerance), np.abs(got - want).max()


@pytest.mark.parametrize("case", V["examples"])
def test_example_inputs(case):
    x = verify.example_input(int(case["noise_seed"], 16), case["index"],
                             case["tokens"], case["d_model"],
                             case["inputs"].removeprefix("INPUTS_").lower(),
                             float(doubles(case["scale"])[0]))
    assert x.shape == (case["input"]["rows"], case["input"]["cols"])
    assert bits(x) == case["input"]["bits"]


@pytest.mark.parametrize("case", V["answer_forms"],
                         ids=[c["name"] for c in V["answer_forms"]])
def test_answer_forms(case):
    p = case["policy"]
    sigma = float(doubles(p["noise_sigma"])[0])
    step = float(doubles(p["quantize_step"])[0]) if "quantize_step" in p \
        else 0.0
    answer = verify.degrade(
        None, matrix(case["values"]),
        int(case.get("noise_seed", "0"), 16), case.get("query_index", 0),
        sigma, p["precision"], p["answers"].removeprefix("ANSWERS_").lower(),
        p.get("top_k", 0), step)
    assert answer.shape == (case["answer"]["rows"], case["answer"]["cols"])
    assert bits(answer) == case["answer"]["bits"]
