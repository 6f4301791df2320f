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
_ATTENTIONS = {types_pb2.ATTENTION_UNSPECIFIED: "softmax",
               types_pb2.ATTENTION_SOFTMAX: "softmax",
               types_pb2.ATTENTION_LINEAR: "linear"}
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
    kv_heads: int = 0          # heads sharing wk, wv in groups; 0: heads
    attention: str = "softmax"  # "softmax" or "linear"
    layers: int = 1
    residual: bool = False     # X_{l+1} = X_l + Attn_l(X_l), every layer
    tie_qk: bool = False       # wk = wq (and bk = bq) in every head
    ffn_hidden: int = 0        # > 0: a ReLU feed-forward block follows
    ffn_out_dim: int = 0
    ffn_biases: bool = False
    ffn_residual: bool = False

    def __post_init__(self):
        # kv_heads 0 means "heads" (no sharing), as on the wire.
        if not self.kv_heads:
            object.__setattr__(self, "kv_heads", self.heads)

    @classmethod
    def from_proto(cls, spec):
        heads = spec.heads or 1
        head_dim = spec.head_dim or spec.d_model // heads
        out_dim = spec.out_dim or spec.d_model
        has_ffn = spec.HasField("ffn") and spec.ffn.hidden > 0
        attention = _ATTENTIONS[spec.attention]
        layers = spec.layers or 1
        return cls(d_model=spec.d_model, heads=heads, head_dim=head_dim,
                   value_dim=spec.value_dim or head_dim, out_dim=out_dim,
                   mask=_MASKS[spec.mask], readout=_READOUTS[spec.readout],
                   score_scale=spec.score_scale or head_dim ** -0.5,
                   biases=spec.biases,
                   kind=layer_kind(attention, layers, spec.residual, has_ffn),
                   kv_heads=spec.kv_heads or heads, attention=attention,
                   layers=layers, residual=spec.residual,
                   tie_qk=spec.tie_qk,
                   ffn_hidden=spec.ffn.hidden if has_ffn else 0,
                   ffn_out_dim=(spec.ffn.out_dim or out_dim) if has_ffn
                   else 0,
                   ffn_biases=has_ffn and spec.ffn.biases,
                   ffn_residual=has_ffn and spec.ffn.residual)

    @property
    def has_ffn(self):
        return self.ffn_hidden > 0

    @property
    def output_dim(self):
        """Columns of the answer: ffn_out_dim with an FFN block, else
        out_dim."""
        return self.ffn_out_dim if self.has_ffn else self.out_dim

    def kv_group_start(self, h):
        """The first head of head h's group sharing keys and values."""
        size = self.heads // (self.kv_heads or self.heads)
        return h - h % size

    def output_rows(self, n):
        """Rows of the answer to a sequence of n tokens."""
        return 1 if self.readout == "last" else n


