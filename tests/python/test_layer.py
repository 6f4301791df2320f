"""ao.layer agrees with the server's answers on every challenge, and the
learners recover the layers they claim to."""

import numpy as np
import pytest

import attnoracle as ao
from attnoracle import layer, verify
from attnoracle.learners import LocalChallenge, probe, regress
from attnoracle.server import LocalServer

from conftest import ADMIN_TOKEN, HERE, _create

# The forward passes agree to about 1e-15; the promise is 1e-12.
AGREEMENT = 1e-12


def _default_ids():
    from google.protobuf import text_format
    from attnoracle.v1 import types_pb2
    with open(f"{HERE}/../../configs/default.textproto") as f:
        challenge_set = text_format.Parse(f.read(), types_pb2.ChallengeSet())
    return {c.id for c in challenge_set.challenge}


def _ask(ch, rng):
    """Inputs and answers: chosen queries where the policy allows them,
    random examples where it allows those (both: two of each, in the
    order the query indices run)."""
    if ch.access == "examples":
        return ch.sample(4)
    X = [rng.standard_normal((n, ch.spec.d_model)) for n in (1, 2, 5, 9)]
    if ch.access == "both":
        inputs, outputs = ch.sample(2)
        return inputs + X[2:], outputs + ch.query(X[2:])
    return X, ch.query(X)


def test_numpy_layer_matches_the_server_on_every_challenge():
    """Queries (or samples) in the open phase, then the reveal: the
    revealed secret through ao.layer (with the seeded noise, the declared
    precision and the answer form applied as docs/VERIFICATION.md says)
    gives every answer, on every challenge of configs/default.textproto and
    of tests/python/challenges.textproto; ch.verify() passes on each."""
    with LocalServer(admin_token=ADMIN_TOKEN) as server, \
            ao.connect(server.address, ADMIN_TOKEN) as admin:
        _create(admin, f"{HERE}/challenges.textproto")
        token = admin.register_learner("py-layer")
        rng = np.random.default_rng(7)
        with ao.connect(server.address, token) as oracle:
            asked = {ch.id: (ch, *_ask(ch, rng))
                     for ch in oracle.challenges()}
            assert _default_ids() <= set(asked)
            kinds = {ch.spec.kind for ch, _, _ in asked.values()}
            assert kinds == set(layer.FORWARD_PASSES), kinds
            forms = {ch.answers for ch, _, _ in asked.values()}
            assert forms == {"values", "sign", "top_k", "quantized"}, forms
            assert {ch.access for ch, _, _ in asked.values()} == {
                "queries", "examples", "both"}
            for ch, X, answers in asked.values():
                admin.set_phase(ch.id, "closed")
                admin.set_phase(ch.id, "revealed")
                revealed = ch.reveal()
                p = ch.policy
                for i, (x, y) in enumerate(zip(X, answers)):
                    exact = layer.forward(ch.spec, revealed.secret, x)
                    assert exact.shape == (ch.spec.output_rows(len(x)),
                                           ch.spec.output_dim), ch.id
                    want = verify.degrade(ch.spec, exact, revealed.noise_seed,
                                          i, p.noise_sigma, p.precision,
                                          p.answers, p.top_k, p.quantize_step)
                    assert want.shape == y.shape, ch.id
                    if p.answers == "sign":
                        np.testing.assert_array_equal(
                            y, want, err_msg=f"{ch.id} sequence {i}")
                        continue
                    tolerance = AGREEMENT if p.precision == "float64" \
                        else 2.0**-23
                    np.testing.assert_allclose(
                        y, want, rtol=tolerance, atol=tolerance,
                        err_msg=f"{ch.id} sequence {i}")
                assert ch.verify()["answers"] == 4, ch.id


def test_verify_catches_an_answer_the_secret_does_not_give():
    spec = ao.Spec(d_model=3, heads=1, head_dim=3, value_dim=3, out_dim=3,
                   mask="none", readout="all", score_scale=0.5, biases=False)
    secret = layer.random_params(spec, np.random.default_rng(1))
    nonce = b"nonce"
    commitment = verify.sha256(verify.encode_params(spec, secret), nonce)
    x = np.ones((2, 3))
    y = layer.forward(spec, secret, x)

    class Entry:
        index, first_query_index = 0, 0
        request = verify.struct.pack("<III", 1, 2, 3) + x.tobytes()

    def entry_with(answer):
        e = Entry()
        e.response = verify.struct.pack("<III", 1, 2, 3) + answer.tobytes()
        e.request_digest = verify.sha256(verify.struct.pack("<Q", 0),
                                         e.request)
        e.response_digest = verify.sha256(e.response)
        e.chain_hash = verify.sha256(b"", e.request_digest, e.response_digest)
        return e

    revealed = ao.Reveal(secret, nonce, 0, 0, commitment, commitment)
    assert verify.verify(spec, revealed, [entry_with(y)], "float64",
                         0.0)["answers"] == 1
    with pytest.raises(ao.VerificationError, match="entry 0 sequence 0"):
        verify.verify(spec, revealed, [entry_with(y + 1e-9)], "float64", 0.0)
    broken = entry_with(y)
    broken.chain_hash = b"\0" * 32
    with pytest.raises(ao.VerificationError, match="hash chain"):
        verify.verify(spec, revealed, [broken], "float64", 0.0)


