"""The single-head algebraic probe (full output, no mask, no biases).

A lone token attends only to itself, so the answer to s*e_i is s*e_i Omega:
d one-token queries give Omega row by row. In the sequence
[s*e_1, ..., s*e_d, 0] the query at position p puts weight a_j on token
s*e_j and a_0 on the zero token, whose value is 0 and whose logit is
exactly 0; its answer is s * a Omega. So c = y_p Omega^-1 = s*a, a_0 =
1 - sum(c)/s, and Theta[p, j] = log(a_j / a_0) / s^2. 2d+1 tokens in all.
Under noise the two designs are repeated as the budget allows and averaged.
"""

import numpy as np


def learn(ch, max_tokens=None, seed=1, scale=1.0):
    spec = ch.spec
    if (spec.heads != 1 or spec.mask != "none" or spec.readout != "all" or
            spec.biases or spec.out_dim != spec.d_model):
        raise ValueError(f"probe solves one head with full output, no mask "
                         f"and no biases; this spec is {spec}")
    d, s = spec.d_model, scale
    ones = [s * np.eye(d)[i:i + 1] for i in range(d)]
    design = np.vstack([s * np.eye(d), np.zeros((1, d))])
    repeats = max(1, (max_tokens or 2 * d + 1) // (2 * d + 1))
    Y = ch.query((ones + [design]) * repeats)
    omega = sum(np.vstack(Y[r * (d + 1):r * (d + 1) + d])
                for r in range(repeats)) / (repeats * s)
    y_design = sum(Y[r * (d + 1) + d] for r in range(repeats)) / repeats
    c = y_design[:d] @ np.linalg.inv(omega)        # row p: s * a_p
    a = np.clip(c / s, 1e-300, None)
    a_zero = np.clip(1.0 - c.sum(axis=1, keepdims=True) / s, 1e-300, None)
    theta = np.log(a / a_zero) / s**2
    return {"heads": [{"theta": theta, "omega": omega}]}
