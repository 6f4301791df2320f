"""The hidden layer's forward pass in plain numpy, written to be read.

The server computes the same function in C++ (common/attention.cc); the
tests hold this one to the server's answers within 1e-12 on every built-in
challenge. Parameters are a dict of ndarrays, the hypothesis format of
``oracle-client submit`` and ``Challenge.submit``::

    params = {"heads": [{"wq": Wq, "wk": Wk, "wv": Wv, "wo": Wo}], "bo": bo}
    Y = ao.layer.forward(ch.spec, params, X)      # X: (n, d_model)

A head may instead give its identifiable products ``{"theta": Theta,
"omega": Omega}`` with Theta = Wq Wk^T * score_scale and Omega = Wv Wo.

A stack gives its layers first layer first, and an FFN block its own
matrices, with either form::

    params = {"layers": [{"heads": [...], "bo": bo_0}, {"heads": [...]}],
              "ffn": {"w1": W1, "b1": b1, "w2": W2, "b2": b2}}

Under ``tie_qk`` a head may leave out ``wk`` (and ``bk``): its queries are
its keys. Under ``kv_heads < heads`` a head may leave out ``wk``, ``wv``
(``bk``, ``bv``): its group's first head's are used. (The server's reveal
writes them out in every head, as copies.)

One function per layer class, registered in ``FORWARD_PASSES`` under the
name ``Spec.kind`` gives it; a new class of the server is one more function
and one more entry there.
"""

import numpy as np