def test_verify_accepts_disjoint_ranges_in_any_order_and_counts_gaps():
    # Replicas on one database commit in any order and a killed one leaves
    # reserved indices unanswered; only a reused index fails.
    spec = ao.Spec(d_model=3, heads=1, head_dim=3, value_dim=3, out_dim=3,
                   mask="none", readout="all", score_scale=0.5, biases=False)
    secret = layer.random_params(spec, np.random.default_rng(1))
    commitment = verify.sha256(verify.encode_params(spec, secret), b"n")
    revealed = ao.Reveal(secret, b"n", 0, 0, commitment, commitment)
    x = np.ones((2, 3))
    y = layer.forward(spec, secret, x)

    def chain(firsts):
        entries, previous = [], b""
        for k, first in enumerate(firsts):
            e = type("Entry", (), {})()
            e.index, e.first_query_index = k, first
            e.request = verify.struct.pack("<III", 1, 2, 3) + x.tobytes()
            e.response = verify.struct.pack("<III", 1, 2, 3) + y.tobytes()
            e.request_digest = verify.sha256(verify.struct.pack("<Q", first),
                                             e.request)
            e.response_digest = verify.sha256(e.response)
            e.chain_hash = verify.sha256(previous, e.request_digest,
                                         e.response_digest)
            previous = e.chain_hash
            entries.append(e)
        return entries

    report = verify.verify(spec, revealed, chain([2, 0, 1]), "float64", 0.0)
    assert (report["answers"], report["unanswered_indices"]) == (3, 0)
    report = verify.verify(spec, revealed, chain([0, 4, 1]), "float64", 0.0)
    assert (report["answers"], report["unanswered_indices"]) == (3, 2)
    with pytest.raises(ao.VerificationError,
                       match=r"entry 2: query indices \[1, 2\) overlap "
                             r"those of entry 1"):
        verify.verify(spec, revealed, chain([0, 1, 1]), "float64", 0.0)


def test_verify_replays_sample_entries_and_their_seeded_inputs():
    spec = ao.Spec(d_model=3, heads=1, head_dim=3, value_dim=3, out_dim=3,
                   mask="none", readout="last", score_scale=0.5,
                   biases=False)
    secret = layer.random_params(spec, np.random.default_rng(13))
    commitment = verify.sha256(verify.encode_params(spec, secret), b"n")
    revealed = ao.Reveal(secret, b"n", 0, 99, commitment, commitment)
    policy = verify.AnswerPolicy(answers="sign", access="examples",
                                 example_tokens=2)

    def sample_entry(x, answer):
        e = type("Entry", (), {})()
        e.index = e.first_query_index = 0
        e.request = verify.struct.pack("<IIII", 0, 1, 2, 3) + x.tobytes()
        e.response = verify.struct.pack("<III", 1, 1, 3) + answer.tobytes()
        e.request_digest = verify.sha256(verify.struct.pack("<Q", 0),
                                         e.request)
        e.response_digest = verify.sha256(e.response)
        e.chain_hash = verify.sha256(b"", e.request_digest, e.response_digest)
        return e

    x = verify.example_input(99, 0, 2, 3, "signs", 1.0)
    y = verify.answer_form(layer.forward(spec, secret, x), "sign")
    assert verify.verify(spec, revealed, [sample_entry(x, y)], "float64",
                         0.0, policy)["answers"] == 1
    with pytest.raises(ao.VerificationError, match="sample input 0"):
        verify.verify(spec, revealed, [sample_entry(-x, y)], "float64", 0.0,
                      policy)
    with pytest.raises(ao.VerificationError, match="entry 0 sequence 0"):
        verify.verify(spec, revealed, [sample_entry(x, -y)], "float64", 0.0,
                      policy)
    with pytest.raises(ao.VerificationError, match="without examples"):
        verify.verify(spec, revealed, [sample_entry(x, y)], "float64", 0.0)


