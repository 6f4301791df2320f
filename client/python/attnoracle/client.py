"""The Oracle service from Python, with numpy arrays in and out.

    import attnoracle as ao
    with ao.connect("127.0.0.1:50051") as oracle:
        ch = oracle.challenge("tiny-d4")
        Y = ch.query(np.eye(4)[:1])          # (1, 4) answer to one token
        print(ch.usage)

Every refusal raises an ``ao.OracleError`` subclass (``ao.errors``); a
rate-limited request is retried after the server's ``retry-after-ms`` hint.
"""

import dataclasses
import queue
import time

import grpc
import numpy as np

from attnoracle import errors, model
from attnoracle import verify as verify_lib
from attnoracle.v1 import (admin_pb2, admin_pb2_grpc, oracle_pb2,
                           oracle_pb2_grpc, types_pb2)

# How often a rate-limited request is sent again before RateLimited.
DEFAULT_MAX_RETRIES = 20


def connect(target="127.0.0.1:50051", token=None, *, learner=None,
            tls_ca=None, tls_cert=None, tls_key=None, tls_server_name=None,
            timeout=30.0, max_retries=DEFAULT_MAX_RETRIES):
    """A connection to the server at `target` ("HOST:PORT").

    Args:
      token: the learner's (or the organiser's) token, sent as
        "authorization: Bearer TOKEN"; None on an open-mode server.
      learner: the name to go by on an open-mode server started with
        --open_learner_ids (1 to 64 of [a-z0-9._-]).
      tls_ca, tls_cert, tls_key: PEM file paths; any of them means TLS
        (tls_ca: CAs trusted to sign the server's certificate, default the
        system's; tls_cert and tls_key: a client certificate for mutual TLS).
      tls_server_name: the name checked against the server's certificate
        instead of the host of `target`.
      timeout: deadline of every call in seconds (of a whole stream).
      max_retries: how often a rate-limited request is sent again.

    Connects lazily: an unreachable server shows as ao.Unavailable on the
    first call. Use as a context manager, or call close().
    """
    return Oracle(target, token=token, learner=learner, tls_ca=tls_ca,
                  tls_cert=tls_cert, tls_key=tls_key,
                  tls_server_name=tls_server_name, timeout=timeout,
                  max_retries=max_retries)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise errors.NotFound(f"cannot read {what} {path!r}: "
                              f"{e.strerror}") from None