def layer_kind(attention, layers, residual, has_ffn):
    """The name ao.layer.FORWARD_PASSES knows a layer class by: "ffn"
    (an FFN block after the attention), "stack" (several layers or a
    residual), "linear" (one linear-attention layer) or "attention" (one
    softmax layer; shared keys and values and tied query/key weights are
    constraints on its parameters, not another forward pass)."""
    if has_ffn:
        return "ffn"
    if layers > 1 or residual:
        return "stack"
    return "linear" if attention == "linear" else "attention"


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
    # Sign-answer challenges: the share of output signs that differ.
    sign_disagreement: float = 0.0
    # Set where the class does not identify theta (omega); the matching
    # error above is then 0 and means nothing; parameter_note says why.
    theta_omitted: bool = False
    omega_omitted: bool = False
    parameter_note: str = ""
    # The FFN units up to permutation and positive rescaling; ffn_omitted
    # where the class does not identify them (no FFN block included).
    ffn_rel_err: float = 0.0
    ffn_omitted: bool = False

    @classmethod
    def from_proto(cls, s, submission_id=0, submissions_left=0):
        feedback = types_pb2.Feedback.Name(s.feedback or types_pb2.FEEDBACK_FULL)
        return cls(s.functional_rel_err, s.max_abs_err, s.bits,
                   s.theta_rel_err, s.omega_rel_err, s.queries_used,
                   s.tokens_used, s.queries_to_bound, s.tokens_to_bound,
                   feedback.removeprefix("FEEDBACK_").lower(), s.passed,
                   submission_id, submissions_left, s.sign_disagreement,
                   s.theta_omitted, s.omega_omitted, s.parameter_note,
                   s.ffn_rel_err, s.ffn_omitted)


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
    """A hypothesis dict as a LayerParams message. ValueError naming the
    field for a bad entry. Forms (the README's JSON form, as numpy):

        {"heads": [{"wq": ..., "wk": ..., "wv": ..., "wo": ...}], "bo": ...}
        {"layers": [{"heads": [...], "bo": ...}, ...],     # first layer first
         "ffn": {"w1": ..., "b1": ..., "w2": ..., "b2": ...}}

    ("ffn" goes with either form, exactly when the spec has the block.)"""
    if not isinstance(params, dict) or not ("heads" in params or
                                            "layers" in params):
        raise ValueError('params must be a dict with a "heads" or a "layers" '
                         "list")
    unknown = set(params) - {"heads", "bo", "layers", "ffn"}
    if unknown:
        raise ValueError(f"params has unknown keys {sorted(unknown)}; "
                         'expected "heads", "bo", "layers" and "ffn"')
    out = oracle_pb2.LayerParams()
    _layer_to_proto(params, out, "")
    for l, lay in enumerate(params.get("layers") or []):
        if not isinstance(lay, dict):
            raise ValueError(f"layers[{l}] must be a dict with a \"heads\" "
                             "list")
        unknown = set(lay) - {"heads", "bo"}
        if unknown:
            raise ValueError(f"layers[{l}] has unknown keys {sorted(unknown)}")
        _layer_to_proto(lay, out.layers.add(), f"layers[{l}].")
    ffn = params.get("ffn")
    if ffn is not None:
        unknown = set(ffn) - set(_FFN_MATRICES) - set(_FFN_VECTORS)
        if unknown:
            raise ValueError(f"ffn has unknown keys {sorted(unknown)}")
        for name in _FFN_MATRICES:
            if ffn.get(name) is not None:
                getattr(out.ffn, name).CopyFrom(
                    to_matrix(ffn[name], f"ffn.{name}"))
        for name in _FFN_VECTORS:
            if ffn.get(name) is not None:
                getattr(out.ffn, name).extend(_vector(ffn[name],
                                                      f"ffn.{name}"))
    return out


_FFN_MATRICES = ("w1", "w2")
_FFN_VECTORS = ("b1", "b2")


def _layer_to_proto(lay, out, prefix):
    for i, head in enumerate(lay.get("heads") or []):
        h = out.heads.add()
        unknown = set(head) - set(_HEAD_MATRICES) - set(_HEAD_VECTORS)
        if unknown:
            raise ValueError(
                f"{prefix}heads[{i}] has unknown keys {sorted(unknown)}")
        for name in _HEAD_MATRICES:
            if head.get(name) is not None:
                getattr(h, name).CopyFrom(
                    to_matrix(head[name], f"{prefix}heads[{i}].{name}"))
        for name in _HEAD_VECTORS:
            if head.get(name) is not None:
                getattr(h, name).extend(_vector(head[name],
                                                f"{prefix}heads[{i}].{name}"))
    if lay.get("bo") is not None:
        out.bo.extend(_vector(lay["bo"], f"{prefix}bo"))


def params_from_proto(p):
    """A LayerParams message as a hypothesis dict of ndarrays: "heads" and
    "bo" for the original one-layer form, "layers" for a stack (as sent),
    and "ffn" when the message has the block."""
    params = _layer_from_proto(p) if len(p.heads) or not len(p.layers) \
        else {}
    if len(p.layers):
        params["layers"] = [_layer_from_proto(lay) for lay in p.layers]
    if p.HasField("ffn"):
        ffn = {name: from_matrix(getattr(p.ffn, name))
               for name in _FFN_MATRICES if p.ffn.HasField(name)}
        for name in _FFN_VECTORS:
            if len(getattr(p.ffn, name)):
                ffn[name] = np.array(getattr(p.ffn, name), dtype=np.float64)
        params["ffn"] = ffn
    return params


def _layer_from_proto(p):
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