def test_answer_forms_settle_zeros_ties_and_order():
    y = np.array([[-0.0, 0.0, -1e-300, 0.25, 0.75, -0.25]])
    np.testing.assert_array_equal(verify.answer_form(y, "sign"),
                                  [[1, 1, -1, 1, 1, -1]])
    q = verify.answer_form(y, "quantized", quantize_step=0.5)
    np.testing.assert_array_equal(q, [[0, 0, 0, 0, 1, 0]])
    assert not np.any(np.signbit(q)), "every zero answer is +0"
    ties = np.array([[1.0, 3.0, 2.0, 3.0], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(
        verify.answer_form(ties, "top_k", top_k=3),
        [[1, 3.0, 3, 3.0, 2, 2.0], [0, 0.5, 1, 0.5, 2, 0.5]])


def _stack_spec(**changes):
    fields = dict(d_model=4, heads=2, head_dim=2, value_dim=2, out_dim=4,
                  mask="causal", readout="all", score_scale=0.7, biases=True,
                  kind="stack", layers=2, residual=True, kv_heads=2)
    fields.update(changes)
    return ao.Spec(**fields)


def _one_layer(spec, rng):
    """A one-layer parameter dict with every block drawn on its own."""
    import dataclasses
    return layer.random_params(dataclasses.replace(
        spec, kind="attention", layers=1, residual=False, ffn_hidden=0,
        kv_heads=spec.heads, tie_qk=False), rng)


def test_shared_and_tied_blocks_may_be_left_out():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4))
    spec = _stack_spec(kv_heads=1)
    full = {"layers": [_one_layer(spec, rng) for _ in range(2)]}
    for lay in full["layers"]:
        first = lay["heads"][0]
        for name in ("wk", "wv", "bk", "bv"):
            lay["heads"][1][name] = first[name]
    short = {"layers": [{"heads": [lay["heads"][0], {
        k: v for k, v in lay["heads"][1].items()
        if k not in ("wk", "wv", "bk", "bv")}], "bo": lay["bo"]}
        for lay in full["layers"]]}
    np.testing.assert_array_equal(layer.forward(spec, short, x),
                                  layer.forward(spec, full, x))
    assert verify.encode_params(spec, short) == verify.encode_params(spec,
                                                                      full)
    tied = _stack_spec(tie_qk=True, layers=1, residual=False,
                       kind="attention")
    head = _one_layer(tied, rng)["heads"][0]
    head.pop("wk"), head.pop("bk")
    Q = x @ head["wq"] + head["bq"]
    want = layer.softmax_rows(np.where(np.tri(5, dtype=bool),
                                       Q @ Q.T * 0.7, -np.inf)) @ (
        x @ head["wv"] + head["bv"]) @ head["wo"]
    np.testing.assert_allclose(
        layer.forward(tied, {"heads": [head]}, x), want, rtol=1e-13)


def test_random_params_fit_every_class():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 4))
    for spec in (_stack_spec(kv_heads=1), _stack_spec(tie_qk=True),
                 _stack_spec(kind="ffn", layers=3, residual=False,
                             out_dim=3, ffn_hidden=5, ffn_biases=True),
                 _stack_spec(kind="linear", layers=1, residual=False,
                             attention="linear")):
        params = layer.random_params(spec, rng)
        assert len(layer._layers(params)) == spec.layers
        for lay in layer._layers(params):
            heads = lay["heads"]
            if spec.tie_qk:
                assert all(h["wk"] is h["wq"] for h in heads)
            if spec.kv_heads == 1:
                assert heads[1]["wv"] is heads[0]["wv"]
        assert layer.forward(spec, params, x).shape == (4, spec.output_dim)
        verify.encode_params(spec, params)


def test_stack_and_ffn_params_round_trip_through_the_wire_form():
    rng = np.random.default_rng(9)
    spec = _stack_spec(kind="ffn", ffn_hidden=3, ffn_out_dim=2,
                       ffn_biases=True)
    params = {"layers": [_one_layer(spec, rng) for _ in range(2)],
              "ffn": {"w1": rng.standard_normal((4, 3)),
                      "b1": rng.standard_normal(3),
                      "w2": rng.standard_normal((3, 2)),
                      "b2": rng.standard_normal(2)}}
    back = ao.model.params_from_proto(ao.model.params_to_proto(params))
    assert set(back) == {"layers", "ffn"}
    x = rng.standard_normal((3, 4))
    assert layer.forward(spec, back, x).shape == (3, 2)
    np.testing.assert_array_equal(layer.forward(spec, back, x),
                                  layer.forward(spec, params, x))
    params["ffn"]["w3"] = params["ffn"]["w1"]
    with pytest.raises(ValueError, match=r"ffn has unknown keys \['w3'\]"):
        ao.model.params_to_proto(params)
    with pytest.raises(ValueError, match=r"layers\[1\].heads\[0\].wq"):
        ao.model.params_to_proto({"layers": [{"heads": []}, {
            "heads": [{"wq": np.ones(3)}]}]})


