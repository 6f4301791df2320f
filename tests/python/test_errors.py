"""Every gRPC status the server gives becomes its typed exception, with the
server's message."""

import socket
import subprocess

import grpc
import numpy as np
import pytest

import attnoracle as ao
from attnoracle import errors
from attnoracle.server import LocalServer


def test_wrong_width_is_invalid_argument_naming_the_field(oracle):
    ch = oracle.challenge("tiny-d4")
    with pytest.raises(ao.InvalidArgument) as e:
        ch.query(np.ones((1, 3)))
    assert e.value.code == "INVALID_ARGUMENT"
    assert "sequences[0]" in e.value.message and "d_model = 4" in str(e.value)
    assert ch.usage.queries_used == 0  # nothing charged


def test_a_non_matrix_is_refused_before_sending(oracle):
    ch = oracle.challenge("tiny-d4")
    with pytest.raises(ao.InvalidArgument, match=r"sequences\[1\] must be a "
                       r"2-D array"):
        ch.query([np.ones((1, 4)), np.ones(4)])
    with pytest.raises(ao.InvalidArgument, match="not an array of numbers"):
        ch.query([[["a", "b", "c", "d"]]])


def test_bad_hypothesis_is_invalid_argument_naming_the_field(oracle):
    ch = oracle.challenge("tiny-d4")
    with pytest.raises(ao.InvalidArgument, match=r"heads\[0\]"):
        ch.submit({"heads": [{"theta": np.eye(3), "omega": np.eye(4)}]})
    with pytest.raises(ao.InvalidArgument, match="unknown keys"):
        ch.submit({"heads": [{"wx": np.eye(4)}]})


def test_unknown_challenge_is_not_found(oracle):
    with pytest.raises(ao.NotFound, match="nope"):
        oracle.challenge("nope")


def test_spent_budget_is_budget_exhausted(oracle):
    ch = oracle.challenge("tiny-d4")  # 256 tokens
    ch.query(np.ones((200, 4)))
    with pytest.raises(ao.BudgetExhausted) as e:
        ch.query(np.ones((100, 4)))
    assert e.value.code == "RESOURCE_EXHAUSTED"
    assert not isinstance(e.value, ao.RateLimited)
    assert ch.usage.tokens_used == 200


def test_stream_refusal_raises_the_in_band_code(oracle):
    ch = oracle.challenge("tiny-d4")
    with pytest.raises(ao.InvalidArgument, match="d_model"):
        ch.query([np.ones((1, 4)), np.ones((1, 5))], stream=True)


def test_sample_on_a_queries_only_challenge_is_failed_precondition(oracle):
    ch = oracle.challenge("tiny-d4")
    with pytest.raises(ao.FailedPrecondition) as e:
        ch.sample(32)
    assert e.value.code == "FAILED_PRECONDITION"
    assert ch.usage.queries_used == 0


def test_sample_returns_the_examples_and_their_answers(oracle):
    ch = oracle.challenge("chen-li-signs-d8-h2")
    assert ch.access == "examples"
    inputs, outputs = ch.sample(3)
    assert len(inputs) == len(outputs) == 3
    for x, y in zip(inputs, outputs):
        assert x.shape == (ch.policy.example_tokens, ch.spec.d_model)
        assert set(np.unique(x)) <= {-1.0, 1.0}
        assert y.shape == (ch.policy.example_tokens, ch.spec.output_dim)
    assert not np.array_equal(inputs[0], inputs[1])
    assert ch.usage.queries_used == 3
    with pytest.raises(ao.FailedPrecondition):
        ch.query(np.ones((1, ch.spec.d_model)))


def test_missing_and_bad_tokens_are_unauthenticated(contest_server):
    with ao.connect(contest_server.address) as anonymous:
        with pytest.raises(ao.Unauthenticated, match="Bearer"):
            anonymous.challenge("tiny-d4").usage
    with ao.connect(contest_server.address, "ao_not-a-token") as stranger:
        with pytest.raises(ao.Unauthenticated):
            stranger.challenges()


