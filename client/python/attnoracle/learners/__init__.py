"""Teaching learners in numpy: each is a function learn(ch, max_tokens=None,
seed=1) -> params of anything with ``spec`` and ``query`` (a Challenge, or
a LocalChallenge with no server), returning ao.layer's hypothesis dict.

    params = ao.learners.probe.learn(ch)
    print(ch.submit(params).functional_rel_err)

probe: the single-head algebraic probe (2d+1 tokens). regress: a least-
squares fit of random queries by L-BFGS, for any spec.
"""

import numpy as np

from attnoracle import layer
from attnoracle.learners import probe, regress

LEARNERS = {"probe": probe.learn, "regress": regress.learn}


class LocalChallenge:
    """A known layer that answers like a challenge, with no server: for
    trying a learner before spending budget. ``tokens_used`` counts."""

    def __init__(self, spec, params, noise_sigma=0.0, seed=0):
        self.spec = spec
        self.params = params
        self.noise_sigma = noise_sigma
        self.tokens_used = 0
        self._rng = np.random.default_rng(seed)

    def query(self, X, stream=False):
        single = isinstance(X, np.ndarray) and X.ndim == 2
        answers = []
        for x in ([X] if single else X):
            y = layer.forward(self.spec, self.params, x)
            answers.append(y + self.noise_sigma *
                           self._rng.standard_normal(y.shape))
            self.tokens_used += len(x)
        return answers[0] if single else answers


__all__ = ["LEARNERS", "LocalChallenge", "probe", "regress"]