def test_ffn_hypothesis_is_scored_by_the_server(oracle):
    ch = oracle.challenge("transformer-ffn-d8")
    assert ch.spec.kind == "ffn" and ch.spec.output_dim == 1
    s = ch.spec
    rng = np.random.default_rng(10)
    guess = layer.random_params(s, rng)
    assert guess["ffn"]["w2"].shape == (s.ffn_hidden, 1)
    score = ch.submit(guess)
    assert score.functional_rel_err > 1e-3, score
    with pytest.raises(ao.InvalidArgument, match="ffn"):
        ch.submit({"layers": guess["layers"]})


def test_noise_matches_the_verification_vectors():
    import json
    import os
    path = os.path.join(HERE, "..", "vectors", "verification.json")
    with open(path) as f:
        vectors = json.load(f)
    sigma = verify.struct.unpack("<d", bytes.fromhex(
        vectors["challenge"]["policy"]["noise_sigma"]["bits"][0])[::-1])[0]
    for row in vectors["noise"][:2]:
        got = verify.noise(int(row["noise_seed"], 16), row["query_index"],
                           sigma, row["rows"] * row["cols"])
        want = [verify.struct.unpack("<d", bytes.fromhex(b)[::-1])[0]
                for b in row["noise"]["bits"]]
        assert got.tolist() == want


def test_unknown_layer_class_is_named():
    spec = ao.Spec(2, 1, 2, 2, 2, "none", "all", 1.0, False, kind="moe")
    with pytest.raises(NotImplementedError, match="'moe'"):
        layer.forward(spec, {"heads": []}, np.ones((1, 2)))


def test_theta_omega_form_gives_the_factor_form_output():
    spec = ao.Spec(4, 2, 2, 2, 4, "causal", "all", 0.8, False)
    params = layer.random_params(spec, np.random.default_rng(2))
    products = {"heads": [dict(zip(("theta", "omega"),
                                   layer.head_products(h, 0.8)))
                          for h in params["heads"]]}
    x = np.random.default_rng(3).standard_normal((5, 4))
    np.testing.assert_allclose(layer.forward(spec, products, x),
                               layer.forward(spec, params, x), rtol=1e-12)


def test_probe_recovers_a_head_offline_and_refuses_two():
    spec = ao.Spec(6, 1, 6, 6, 6, "none", "all", 6**-0.5, False)
    truth = layer.random_params(spec, np.random.default_rng(4))
    ch = LocalChallenge(spec, truth)
    hypothesis = probe.learn(ch)
    assert ch.tokens_used == 2 * 6 + 1
    x = np.random.default_rng(5).standard_normal((7, 6))
    np.testing.assert_allclose(layer.forward(spec, hypothesis, x),
                               layer.forward(spec, truth, x), rtol=1e-9,
                               atol=1e-12)
    with pytest.raises(ValueError, match="one head"):
        probe.learn(LocalChallenge(ao.Spec(6, 2, 3, 3, 6, "none", "all", 1.0,
                                           False), truth))


def test_regress_gradient_matches_finite_differences():
    spec = ao.Spec(3, 2, 2, 2, 2, "causal", "last", 0.6, True)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4, 5, 3))
    T = rng.standard_normal((4, 1, 2))
    size = sum(int(np.prod(s)) for _, _, s in regress._shapes(spec))
    theta = rng.standard_normal(size)
    groups = [(X, T), (X[:2, :3], T[:2])]
    _, grad = regress.loss_and_grad(spec, theta, groups)
    h = 1e-6
    for i in range(size):
        e = np.zeros(size)
        e[i] = h
        numeric = (regress.loss_and_grad(spec, theta + e, groups)[0] -
                   regress.loss_and_grad(spec, theta - e, groups)[0]) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), i


def test_regress_fits_two_heads_on_the_server(oracle):
    ch = oracle.challenge("two-head-d16")
    score = ch.submit(regress.learn(ch, max_tokens=240, time_limit=30))
    assert ch.usage.tokens_used == 240
    assert score.functional_rel_err < 1e-8, score
