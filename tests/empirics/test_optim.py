"""LARS (You et al. 2017) against a slow per-tensor reference, and make_optimizer."""

from __future__ import annotations

import pytest
import torch

from empirics.optim import LARS, make_optimizer


def _slow_lars(params, grads, bufs, lr, m, wd, trust):
    """Obvious twin: Algorithm 1 of You et al. (2017), SimCLR form, one tensor at a time."""
    out = []
    for p, g, v in zip(params, grads, bufs, strict=True):
        if p.ndim <= 1:  # biases / norm parameters: plain momentum SGD, no decay
            d = g.clone()
        else:
            d = g + wd * p
            wn, dn = float(p.norm()), float(d.norm())
            q = trust * wn / dn if wn > 0 and dn > 0 else 1.0
            d = q * d
        v = d.clone() if v is None else m * v + d
        out.append((p - lr * v, v))
    return out


def test_lars_matches_slow_reference_over_steps():
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (3,), (2, 2, 3)]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    ref = [p.detach().clone() for p in params]
    bufs = [None] * len(params)
    opt = LARS(params, lr=0.5, momentum=0.9, weight_decay=1e-2, trust_coefficient=0.01)
    for _ in range(3):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
        new = _slow_lars(ref, grads, bufs, 0.5, 0.9, 1e-2, 0.01)
        ref = [a for a, _ in new]
        bufs = [b for _, b in new]
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach(), r, rtol=1e-6, atol=1e-7)


def test_lars_trust_ratio_is_scale_invariant_in_the_gradient():
    w1 = torch.nn.Parameter(torch.ones(2, 2))
    w2 = torch.nn.Parameter(torch.ones(2, 2))
    o1 = LARS([w1], lr=1.0, momentum=0.0, trust_coefficient=0.1)
    o2 = LARS([w2], lr=1.0, momentum=0.0, trust_coefficient=0.1)
    w1.grad, w2.grad = torch.ones(2, 2), 1000 * torch.ones(2, 2)
    o1.step()
    o2.step()
    torch.testing.assert_close(w1, w2)  # step size is trust*||w||, whatever ||g|| is
    zero = torch.nn.Parameter(torch.zeros(2, 2))
    oz = LARS([zero], lr=1.0, momentum=0.0)
    zero.grad = torch.ones(2, 2)
    oz.step()
    torch.testing.assert_close(zero.detach(), -torch.ones(2, 2))  # q = 1 when ||w|| = 0


def test_lars_group_can_force_exclusion():
    w = torch.nn.Parameter(torch.ones(2, 2))
    opt = LARS([{"params": [w], "lars_exclude": True}], lr=0.1, momentum=0.0, weight_decay=1.0)
    w.grad = torch.ones(2, 2)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((2, 2), 0.9))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lr": -1.0}, "`lr` >= 0"),
        ({"lr": 1.0, "momentum": 1.0}, r"`momentum` in \[0, 1\)"),
        ({"lr": 1.0, "weight_decay": -1.0}, "`weight_decay` >= 0"),
        ({"lr": 1.0, "trust_coefficient": 0.0}, "`trust_coefficient` > 0"),
    ],
)
def test_lars_validation(kw, message):
    with pytest.raises(ValueError, match=message):
        LARS([torch.nn.Parameter(torch.ones(1))], **kw)


def test_make_optimizer_kinds():
    p = [torch.nn.Parameter(torch.ones(2))]
    sgd = make_optimizer("sgd", p, lr=0.1, momentum=0.9, weight_decay=0)
    assert isinstance(sgd, torch.optim.SGD)
    assert isinstance(make_optimizer("lars", p, lr=0.1, momentum=0.9, weight_decay=0), LARS)
    adamw = make_optimizer("adamw", p, lr=0.1, momentum=0.8, weight_decay=0.1)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["betas"][0] == 0.8
    with pytest.raises(ValueError, match="`optimizer` among"):
        make_optimizer("adam", p, lr=0.1, momentum=0.9, weight_decay=0)
