"""Every method of the Python API against the real server."""

import numpy as np
import pytest

import attnoracle as ao
from attnoracle import model
from attnoracle.learners import probe

# configs/default.textproto, the server's built-in set.
DEFAULT_CHALLENGES = {
    "float32-single-head-d16", "last-token-d16", "noisy-single-head-d16",
    "single-head-causal-d16", "single-head-d16", "tiny-d4", "two-head-d16",
    "scalar-last-token-d16", "multihead-scalar-d8-h2", "transformer-ffn-d8",
    "multi-query-d16-h4", "linear-attention-d16", "tied-two-layer-d16",
    "chen-li-signs-d8-h2", "sign-scalar-d8", "top3-last-token-d16"}


def test_stubs_are_generated_into_the_package():
    from attnoracle.v1 import oracle_pb2, oracle_pb2_grpc  # noqa: F401
    assert hasattr(oracle_pb2_grpc, "OracleStub")
    assert "Sample" in oracle_pb2.DESCRIPTOR.services_by_name[
        "Oracle"].methods_by_name


def test_challenges_lists_the_built_in_set(oracle):
    ids = {ch.id for ch in oracle.challenges()}
    assert ids == DEFAULT_CHALLENGES


def test_challenge_describes_spec_budget_phase_commitment(oracle):
    ch = oracle.challenge("tiny-d4")
    assert ch.spec == ao.Spec(d_model=4, heads=1, head_dim=4, value_dim=4,
                              out_dim=4, mask="none", readout="all",
                              score_scale=0.5, biases=False)
    assert ch.budget == ao.Budget(queries=64, tokens=256)
    assert ch.phase == "open"
    assert ch.precision == "float64"
    assert len(ch.commitment) == 32
    last = oracle.challenge("last-token-d16")
    assert last.spec.readout == "last" and last.spec.output_rows(7) == 1
    assert oracle.challenge("single-head-causal-d16").spec.mask == "causal"
    assert oracle.challenge("noisy-single-head-d16").noise_sigma == 1e-3


def test_query_one_array_gives_one_array(oracle):
    ch = oracle.challenge("tiny-d4")
    Y = ch.query(np.eye(4)[:1])
    assert Y.shape == (1, 4)
    # A lone token attends to itself: the answer is linear in it.
    np.testing.assert_allclose(ch.query(2 * np.eye(4)[:1]), 2 * Y,
                               rtol=1e-14)


def test_query_list_gives_list_and_stream_agrees(oracle):
    ch = oracle.challenge("single-head-causal-d16")
    rng = np.random.default_rng(3)
    X = [rng.standard_normal((n, 16)) for n in (1, 5, 3)]
    unary = ch.query(X)
    streamed = ch.query(X, stream=True)
    assert [y.shape for y in unary] == [(1, 16), (5, 16), (3, 16)]
    for a, b in zip(unary, streamed):
        np.testing.assert_array_equal(a, b)
    last = oracle.challenge("last-token-d16").query(X)
    assert [y.shape for y in last] == [(1, 16)] * 3


def test_query_splits_a_long_list_by_the_request_limit(oracle):
    ch = oracle.challenge("single-head-d16")
    X = [np.full((1, 16), 0.01 * i) for i in range(1030)]  # limit: 1024
    answers = ch.query(X)
    assert len(answers) == 1030
    assert ch.usage.queries_used == 1030


def test_usage_counts_queries_and_tokens(oracle):
    ch = oracle.challenge("tiny-d4")
    assert ch.usage == ao.Usage(0, 0, 64, 256)
    ch.query([np.ones((3, 4)), np.ones((2, 4))])
    assert ch.usage == ao.Usage(2, 5, 62, 251)


def test_submit_probe_hypothesis_scores_exactly(oracle):
    ch = oracle.challenge("single-head-d16")
    score = ch.submit(probe.learn(ch))
    assert score.functional_rel_err < 1e-18
    assert score.bits > 25
    assert score.tokens_used == 33 and score.queries_used == 17
    assert score.tokens_to_bound == pytest.approx(33 / 32)
    assert score.submission_id > 0
    board = ch.leaderboard()
    assert board[0]["rank"] == 1
    assert board[0]["score"].functional_rel_err < 1e-18


