"""Reference solutions of the exercises in docs/teaching/, in the order of
each notebook's cells tagged "exercise". The notebook test puts them in
place of those cells before running the notebook; students never see them.
"""

SOLUTIONS = {
    "lesson1-omega": ['''def recover_omega(ch):
    d = ch.spec.d_model
    return np.vstack(ch.query([np.eye(d)[i:i + 1] for i in range(d)]))'''],
    "lesson2-theta": ['''def theta_from_weights(weights, s):
    a_zero = 1.0 - weights.sum(axis=1, keepdims=True)
    return np.log(weights / a_zero) / s**2'''],
    "lesson3-causal-last": ['''def causal_theta(ch, omega):
    d = ch.spec.d_model
    forward = np.vstack([np.zeros((1, d)), np.eye(d)])
    backward = np.vstack([np.zeros((1, d)), np.eye(d)[::-1]])
    Yf, Yb = ch.query([forward, backward])
    theta = np.zeros((d, d))
    for p in range(d):
        # Forward: position p + 1 holds e_p and sees 0, e_0 .. e_p.
        a = Yf[p + 1] @ np.linalg.inv(omega)
        theta[p, :p + 1] = np.log(a[:p + 1] / (1 - a[:p + 1].sum()))
        # Backward: position d - p holds e_p and sees 0, e_{d-1} .. e_p.
        b = Yb[d - p] @ np.linalg.inv(omega)
        theta[p, p:] = np.log(b[p:] / (1 - b[p:].sum()))
    return theta'''],
    "lesson4-noise": ['''def fit_omega(X, Y):
    return np.linalg.lstsq(X, Y, rcond=None)[0]'''],
    "lesson5-heads": ['''def equivalent(params):
    heads = []
    for head in reversed(params["heads"]):
        heads.append({"wq": 2 * head["wq"], "wk": head["wk"] / 2,
                      "wv": 3 * head["wv"], "wo": head["wo"] / 3})
    return {"heads": heads}'''],
}
