"""AttnOracle from Python: a numpy client of the Oracle service, the hidden
layer's forward pass, teaching learners, and budget studies.

    import attnoracle as ao
    with ao.connect("127.0.0.1:50051") as oracle:
        ch = oracle.challenge("tiny-d4")
        Y = ch.query(X)                  # X: (n, d_model) ndarray
        score = ch.submit(params)        # params: ao.layer's dict of ndarrays

Modules: ao.layer (forward pass), ao.learners (probe, regress),
ao.server (start a local oracle-server), ao.study (python3 -m
attnoracle.study), ao.verify (replay a revealed transcript).
The generated stubs are ao.v1 (attnoracle.v1.oracle_pb2 and friends).
"""

from attnoracle import layer, learners, server
from attnoracle.client import Challenge, Oracle, Reveal, connect
from attnoracle.errors import (AlreadyExists, BudgetExhausted,
                               DeadlineExceeded, FailedPrecondition,
                               InvalidArgument, NotFound, OracleError,
                               PermissionDenied, RateLimited, Unauthenticated,
                               Unavailable, Unimplemented, VerificationError)
from attnoracle.model import Budget, Score, Spec, Usage

__all__ = [
    "AlreadyExists", "Budget", "BudgetExhausted", "Challenge",
    "DeadlineExceeded", "FailedPrecondition", "InvalidArgument", "NotFound",
    "Oracle", "OracleError", "PermissionDenied", "RateLimited", "Reveal",
    "Score", "Spec", "Unauthenticated", "Unavailable", "Unimplemented",
    "Usage", "VerificationError", "connect", "layer", "learners", "server",
]
