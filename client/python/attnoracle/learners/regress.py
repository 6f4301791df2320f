"""Least squares by L-BFGS, for any spec ao.layer's attention covers.

Random gaussian sequences (8 tokens each, `max_tokens` in all) are asked
once; then, from a few random starts, the factors of every head (and the biases) are fitted to the
answers by minimising the relative squared error

    loss = sum ||f(X) - Y||^2 / sum ||Y||^2

with analytic gradients (the backward pass of softmax attention, written
out below) and L-BFGS with a backtracking line search. numpy only.
"""

import time

import numpy as np

SEQUENCE_TOKENS = 8
DEFAULT_MAX_TOKENS = 2000
HISTORY = 10
# Stop when the loss (a relative squared error) is this small, or when it
# fell by less than STALL_SHARE of itself in each of STALL_ITERATIONS
# iterations in a row (the noise floor, or float64's).
TOLERANCE = 1e-28
STALL_SHARE = 1e-6
STALL_ITERATIONS = 20
# A restart that fits this well ends the search for a better one.
EXACT_LOSS = 1e-20


def _shapes(spec):
    d, k, v, o = spec.d_model, spec.head_dim, spec.value_dim, spec.out_dim
    per_head = [("wq", (d, k)), ("wk", (d, k)), ("wv", (d, v)), ("wo", (v, o))]
    if spec.biases:
        per_head += [("bq", (k,)), ("bk", (k,)), ("bv", (v,))]
    shapes = [(h, name, shape) for h in range(spec.heads)
              for name, shape in per_head]
    if spec.biases:
        shapes.append((None, "bo", (o,)))
    return shapes


def _unflatten(spec, theta):
    params, pos = {"heads": [{} for _ in range(spec.heads)]}, 0
    for h, name, shape in _shapes(spec):
        size = int(np.prod(shape))
        value = theta[pos:pos + size].reshape(shape)
        (params if h is None else params["heads"][h])[name] = value
        pos += size
    return params


def _flatten(spec, grads):
    return np.concatenate([
        (grads if h is None else grads["heads"][h])[name].ravel()
        for h, name, _ in _shapes(spec)])


def loss_and_grad(spec, theta, groups):
    """The loss and its gradient over `groups`, pairs of sequences X (B, n,
    d) of one length n and their answers T (B, rows, out)."""
    p = _unflatten(spec, theta)
    norm = sum(np.sum(T**2) for _, T in groups)
    loss, grad = 0.0, np.zeros_like(theta)
    for X, T in groups:
        group_loss, group_grad = _group_loss_and_grad(spec, p, X, T, norm)
        loss += group_loss
        grad += group_grad
    return loss, grad


def _group_loss_and_grad(spec, p, X, T, norm):
    B, n, _ = X.shape
    mask = np.zeros((n, n))
    if spec.mask == "causal":
        mask[np.triu_indices(n, k=1)] = -np.inf
    caches, Y = [], np.zeros((B, n, spec.out_dim))
    for head in p["heads"]:
        Q, K, V = X @ head["wq"], X @ head["wk"], X @ head["wv"]
        if spec.biases:
            Q, K, V = Q + head["bq"], K + head["bk"], V + head["bv"]
        S = spec.score_scale * Q @ K.transpose(0, 2, 1) + mask
        A = np.exp(S - S.max(axis=-1, keepdims=True))
        A /= A.sum(axis=-1, keepdims=True)
        Z = A @ V
        Y += Z @ head["wo"]
        caches.append((Q, K, V, A, Z))
    if spec.biases:
        Y += p["bo"]
    R = np.zeros_like(Y)
    if spec.readout == "last":
        R[:, -1:] = Y[:, -1:] - T
    else:
        R[:] = Y - T
    loss = np.sum(R**2) / norm
    R *= 2.0 / norm
    grads = {"heads": []}
    for head, (Q, K, V, A, Z) in zip(p["heads"], caches):
        g = {"wo": np.einsum("bnv,bno->vo", Z, R)}
        dZ = R @ head["wo"].T
        dA = dZ @ V.transpose(0, 2, 1)
        dV = A.transpose(0, 2, 1) @ dZ
        dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
        dQ = spec.score_scale * dS @ K
        dK = spec.score_scale * dS.transpose(0, 2, 1) @ Q
        for name, dP in (("q", dQ), ("k", dK), ("v", dV)):
            g["w" + name] = np.einsum("bnd,bnk->dk", X, dP)
            g["b" + name] = dP.sum(axis=(0, 1))
        grads["heads"].append(g)
    grads["bo"] = R.sum(axis=(0, 1))
    return loss, _flatten(spec, grads)


def lbfgs(f, x, max_iterations=5000, time_limit=60.0):
    """Minimises f (returning value and gradient) from x with L-BFGS."""
    value, grad = f(x)
    s_list, y_list = [], []
    deadline = time.monotonic() + time_limit
    stalled = 0
    for _ in range(max_iterations):
        if (value <= TOLERANCE or stalled >= STALL_ITERATIONS or
                time.monotonic() > deadline):
            break
        # Two-loop recursion: direction = -H grad.
        q, alphas = grad.copy(), []
        for s, y in reversed(list(zip(s_list, y_list))):
            alpha = s @ q / (y @ s)
            alphas.append(alpha)
            q -= alpha * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
        for (s, y), alpha in zip(zip(s_list, y_list), reversed(alphas)):
            q += (alpha - (y @ q) / (y @ s)) * s
        direction = -q
        slope = grad @ direction
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_list, y_list, direction, slope = [], [], -grad, -(grad @ grad)
        step = 1.0
        while True:
            new_x = x + step * direction
            new_value, new_grad = f(new_x)
            if new_value <= value + 1e-4 * step * slope or step < 1e-20:
                break
            step *= 0.5
        if step < 1e-20:
            break
        s, y = new_x - x, new_grad - grad
        if s @ y > 1e-300:
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > HISTORY:
                s_list.pop(0)
                y_list.pop(0)
        stalled = stalled + 1 if value - new_value < STALL_SHARE * value else 0
        x, value, grad = new_x, new_value, new_grad
    return x, value


def learn(ch, max_tokens=None, seed=1, time_limit=60.0, restarts=4):
    spec = ch.spec
    rng = np.random.default_rng(seed)
    tokens = max_tokens or DEFAULT_MAX_TOKENS
    # Sequences of SEQUENCE_TOKENS, and one shorter one with the rest.
    lengths = [SEQUENCE_TOKENS] * (tokens // SEQUENCE_TOKENS)
    if tokens % SEQUENCE_TOKENS:
        lengths.append(tokens % SEQUENCE_TOKENS)
    X = [rng.standard_normal((n, spec.d_model)) for n in lengths]
    answers = ch.query(X)
    groups = []
    for n in sorted(set(lengths)):
        pick = [i for i, m in enumerate(lengths) if m == n]
        groups.append((np.stack([X[i] for i in pick]),
                       np.stack([answers[i] for i in pick])))
    size = sum(int(np.prod(shape)) for _, _, shape in _shapes(spec))
    # Random restarts share the time; the best fit wins, and an exact one
    # ends the search.
    deadline = time.monotonic() + time_limit
    best, best_loss = None, np.inf
    for _ in range(restarts):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        theta0 = rng.standard_normal(size) / np.sqrt(spec.d_model)
        theta, loss = lbfgs(lambda t: loss_and_grad(spec, t, groups), theta0,
                            time_limit=left)
        if loss < best_loss:
            best, best_loss = theta, loss
        if best_loss <= EXACT_LOSS:
            break
    return _unflatten(spec, best)
