"""[P1] holds for random features and labels: 0 <= L_CL - L_NSCL <= the loss-gap bound,
per anchor and per batch, with and without the positive in the denominator, for the
SimCLR (l1 != l2) and the papers' K^2 pairings. The losses here are a deliberately slow
Python-loop reference (THEORY.md section 2), independent of any library code."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bounds import loss_gap_bound


def _cos(u, v):
    return float(u @ v / (math.sqrt(u @ u) * math.sqrt(v @ v)))


def slow_per_anchor_losses(Z, y, tau, *, supervised, positive_in_denominator, pairs):
    """Per-(anchor, pair) losses -log(num/den) by explicit loops.

    Z: (K, n, d) views; anchor z_i^{l1}, positive z_i^{l2}. The denominator sums
    exp(cos(z_i^{l1}, z_j^{l3})/tau) over all views l3 of all samples j != i (CL), or only
    over j with y_j != y_i (NSCL); optionally plus the positive itself.
    """
    K, n, _ = Z.shape
    losses = []
    for l1 in range(K):
        for l2 in range(K):
            if pairs == "distinct" and l1 == l2:
                continue
            for i in range(n):
                num = math.exp(_cos(Z[l1, i], Z[l2, i]) / tau)
                den = num if positive_in_denominator else 0.0
                for j in range(n):
                    if j == i or (supervised and y[j] == y[i]):
                        continue
                    for l3 in range(K):
                        den += math.exp(_cos(Z[l1, i], Z[l3, j]) / tau)
                losses.append(-math.log(num / den))
    return np.array(losses)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    n=st.integers(3, 9),
    d=st.integers(1, 4),
    tau=st.floats(0.05, 5.0),
    positive_in_denominator=st.booleans(),
    pairs=st.sampled_from(["distinct", "all"]),
)
def test_p1_loss_gap_holds(data, n, d, tau, positive_in_denominator, pairs):
    Z = data.draw(arrays(np.float64, (2, n, d),
                         elements=st.floats(-3, 3, allow_nan=False, allow_infinity=False)))
    Z = Z + 1e-3 * np.arange(1, d + 1)          # no zero vectors
    y = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    if len(set(y.tolist())) < 2:                # NSCL needs a negative for every anchor
        y[0] = (y[1] + 1) % 4
    kw = dict(positive_in_denominator=positive_in_denominator, pairs=pairs)
    cl = slow_per_anchor_losses(Z, y, tau, supervised=False, **kw)
    nscl = slow_per_anchor_losses(Z, y, tau, supervised=True, **kw)
    gap = cl - nscl
    n_max = int(np.bincount(y).max())
    paper = loss_gap_bound(tau, n_max=n_max, N=n)
    tight = loss_gap_bound(tau, n_max=n_max, N=n, form="tight")
    tol = 1e-9 * (1 + 2 / tau)
    assert np.all(gap >= -tol)                              # per anchor
    assert np.all(gap <= tight + tol) and tight <= paper + 1e-15
    assert 0 - tol <= gap.mean() <= tight + tol             # per batch
    # balanced labels: the balanced form is the same bound
    if np.all(np.bincount(y)[np.bincount(y) > 0] == n_max):
        C = int((np.bincount(y) > 0).sum())
        assert gap.max() <= loss_gap_bound(tau, C=C, form="balanced") + tol


def test_bound_is_attained_in_the_extreme_configuration():
    # Same-class samples identical to the anchor (cos 1), other classes antipodal (cos -1):
    # the per-anchor gap equals the tight bound exactly.
    tau, n_per = 0.5, 3
    u = np.array([1.0, 0.0])
    Z = np.stack([np.vstack([np.tile(u, (n_per, 1)), np.tile(-u, (n_per, 1))])] * 2)
    y = np.array([0] * n_per + [1] * n_per)
    kw = dict(positive_in_denominator=False, pairs="distinct")
    gap = (slow_per_anchor_losses(Z, y, tau, supervised=False, **kw)
           - slow_per_anchor_losses(Z, y, tau, supervised=True, **kw))
    np.testing.assert_allclose(gap, loss_gap_bound(tau, n_max=n_per, N=2 * n_per, form="tight"),
                               rtol=1e-12)
