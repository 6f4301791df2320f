"""Typed errors: one exception class per gRPC status the server gives.

Every refusal of the server arrives as an :class:`OracleError` subclass that
carries the status code's name (``code``) and the server's message
(``message``, which names the field at fault)::

    try:
        ch.query(X)
    except ao.BudgetExhausted as e:
        print("out of budget:", e.message)

The server's messages never contain secret values; neither do these.
"""

import grpc


class OracleError(Exception):
    """A call the server refused, or a server that could not be reached.

    Attributes:
      code: the gRPC status code's name, e.g. ``"INVALID_ARGUMENT"``.
      message: the server's message (or the client's, for checks made
        before anything is sent).
    """

    code = "UNKNOWN"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        return f"{self.code}: {self.message}"


class InvalidArgument(OracleError):
    """A request of the wrong shape or with a bad value (INVALID_ARGUMENT)."""
    code = "INVALID_ARGUMENT"


class BudgetExhausted(OracleError):
    """A budget, a submission limit or a rate limit is spent
    (RESOURCE_EXHAUSTED). Nothing was charged."""
    code = "RESOURCE_EXHAUSTED"


class RateLimited(BudgetExhausted):
    """A rate-limited request that was still refused after the client's
    retries. ``retry_after_ms`` is the server's last hint."""

    def __init__(self, message, retry_after_ms):
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class NotFound(OracleError):
    """An unknown challenge or learner (NOT_FOUND)."""
    code = "NOT_FOUND"


class PermissionDenied(OracleError):
    """Not the caller's to do or see (PERMISSION_DENIED)."""
    code = "PERMISSION_DENIED"


class Unauthenticated(OracleError):
    """No token, or a bad or revoked one (UNAUTHENTICATED)."""
    code = "UNAUTHENTICATED"


class FailedPrecondition(OracleError):
    """The challenge is in the wrong phase, or the server is not set up for
    the call (FAILED_PRECONDITION)."""
    code = "FAILED_PRECONDITION"


class Unavailable(OracleError):
    """No server answered, or its database failed (UNAVAILABLE)."""
    code = "UNAVAILABLE"


class Unimplemented(OracleError):
    """The server does not offer this call (UNIMPLEMENTED)."""
    code = "UNIMPLEMENTED"


class AlreadyExists(OracleError):
    """The learner or challenge exists already (ALREADY_EXISTS)."""
    code = "ALREADY_EXISTS"


class DeadlineExceeded(OracleError):
    """The call's deadline passed before the answer came (DEADLINE_EXCEEDED)."""
    code = "DEADLINE_EXCEEDED"


class VerificationError(Exception):
    """A revealed secret or a transcript failed a check of ``verify()``;
    the message names the first check that failed."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: BudgetExhausted,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}

# google.rpc.Code numbers, as QueryStream's in-band errors carry them.
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def retry_after_ms(error):
    """The server's ``retry-after-ms`` hint on a refused call, or None."""
    trailers = getattr(error, "trailing_metadata", None)
    for key, value in (trailers() if callable(trailers) else None) or ():
        if key == "retry-after-ms" and str(value).isdigit():
            return int(value)
    return None


def from_status(code, message):
    """The exception for a grpc.StatusCode (or its number) and a message."""
    if isinstance(code, int):
        code = _BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code, OracleError)
    if cls is OracleError:
        return OracleError(message, code=code.name)
    return cls(message)


def from_rpc_error(error, what=""):
    """The exception for a grpc.RpcError; `what` (e.g. "Sample") prefixes a
    message the server left empty."""
    message = error.details() or ""
    if not message:
        message = f"{what or 'the call'} was refused with {error.code().name}"
    return from_status(error.code(), message)
