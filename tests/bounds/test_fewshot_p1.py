"""[P1] Proposition 1 in the registry: its numeric twin against a hand evaluation, the
direction it moves in, NaN passing through, and one-sentence errors. (The registry tests
check the twin against the sympy expression with every other entry.)"""

import math

import numpy as np
import pytest

from bounds import numeric as num
from bounds.registry import REGISTRY


def test_registered_with_its_provenance():
    e = REGISTRY["fewshot_p1"]
    assert e.source == "[P1] Proposition 1" and e.tag == "open"
    assert e.params == ("C_prime", "m", "V_f", "Vt_f", "Vs_f")
    assert "vacuous" in e.caveat and "Vs_f" in e.caveat


def test_hand_value():
    # (C' - 1)[8 Vt + 8/sqrt(m) Vs + 8/sqrt(m) V + 4/m V] with C' = 3, m = 4
    want = 2 * (8 * 0.01 + 4 * 0.02 + 4 * 0.05 + 1 * 0.05)
    got = num.fewshot_bound(3, 4, V_f=0.05, Vt_f=0.01, Vs_f=0.02)
    assert got == pytest.approx(want, rel=1e-15)
    assert REGISTRY["fewshot_p1"].numeric(C_prime=3, m=4, V_f=0.05, Vt_f=0.01,
                                          Vs_f=0.02) == got


def test_decreases_in_m_grows_with_classes_and_never_clips():
    m = np.array([1, 5, 10, 100])
    b = num.fewshot_bound(10, m, 0.5, 0.1, 0.1)
    assert np.all(np.diff(b) < 0)
    assert num.fewshot_bound(20, 5, 0.5, 0.1, 0.1) > num.fewshot_bound(10, 5, 0.5, 0.1, 0.1)
    assert b[0] > 1  # vacuous, reported as computed
    # the floor as m -> infinity is (C' - 1) 8 Vt
    assert num.fewshot_bound(10, 10**12, 0.5, 0.1, 0.1) == pytest.approx(9 * 0.8, rel=1e-5)


def test_nan_passes_through():
    assert math.isnan(num.fewshot_bound(5, 1, float("nan"), 0.1, 0.1))


@pytest.mark.parametrize("kw, match", [
    (dict(C_prime=1), "`C_prime` to be an integer >= 2"),
    (dict(C_prime=2.5), "`C_prime` to be an integer >= 2"),
    (dict(m=0), "`m` to be an integer >= 1"),
    (dict(V_f=-0.1), "`V_f` >= 0"),
    (dict(Vt_f=-1.0), "`Vt_f` >= 0"),
    (dict(Vs_f=-1.0), "`Vs_f` >= 0"),
])
def test_errors_name_the_argument(kw, match):
    args = dict(C_prime=3, m=2, V_f=0.1, Vt_f=0.1, Vs_f=0.1) | kw
    with pytest.raises(ValueError, match=match):
        num.fewshot_bound(**args)