def softmax_rows(logits):
    """Softmax of each row; -inf entries (masked keys) get weight 0."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def head_products(head, score_scale):
    """(Theta, Omega) of one head given in either form."""
    if "theta" in head:
        return np.asarray(head["theta"]), np.asarray(head["omega"])
    theta = head["wq"] @ head["wk"].T * score_scale
    return theta, head["wv"] @ head["wo"]


def attention_forward(spec, params, X):
    """Softmax attention, summed over heads:

        Y = sum_h softmax(Q_h K_h^T * scale + M) V_h Wo_h  (+ bo)

    with Q_h = X Wq_h (+ bq_h), K_h = X Wk_h (+ bk_h), V_h = X Wv_h (+ bv_h),
    M = -inf above the diagonal under a causal mask, and only the last row
    kept under last-position readout. Shared keys and values (kv_heads) and
    tied query/key weights change the parameters, not this formula.
    """
    X = np.asarray(X, dtype=np.float64)
    return attention_layer(spec, _layers(params)[-1], X,
                           last_only=spec.readout == "last")


def linear_attention_forward(spec, params, X):
    """Linear attention: the weights are the scaled scores themselves,

        Y = sum_h ((Q_h K_h^T * scale) o C) V_h Wo_h  (+ bo)

    with C the causal mask's 0/1 pattern (all ones without a mask): no
    softmax, no normaliser."""
    return attention_forward(spec, params, X)


def stack_forward(spec, params, X):
    """A stack of attention layers, first layer first:

        X_0 = X,  X_{l+1} = Attn_l(X_l) (+ X_l with residual)

    every layer but the last over every position with the mask; the last
    one returns the readout's rows (with residual, plus those rows of its
    input)."""
    X = np.asarray(X, dtype=np.float64)
    layers = _layers(params)
    for lay in layers[:-1]:
        X = attention_layer(spec, lay, X, last_only=False)
    return attention_layer(spec, layers[-1], X,
                           last_only=spec.readout == "last")


def ffn_forward(spec, params, X):
    """The attention (one layer or a stack) and then, on every returned row
    Z, the ReLU feed-forward block:

        Y = max(0, Z W1 + b1) W2 + b2  (+ Z with ffn residual)
    """
    Z = stack_forward(spec, params, X)
    ffn = params["ffn"]
    hidden = Z @ np.asarray(ffn["w1"])
    if spec.ffn_biases:
        hidden = hidden + _bias(ffn, "b1")
    Y = np.maximum(hidden, 0.0) @ np.asarray(ffn["w2"])
    if spec.ffn_biases:
        Y = Y + _bias(ffn, "b2")
    if spec.ffn_residual:
        Y = Y + Z
    return Y


def attention_layer(spec, lay, X, last_only):
    """One attention layer ({"heads": [...], "bo": ...}) on X: every row, or
    only the last with `last_only` (which the causal mask does not
    restrict). Softmax or linear weights as spec.attention says; plus the
    query rows of X with spec.residual."""
    n = X.shape[0]
    queries = X[-1:] if last_only else X
    visible = np.ones((queries.shape[0], n), dtype=bool)
    if spec.mask == "causal" and not last_only:
        visible = np.tril(visible)
    heads = resolve_heads(spec, lay["heads"])
    Y = np.zeros((queries.shape[0], _columns(heads)))
    for head in heads:
        if "theta" in head:
            scores = queries @ np.asarray(head["theta"]) @ X.T
            values = X @ np.asarray(head["omega"])
        else:
            Q = queries @ head["wq"] + _bias(head, "bq")
            K = X @ head["wk"] + _bias(head, "bk")
            V = X @ head["wv"] + _bias(head, "bv")
            scores = Q @ K.T * spec.score_scale
            values = V @ head["wo"]
        if spec.attention == "linear":
            weights = np.where(visible, scores, 0.0)
        else:
            weights = softmax_rows(np.where(visible, scores, -np.inf))
        Y += weights @ values
    Y += _bias(lay, "bo")
    if spec.residual:
        Y += queries
    return Y


def resolve_heads(spec, heads):
    """The heads with every block written out: under tie_qk a missing wk
    (bk) is the head's wq (bq); under kv_heads < heads a missing wk, wv
    (bk, bv) is the group's first head's."""
    out = []
    for h, head in enumerate(heads):
        head = dict(head)
        if "theta" not in head:
            first = heads[spec.kv_group_start(h)]
            for name, tied in (("wk", "wq"), ("bk", "bq"), ("wv", None),
                               ("bv", None)):
                if head.get(name) is not None:
                    continue
                if spec.tie_qk and tied is not None:
                    if head.get(tied) is not None:
                        head[name] = head[tied]
                elif first.get(name) is not None:
                    head[name] = first[name]
        out.append(head)
    return out


def _layers(params):
    """A stack's layers ({"heads", "bo"} dicts), first layer first; the
    original one-layer form is a stack of one."""
    if params.get("layers"):
        return params["layers"]
    return [params]


def _columns(heads):
    head = heads[0]
    return np.shape(head["omega"] if "theta" in head else head["wo"])[1]


def _bias(holder, name):
    value = holder.get(name)
    return 0.0 if value is None or len(value) == 0 else np.asarray(value)


# Spec.kind (model.layer_kind) -> forward pass.
FORWARD_PASSES = {
    "attention": attention_forward,
    "linear": linear_attention_forward,
    "stack": stack_forward,
    "ffn": ffn_forward,
}


def forward(spec, params, X):
    """The layer's output on one sequence X (n x d_model): an (n,
    spec.output_dim) array, or (1, spec.output_dim) under last-position
    readout."""
    try:
        fn = FORWARD_PASSES[spec.kind]
    except KeyError:
        raise NotImplementedError(
            f"ao.layer has no forward pass for layer class {spec.kind!r}; "
            f"known: {sorted(FORWARD_PASSES)}") from None
    return fn(spec, params, X)


def random_params(spec, rng, scale=None):
    """Gaussian parameters that fit `spec` (numpy's generator, not the
    server's prior): for tests and exercises. Shared and tied blocks are
    written out as copies; a stack comes as "layers", an FFN block as
    "ffn"."""
    d, k, v, o = spec.d_model, spec.head_dim, spec.value_dim, spec.out_dim
    scale = 1.0 / np.sqrt(d) if scale is None else scale

    def draw(*shape):
        return scale * rng.standard_normal(shape)

    def one_layer(out_dim):
        heads = []
        for h in range(spec.heads):
            head = {"wq": draw(d, k), "wk": draw(d, k), "wv": draw(d, v),
                    "wo": draw(v, out_dim)}
            if spec.biases:
                head.update(bq=draw(k), bk=draw(k), bv=draw(v))
            heads.append(head)
        lay = {"heads": resolve_heads(spec, [
            _drop_shared(spec, h, head) for h, head in enumerate(heads)])}
        if spec.biases:
            lay["bo"] = draw(out_dim)
        return lay

    if spec.layers <= 1 and not spec.has_ffn:
        return one_layer(o)
    params = {"layers": [one_layer(d) for _ in range(spec.layers - 1)] +
              [one_layer(o)]}
    if spec.has_ffn:
        params["ffn"] = {"w1": draw(o, spec.ffn_hidden),
                         "w2": draw(spec.ffn_hidden, spec.ffn_out_dim)}
        if spec.ffn_biases:
            params["ffn"].update(b1=draw(spec.ffn_hidden),
                                 b2=draw(spec.ffn_out_dim))
    return params


def _drop_shared(spec, h, head):
    """The head without the blocks it does not own (resolve_heads fills
    them back from their owner)."""
    drop = set()
    if spec.tie_qk:
        drop |= {"wk", "bk"}
    if spec.kv_group_start(h) != h:
        drop |= {"wk", "wv", "bk", "bv"}
    return {name: value for name, value in head.items() if name not in drop}
