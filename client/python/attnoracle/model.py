"""Plain Python forms of the wire messages: the public spec, usage, scores,
and the conversions between numpy arrays and ``attnoracle.v1`` messages.
"""

import dataclasses

import numpy as np

from attnoracle.v1 import oracle_pb2, types_pb2

_MASKS = {types_pb2.MASK_UNSPECIFIED: "none", types_pb2.MASK_NONE: "none",
          types_pb2.MASK_CAUSAL: "causal"}
_READOUTS = {types_pb2.READOUT_UNSPECIFIED: "all", types_pb2.READOUT_ALL: "all",
             types_pb2.READOUT_LAST: "last"}
PHASES = {types_pb2.PHASE_UNSPECIFIED: "open", types_pb2.PHASE_OPEN: "open",
          types_pb2.PHASE_CLOSED: "closed",
          types_pb2.PHASE_REVEALED: "revealed"}
PRECISIONS = {types_pb2.PRECISION_UNSPECIFIED: "float64",
              types_pb2.PRECISION_FLOAT64: "float64",
              types_pb2.PRECISION_FLOAT32: "float32"}


@dataclasses.dataclass(frozen=True)
class Spec:
    """The public architecture of a challenge's hidden layer, with every
    default filled in. ``kind`` names the layer class (``ao.layer``)."""
    d_model: int
    heads: int
    head_dim: int
    value_dim: int
    out_dim: int
    mask: str          # "none" or "causal"
    readout: str       # "all" (every position) or "last"
    score_scale: float
    biases: bool
    kind: str = "attention"

    @classmethod
    def from_proto(cls, spec):
        heads = spec.heads or 1
        head_dim = spec.head_dim or spec.d_model // heads
        return cls(d_model=spec.d_model, heads=heads, head_dim=head_dim,
                   value_dim=spec.value_dim or head_dim,
                   out_dim=spec.out_dim or spec.d_model,
                   mask=_MASKS[spec.mask], readout=_READOUTS[spec.readout],
                   score_scale=spec.score_scale or head_dim ** -0.5,
                   biases=spec.biases)

    def output_rows(self, n):
        """Rows of the answer to a sequence of n tokens."""
        return 1 if self.readout == "last" else n


@dataclasses.dataclass(frozen=True)
class Budget:
    """A learner's budget on a challenge: queries (sequences) and tokens."""
    queries: int
    tokens: int


@dataclasses.dataclass(frozen=True)
class Usage:
    """What a learner has used and has left on a challenge."""
    queries_used: int
    tokens_used: int
    queries_left: int
    tokens_left: int

    @classmethod
    def from_proto(cls, u):
        return cls(u.queries_used, u.tokens_used, u.queries_left,
                   u.tokens_left)


@dataclasses.dataclass(frozen=True)
class Score:
    """The server's score of a submission. Under pass/fail feedback only
    ``passed`` and the spend are filled in (the errors are then 0)."""
    functional_rel_err: float
    max_abs_err: float
    bits: float
    theta_rel_err: float
    omega_rel_err: float
    queries_used: int
    tokens_used: int
    queries_to_bound: float
    tokens_to_bound: float
    feedback: str
    passed: bool
    submission_id: int = 0
    submissions_left: int = 0

    @classmethod
    def from_proto(cls, s, submission_id=0, submissions_left=0):
        feedback = types_pb2.Feedback.Name(s.feedback or types_pb2.FEEDBACK_FULL)
        return cls(s.functional_rel_err, s.max_abs_err, s.bits,
                   s.theta_rel_err, s.omega_rel_err, s.queries_used,
                   s.tokens_used, s.queries_to_bound, s.tokens_to_bound,
                   feedback.removeprefix("FEEDBACK_").lower(), s.passed,
                   submission_id, submissions_left)


def to_matrix(array, name):
    """A 2-D array as a Matrix message. ValueError naming `name` when the
    array is not 2-D or not numeric."""
    try:
        a = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not an array of numbers: {e}") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, cols); got "
                         f"shape {a.shape}")
    m = types_pb2.Matrix(rows=a.shape[0], cols=a.shape[1])
    m.values.extend(a.ravel().tolist())
    return m


def from_matrix(m):
    """A Matrix message as a (rows, cols) float64 array."""
    return np.array(m.values, dtype=np.float64).reshape(m.rows, m.cols)


_HEAD_MATRICES = ("wq", "wk", "wv", "wo", "theta", "omega")
_HEAD_VECTORS = ("bq", "bk", "bv")


def params_to_proto(params):
    """A hypothesis dict ({"heads": [{"wq": ...}, ...], "bo": ...}) as a
    LayerParams message. ValueError naming the field for a bad entry."""
    if not isinstance(params, dict) or "heads" not in params:
        raise ValueError('params must be a dict with a "heads" list')
    unknown = set(params) - {"heads", "bo"}
    if unknown:
        raise ValueError(f"params has unknown keys {sorted(unknown)}; "
                         'expected "heads" and "bo"')
    out = oracle_pb2.LayerParams()
    for i, head in enumerate(params["heads"]):
        h = out.heads.add()
        unknown = set(head) - set(_HEAD_MATRICES) - set(_HEAD_VECTORS)
        if unknown:
            raise ValueError(f"heads[{i}] has unknown keys {sorted(unknown)}")
        for name in _HEAD_MATRICES:
            if head.get(name) is not None:
                getattr(h, name).CopyFrom(
                    to_matrix(head[name], f"heads[{i}].{name}"))
        for name in _HEAD_VECTORS:
            if head.get(name) is not None:
                getattr(h, name).extend(_vector(head[name],
                                                f"heads[{i}].{name}"))
    if params.get("bo") is not None:
        out.bo.extend(_vector(params["bo"], "bo"))
    return out


def params_from_proto(p):
    """A LayerParams message as a hypothesis dict of ndarrays."""
    heads = []
    for h in p.heads:
        head = {name: from_matrix(getattr(h, name))
                for name in _HEAD_MATRICES if h.HasField(name)}
        for name in _HEAD_VECTORS:
            if len(getattr(h, name)):
                head[name] = np.array(getattr(h, name), dtype=np.float64)
        heads.append(head)
    params = {"heads": heads}
    if len(p.bo):
        params["bo"] = np.array(p.bo, dtype=np.float64)
    return params


def _vector(value, name):
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim != 1:
        raise ValueError(f"{name} must be a vector; got shape {a.shape}")
    return a.tolist()