def test_learner_calling_admin_is_permission_denied(contest_learner):
    with pytest.raises(ao.PermissionDenied):
        contest_learner.register_learner("mallory")


def test_bad_phase_name_is_refused_locally(admin):
    with pytest.raises(ao.InvalidArgument, match="phase must be"):
        admin.set_phase("py-phases", "finished")


def test_registering_twice_is_already_exists(admin):
    admin.register_learner("py-twice")
    with pytest.raises(ao.AlreadyExists):
        admin.register_learner("py-twice")


def test_closed_port_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ao.connect(f"127.0.0.1:{port}", timeout=5) as oracle:
        with pytest.raises(ao.Unavailable):
            oracle.challenges()


def test_rate_limit_is_retried_after_the_hint():
    with LocalServer(extra_args=["--max_requests_per_second=20",
                                 "--request_burst=1"]) as server:
        with ao.connect(server.address) as oracle:
            ch = oracle.challenge("tiny-d4")
            for _ in range(3):  # 50 ms apart at 20 per second
                ch.query(np.ones((1, 4)))
            assert ch.usage.queries_used == 3
        with ao.connect(server.address, max_retries=0) as impatient:
            ch = impatient.challenge("tiny-d4")
            with pytest.raises(ao.RateLimited) as e:
                for _ in range(3):
                    ch.query(np.ones((1, 4)))
            assert isinstance(e.value, ao.BudgetExhausted)
            assert 0 < e.value.retry_after_ms <= 1000


def test_every_status_code_maps_to_its_class():
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: ao.InvalidArgument,
        grpc.StatusCode.RESOURCE_EXHAUSTED: ao.BudgetExhausted,
        grpc.StatusCode.NOT_FOUND: ao.NotFound,
        grpc.StatusCode.PERMISSION_DENIED: ao.PermissionDenied,
        grpc.StatusCode.UNAUTHENTICATED: ao.Unauthenticated,
        grpc.StatusCode.FAILED_PRECONDITION: ao.FailedPrecondition,
        grpc.StatusCode.UNAVAILABLE: ao.Unavailable,
        grpc.StatusCode.UNIMPLEMENTED: ao.Unimplemented,
        grpc.StatusCode.ALREADY_EXISTS: ao.AlreadyExists,
        grpc.StatusCode.DEADLINE_EXCEEDED: ao.DeadlineExceeded,
    }
    for code, cls in expected.items():
        for key in (code, code.value[0]):  # the enum, and QueryStream's int
            e = errors.from_status(key, "why")
            assert type(e) is cls and e.message == "why"
            assert e.code == code.name
    other = errors.from_status(grpc.StatusCode.INTERNAL, "boom")
    assert type(other) is ao.OracleError and other.code == "INTERNAL"


def _certificates(directory):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
            "/CN=test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=oracle",
            "-keyout", "server.key", "-out", "server.csr")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
            "server.ext", "-out", "server.pem")


def test_tls_connects_with_the_ca_and_not_without(tmp_path):
    _certificates(tmp_path)
    with LocalServer(extra_args=[f"--tls_cert={tmp_path / 'server.pem'}",
                                 f"--tls_key={tmp_path / 'server.key'}"]) \
            as server:
        with ao.connect(server.address, tls_ca=tmp_path / "ca.pem") as tls:
            assert tls.challenge("tiny-d4").spec.d_model == 4
        with ao.connect(server.address, timeout=5) as plain:
            with pytest.raises(ao.Unavailable):
                plain.challenges()
    with pytest.raises(ao.NotFound, match="cannot read tls_ca"):
        ao.connect("127.0.0.1:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(ao.InvalidArgument, match="tls_cert and tls_key"):
        ao.connect("127.0.0.1:1", tls_cert=tmp_path / "server.pem")