def test_transcript_has_one_entry_per_request(oracle):
    ch = oracle.challenge("tiny-d4")
    ch.query([np.ones((1, 4))])
    ch.query([np.ones((2, 4)), np.ones((1, 4))])
    entries = ch.transcript()
    assert [e.index for e in entries] == [0, 1]
    assert [e.first_query_index for e in entries] == [0, 1]


def test_params_round_trip_through_the_message():
    rng = np.random.default_rng(1)
    params = {"heads": [{"wq": rng.standard_normal((3, 2)),
                         "wk": rng.standard_normal((3, 2)),
                         "wv": rng.standard_normal((3, 3)),
                         "wo": rng.standard_normal((3, 3)),
                         "bq": rng.standard_normal(2)}],
              "bo": rng.standard_normal(3)}
    back = model.params_from_proto(model.params_to_proto(params))
    for name, value in params["heads"][0].items():
        np.testing.assert_array_equal(back["heads"][0][name], value)
    np.testing.assert_array_equal(back["bo"], params["bo"])


def test_sequential_reveal_and_verify(contest_learner, admin):
    ch = contest_learner.challenge("py-phases")
    rng = np.random.default_rng(5)
    ch.query([rng.standard_normal((n, 4)) for n in (1, 2, 6)])
    with pytest.raises(ao.FailedPrecondition, match="revealed"):
        ch.reveal()
    admin.set_phase("py-phases", "closed")
    with pytest.raises(ao.FailedPrecondition):
        ch.query(np.ones((1, 4)))
    admin.set_phase("py-phases", "revealed")
    assert ch.refresh().phase == "revealed"
    revealed = ch.reveal()
    assert set(revealed.secret["heads"][0]) == {"wq", "wk", "wv", "wo"}
    assert len(revealed.nonce) > 0
    report = ch.verify()
    assert report["entries"] == 1 and report["answers"] == 3
    # A secret that is not the committed one is caught.
    revealed.secret["heads"][0]["wo"] = revealed.secret["heads"][0]["wo"] * 2
    with pytest.raises(ao.VerificationError, match="commitment"):
        ch.verify()


def test_top_k_answers_are_index_value_pairs(oracle):
    ch = oracle.challenge("top3-last-token-d16")
    assert ch.answers == "top_k" and ch.policy.top_k == 3
    X = np.random.default_rng(12).standard_normal((5, 16))
    unary = ch.query(X)
    assert unary.shape == (1, 6)
    columns, values = unary[:, 0::2], unary[:, 1::2]
    assert np.all(columns == np.round(columns))
    assert np.all((0 <= columns) & (columns < ch.spec.out_dim))
    assert len(set(columns[0])) == 3
    assert np.all(np.diff(values[0]) <= 0), "largest first"
    np.testing.assert_array_equal(ch.query([X], stream=True)[0], unary)


def test_score_carries_sign_disagreement_and_omitted_parameters(oracle):
    rng = np.random.default_rng(14)
    ch = oracle.challenge("sign-scalar-d8")
    score = ch.submit(ao.layer.random_params(ch.spec, rng))
    assert 0 < score.sign_disagreement <= 1, score
    stack = oracle.challenge("tied-two-layer-d16")
    score = stack.submit(ao.layer.random_params(stack.spec, rng))
    assert score.theta_omitted and score.omega_omitted, score
    assert score.theta_rel_err == score.omega_rel_err == 0
    assert score.parameter_note, score
    assert score.ffn_omitted and score.ffn_rel_err == 0, score


def test_score_carries_ffn_rel_err_on_the_transformer_class(oracle):
    rng = np.random.default_rng(15)
    ch = oracle.challenge("transformer-ffn-d8")
    score = ch.submit(ao.layer.random_params(ch.spec, rng))
    assert not score.ffn_omitted and score.omega_omitted, score
    assert score.ffn_rel_err > 0.01, score
