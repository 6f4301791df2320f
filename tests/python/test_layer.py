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
    else the learner's random examples."""
    if ch.access == "examples":
        return ch.sample(4)
    X = [rng.standard_normal((n, ch.spec.d_model)) for n in (1, 2, 5, 9)]
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
            assert {"values", "sign", "top_k"} <= forms, forms
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