class Oracle:
    """A channel to one server. Thread-safe: its calls may be made from
    several threads (each Challenge's query() included)."""

    def __init__(self, target, *, token=None, learner=None, tls_ca=None,
                 tls_cert=None, tls_key=None, tls_server_name=None,
                 timeout=30.0, max_retries=DEFAULT_MAX_RETRIES):
        self.target = target
        self.timeout = timeout
        self.max_retries = max_retries
        self._metadata = []
        if token:
            self._metadata.append(("authorization", f"Bearer {token}"))
        if learner:
            self._metadata.append(("x-attnoracle-learner", learner))
        options = [("grpc.max_receive_message_length", -1),
                   ("grpc.max_send_message_length", -1)]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls_ca or tls_cert or tls_key or tls_server_name:
            if bool(tls_cert) != bool(tls_key):
                raise errors.InvalidArgument(
                    "tls_cert and tls_key go together: give both or neither")
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca, "tls_ca") if tls_ca else None,
                private_key=_read(tls_key, "tls_key") if tls_key else None,
                certificate_chain=_read(tls_cert, "tls_cert")
                if tls_cert else None)
            self._channel = grpc.secure_channel(target, credentials, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._oracle = oracle_pb2_grpc.OracleStub(self._channel)
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def call(self, method, request, what):
        """One unary call of a stub method, retried while the server says
        to retry after a rate limit; its refusal as an ao.OracleError."""
        for attempt in range(self.max_retries + 1):
            try:
                return method(request, timeout=self.timeout,
                              metadata=self._metadata)
            except grpc.RpcError as e:
                wait_ms = errors.retry_after_ms(e)
                if (e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and
                        wait_ms is not None):
                    if attempt < self.max_retries:
                        time.sleep(wait_ms / 1000.0)
                        continue
                    raise errors.RateLimited(e.details(), wait_ms) from None
                raise errors.from_rpc_error(e, what) from None

    # --- Learner calls ------------------------------------------------------

    def challenges(self):
        """The hosted challenges, as Challenge objects."""
        response = self.call(self._oracle.ListChallenges,
                             oracle_pb2.ListChallengesRequest(),
                             "ListChallenges")
        return [Challenge(self, info) for info in response.challenges]

    def challenge(self, challenge_id):
        """The challenge `challenge_id` (ao.NotFound if there is none)."""
        info = self.call(self._oracle.DescribeChallenge,
                         oracle_pb2.DescribeChallengeRequest(
                             challenge_id=challenge_id), "DescribeChallenge")
        return Challenge(self, info)

    # --- Organiser calls (the admin token) ----------------------------------

    def register_learner(self, name):
        """Registers learner `name`; returns its token (shown once)."""
        return self.call(self._admin.RegisterLearner,
                         admin_pb2.RegisterLearnerRequest(name=name),
                         "RegisterLearner").token

    def set_phase(self, challenge_id, phase):
        """Moves a challenge to "open", "closed" or "revealed"."""
        value = {"open": types_pb2.PHASE_OPEN,
                 "closed": types_pb2.PHASE_CLOSED,
                 "revealed": types_pb2.PHASE_REVEALED}.get(phase)
        if value is None:
            raise errors.InvalidArgument(
                f'phase must be "open", "closed" or "revealed"; got {phase!r}')
        self.call(self._admin.SetPhase,
                  admin_pb2.SetPhaseRequest(challenge_id=challenge_id,
                                            phase=value), "SetPhase")


@dataclasses.dataclass
class Reveal:
    """A revealed challenge: the caller's secret as a hypothesis dict, the
    commitment's nonce, and the seeds that make every answer
    reproducible."""
    secret: dict
    nonce: bytes
    prior_seed: int
    noise_seed: int
    commitment: bytes
    published_commitment: bytes


class Challenge:
    """One challenge as a learner sees it.

    Attributes: ``id``, ``title``, ``spec`` (ao.Spec), ``budget``
    (ao.Budget), ``phase`` ("open", "closed", "revealed"), ``precision``,
    ``noise_sigma``, ``answers`` (the answer form: "values", "sign",
    "top_k", "quantized"), ``access`` ("queries", "examples", "both"),
    ``policy`` (ao.verify.AnswerPolicy, every answer-shaping setting),
    ``commitment`` (bytes, as DescribeChallenge published
    it), ``info`` (the ChallengeInfo message). ``refresh()`` reads them
    again.
    """

    def __init__(self, oracle, info):
        self._oracle = oracle
        self._set_info(info)
        self._published_commitment = info.commitment
        self._revealed = None

    def _set_info(self, info):
        self.info = info
        self.id = info.id
        self.title = info.title
        self.spec = model.Spec.from_proto(info.spec)
        self.budget = model.Budget(info.policy.budget.queries,
                                   info.policy.budget.tokens)
        self.phase = model.PHASES[info.phase]
        self.precision = model.PRECISIONS[info.policy.precision]
        self.noise_sigma = info.policy.noise_sigma
        self.policy = verify_lib.AnswerPolicy.from_proto(info.policy)
        self.answers = self.policy.answers
        self.access = self.policy.access
        self.commitment = info.commitment
        self.limits = info.policy.limits

    def __repr__(self):
        return (f"<Challenge {self.id}: d_model={self.spec.d_model} "
                f"heads={self.spec.heads} {self.phase}>")

    def refresh(self):
        """Reads the challenge's description (its phase, say) again."""
        self._set_info(self._oracle.call(
            self._oracle._oracle.DescribeChallenge,
            oracle_pb2.DescribeChallengeRequest(challenge_id=self.id),
            "DescribeChallenge"))
        return self

    # --- Queries ------------------------------------------------------------

    def query(self, X, stream=False):
        """The hidden layer's answers.

        X: one (n, d_model) array: returns one (n, out_dim) array ((1,
        out_dim) under last-position readout; spec.output_dim columns with
        an FFN block). Under top-k answers each row is instead 2k numbers,
        ``index_1, value_1, ..., index_k, value_k``, largest value first
        (column indices as exact floats): an (n, 2k) array, the form the
        transcript records (``ao.verify.answer_form``); ``Y[:, 0::2]`` are
        the columns, ``Y[:, 1::2]`` their values. A list of arrays: returns a
        list, split into as few requests as the challenge's limits allow
        (each request answered whole or refused whole). stream=True sends
        one QueryStream message per sequence instead.

        Raises ao.InvalidArgument (bad shape or value; nothing charged),
        ao.BudgetExhausted (budget spent), ao.FailedPrecondition (not open).
        After a refusal, requests already answered stay charged. Unary
        requests refused by a rate limit are sent again after the server's
        hint; a stream message refused so raises ao.BudgetExhausted.
        """
        single = isinstance(X, np.ndarray) and X.ndim == 2
        sequences = [X] if single else list(X)
        matrices = []
        for i, x in enumerate(sequences):
            try:
                matrices.append(model.to_matrix(x, f"sequences[{i}]"))
            except ValueError as e:
                raise errors.InvalidArgument(str(e)) from None
        answers = (self._query_stream(matrices) if stream
                   else self._query_unary(matrices))
        return answers[0] if single else answers

    def _batches(self, matrices):
        max_sequences = self.limits.max_sequences_per_request or 1024
        max_tokens = self.limits.max_tokens_per_request or 65536
        batch, tokens = [], 0
        for m in matrices:
            if batch and (len(batch) == max_sequences or
                          tokens + m.rows > max_tokens):
                yield batch
                batch, tokens = [], 0
            batch.append(m)
            tokens += m.rows
        if batch:
            yield batch

    def _query_unary(self, matrices):
        answers = []
        for batch in self._batches(matrices):
            response = self._oracle.call(
                self._oracle._oracle.Query,
                oracle_pb2.QueryRequest(challenge_id=self.id, sequences=batch),
                "Query")
            answers += _answers(response)
        return answers

    def _query_stream(self, matrices):
        requests = queue.Queue()
        for i, m in enumerate(matrices):
            requests.put(oracle_pb2.QueryRequest(challenge_id=self.id,
                                                 sequences=[m], request_id=i))
        requests.put(None)
        answers = [None] * len(matrices)
        call = self._oracle._oracle.QueryStream(
            iter(requests.get, None), timeout=self._oracle.timeout,
            metadata=self._oracle._metadata)
        try:
            for response in call:
                if response.HasField("error"):
                    call.cancel()
                    raise errors.from_status(response.error.code,
                                             response.error.message)
                answers[response.request_id] = _answers(response)[0]
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "QueryStream") from None
        return answers

    def sample(self, count, tokens=None):
        """The learner's next `count` random examples, drawn by the server
        from the challenge's declared distribution (policy.examples), as
        (inputs, outputs): two lists of arrays, inputs (tokens, d_model),
        outputs as ``query`` returns them (top-k pairs included). Charged
        like a query of `count` sequences. `tokens` is the length of each
        example: None (or the policy's own length); another is refused.

        Raises ao.FailedPrecondition where the challenge's policy allows
        only queries, ao.InvalidArgument for a bad count or tokens,
        ao.BudgetExhausted when the budget is spent, ao.Unimplemented on a
        server without random examples.
        """
        request = oracle_pb2.SampleRequest(challenge_id=self.id, count=count,
                                           tokens=tokens or 0)
        try:
            response = self._oracle.call(self._oracle._oracle.Sample,
                                         request, "Sample")
        except errors.Unimplemented as e:
            raise errors.Unimplemented(
                "Sample: this server does not offer random examples "
                f"(the server said: {e.message or 'UNIMPLEMENTED'})") from None
        return ([model.from_matrix(m) for m in response.inputs],
                _answers(response))

    @property
    def usage(self):
        """The caller's ao.Usage on this challenge (one call each time)."""
        return model.Usage.from_proto(self._oracle.call(
            self._oracle._oracle.GetUsage,
            oracle_pb2.GetUsageRequest(challenge_id=self.id), "GetUsage"))

    # --- Submissions --------------------------------------------------------

    def submit(self, params):
        """Scores a hypothesis (a dict of ndarrays: ao.layer's format) on
        the server; returns an ao.Score. ao.InvalidArgument names a field of
        the wrong shape; ao.BudgetExhausted past the submission limit."""
        try:
            hypothesis = model.params_to_proto(params)
        except ValueError as e:
            raise errors.InvalidArgument(str(e)) from None
        response = self._oracle.call(
            self._oracle._oracle.Submit,
            oracle_pb2.SubmitRequest(challenge_id=self.id,
                                     hypothesis=hypothesis), "Submit")
        return model.Score.from_proto(response.score, response.submission_id,
                                      response.submissions_left)

    def leaderboard(self):
        """Each learner's best submission, ranked: a list of dicts (rank,
        learner, score, submissions)."""
        response = self._oracle.call(
            self._oracle._oracle.GetLeaderboard,
            oracle_pb2.GetLeaderboardRequest(challenge_id=self.id),
            "GetLeaderboard")
        return [{"rank": e.rank, "learner": e.learner,
                 "score": model.Score.from_proto(e.score, e.submission_id),
                 "submissions": e.submissions} for e in response.entries]

    def transcript(self):
        """Every answered query of the caller on this challenge, in order:
        a list of TranscriptEntry messages (read page by page)."""
        entries = []
        while True:
            page = self._oracle.call(
                self._oracle._oracle.GetTranscript,
                oracle_pb2.GetTranscriptRequest(challenge_id=self.id,
                                                first_index=len(entries)),
                "GetTranscript")
            entries += page.entries
            if not page.entries or len(entries) >= page.total_entries:
                return entries

    # --- After the reveal ---------------------------------------------------

    def reveal(self):
        """The caller's secret, nonce and seeds, once the challenge is
        revealed (ao.FailedPrecondition before). Returns an ao.Reveal."""
        response = self._oracle.call(
            self._oracle._oracle.GetReveal,
            oracle_pb2.GetRevealRequest(challenge_id=self.id), "GetReveal")
        self._revealed = Reveal(
            secret=model.params_from_proto(response.secret),
            nonce=response.nonce, prior_seed=response.prior_seed,
            noise_seed=response.noise_seed, commitment=response.commitment,
            published_commitment=self._published_commitment)
        return self._revealed

    def verify(self):
        """Checks the reveal against the commitment published when this
        object was made and replays the caller's transcript (ao.verify).
        Returns {"entries", "answers", "chain_head"}; raises
        ao.VerificationError naming the first failed check."""
        revealed = self._revealed or self.reveal()
        return verify_lib.verify(self.spec, revealed, self.transcript(),
                                 self.precision, self.noise_sigma,
                                 self.policy)


def _answers(response):
    """A Query/Sample response's answers as arrays: its outputs, or under
    top-k answers each TopKAnswer as a rows x 2k array of (index, value)
    pairs."""
    if len(response.top_k):
        answers = []
        for t in response.top_k:
            pairs = np.empty((t.rows, 2 * t.k))
            pairs[:, 0::2] = np.array(t.indices, dtype=np.float64).reshape(
                t.rows, t.k)
            pairs[:, 1::2] = np.array(t.values, dtype=np.float64).reshape(
                t.rows, t.k)
            answers.append(pairs)
        return answers
    return [model.from_matrix(m) for m in response.outputs]
