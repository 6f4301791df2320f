"""The hidden layer's forward pass in plain numpy, written to be read.

The server computes the same function in C++ (common/attention.cc); the
tests hold this one to the server's answers within 1e-12 on every built-in
challenge. Parameters are a dict of ndarrays, the hypothesis format of
``oracle-client submit`` and ``Challenge.submit``::

    params = {"heads": [{"wq": Wq, "wk": Wk, "wv": Wv, "wo": Wo}], "bo": bo}
    Y = ao.layer.forward(ch.spec, params, X)      # X: (n, d_model)

A head may instead give its identifiable products ``{"theta": Theta,
"omega": Omega}`` with Theta = Wq Wk^T * score_scale and Omega = Wv Wo.

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
    kept under last-position readout.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    Y = np.zeros((n, spec.out_dim))
    mask = np.zeros((n, n))
    if spec.mask == "causal":
        mask[np.triu_indices(n, k=1)] = -np.inf
    for head in params["heads"]:
        if "theta" in head:
            logits = X @ np.asarray(head["theta"]) @ X.T
            values = X @ np.asarray(head["omega"])
        else:
            Q = X @ head["wq"] + _bias(head, "bq")
            K = X @ head["wk"] + _bias(head, "bk")
            V = X @ head["wv"] + _bias(head, "bv")
            logits = Q @ K.T * spec.score_scale
            values = V @ head["wo"]
        Y += softmax_rows(logits + mask) @ values
    Y += _bias(params, "bo")
    if spec.readout == "last":
        return Y[-1:]
    return Y


def _bias(holder, name):
    value = holder.get(name)
    return 0.0 if value is None or len(value) == 0 else np.asarray(value)


# Spec.kind -> forward pass. Layer classes the server adds later (an FFN
# block, shared keys and values, linear attention, stacks) go here.
FORWARD_PASSES = {
    "attention": attention_forward,
}


def forward(spec, params, X):
    """The layer's output on one sequence X (n x d_model): an (n, out_dim)
    array, or (1, out_dim) under last-position readout."""
    try:
        fn = FORWARD_PASSES[spec.kind]
    except KeyError:
        raise NotImplementedError(
            f"ao.layer has no forward pass for layer class {spec.kind!r}; "
            f"known: {sorted(FORWARD_PASSES)}") from None
    return fn(spec, params, X)


def random_params(spec, rng, scale=None):
    """Gaussian parameters that fit `spec` (numpy's generator, not the
    server's prior): for tests and exercises."""
    d, k, v, o = spec.d_model, spec.head_dim, spec.value_dim, spec.out_dim
    scale = 1.0 / np.sqrt(d) if scale is None else scale

    def draw(*shape):
        return scale * rng.standard_normal(shape)

    heads = []
    for _ in range(spec.heads):
        head = {"wq": draw(d, k), "wk": draw(d, k), "wv": draw(d, v),
                "wo": draw(v, o)}
        if spec.biases:
            head.update(bq=draw(k), bk=draw(k), bv=draw(v))
        heads.append(head)
    params = {"heads": heads}
    if spec.biases:
        params["bo"] = draw(o)
    return params
