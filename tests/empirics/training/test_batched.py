"""The ``vmap`` backend: stacked members equal the loop backend; resume; errors."""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from empirics.optim import LARS, make_optimizer
from empirics.runs.layout import RunDir
from empirics.runs.tables import read_rows as read_csv_rows
from empirics.training.batched import BatchedMembers
from empirics.training.lockstep import LockstepTrainer
from empirics.training.trainer import RunInterrupted, train

#: max |w_loop - w_vmap| after 5 steps (float32): batched kernels reduce in another order.
#: SGD/LARS: measured ~1e-8. AdamW divides by sqrt(v), which amplifies last-bit gradient
#: differences where v is tiny (measured ~1e-5, i.e. 1e-3 of one lr = 0.01 step).
ATOL = {"sgd": 1e-6, "lars": 1e-6, "adamw": 1e-4}


@pytest.fixture(scope="session")
def tiny(tiny):
    """The shared tiny configuration, with 8 steps."""
    return functools.partial(tiny, steps=8)


def _max_param_diff(a: LockstepTrainer, b: LockstepTrainer) -> float:
    worst = 0.0
    for ma, mb in zip(a.members, b.members, strict=True):
        pa, pb = dict(ma.net.named_parameters()), dict(mb.net.named_parameters())
        assert pa.keys() == pb.keys()
        for n in pa:
            worst = max(worst, float((pa[n] - pb[n]).detach().abs().max()))
    return worst


@pytest.mark.parametrize(
    "kw",
    [
        dict(optimizer="sgd"),
        dict(optimizer="adamw", lr=0.01),
        dict(optimizer="lars", lr=0.5),
        dict(optimizer="sgd", lr=2.0, dataset="digits", arch="cnn", width=4, objectives="cl,ce"),
    ],
    ids=["sgd", "adamw", "lars", "cnn-digits"],
)
def test_vmap_steps_equal_loop_steps(kw, tiny):
    loop = LockstepTrainer(tiny(**kw))
    vm = LockstepTrainer(tiny(backend="vmap", **kw))
    init = {n: p.detach().clone() for n, p in vm.members[0].module.named_parameters()}
    for t in range(5):
        la, lb = loop.train_step(t), vm.train_step(t)
        assert la.keys() == lb.keys()
        for name in la:
            assert math.isclose(la[name], lb[name], rel_tol=1e-5, abs_tol=1e-6), (t, name)
    vm.batched.unstack()
    diff = _max_param_diff(loop, vm)
    assert diff < ATOL[kw["optimizer"]]
    named = vm.members[0].module.named_parameters()
    moved = max(float((p.detach() - init[n]).abs().max()) for n, p in named)
    assert moved > 10 * ATOL[kw["optimizer"]]  # not vacuous: the weights did move
    # CE's projector gets no gradient: like the loop's optimiser, vmap leaves it untouched
    ce = [m for m in vm.members if m.objective == "ce"][0]
    for n, p in ce.module.projector.named_parameters():
        assert torch.equal(p, init[f"projector.{n}"]), n


def test_stacked_lars_equals_per_model_lars():
    gen = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (3,), (2, 3, 3, 3)]
    M = 3
    singles = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(M)]
    singles[1][0].zero_()  # ||w|| = 0 for one model only: q = 1 there, not elsewhere
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(M)]
    stacked = [torch.stack([singles[m][j] for m in range(M)]).requires_grad_() for j in range(3)]
    per = [[w.clone().requires_grad_() for w in ws] for ws in singles]
    kw = dict(lr=0.7, momentum=0.9, weight_decay=1e-2, trust_coefficient=0.05)
    opt_s = LARS(stacked, **kw, model_dims=1)
    opts = [LARS(ws, **kw) for ws in per]
    for _ in range(3):
        for j in range(3):
            stacked[j].grad = torch.stack([grads[m][j] for m in range(M)])
            for m in range(M):
                per[m][j].grad = grads[m][j].clone()
        opt_s.step()
        for o in opts:
            o.step()
    for j in range(3):
        expected = torch.stack([per[m][j] for m in range(M)])
        torch.testing.assert_close(stacked[j], expected, atol=1e-6, rtol=1e-6)
    # a whole-tensor norm would differ: the per-slice trust ratios are what make it equal
    assert not torch.allclose(stacked[0][1], singles[1][0])


def test_make_optimizer_for_stacked_parameters():
    p = [torch.zeros(2, 3, requires_grad=True)]
    kw = dict(lr=0.1, momentum=0.9, weight_decay=0.0, model_dims=1)
    lars = make_optimizer("lars", p, **kw)
    assert isinstance(lars, LARS) and lars.model_dims == 1
    assert isinstance(make_optimizer("sgd", p, **kw), torch.optim.SGD)
    assert isinstance(make_optimizer("adamw", p, **kw), torch.optim.AdamW)
    with pytest.raises(ValueError, match="`model_dims` in \\(0, 1\\), got 2"):
        LARS(p, lr=0.1, model_dims=2)


def _rows(run: RunDir):
    return read_csv_rows(run.metrics)[1]


def test_vmap_run_resumes_identically_and_matches_loop(tmp_path, tiny):
    ref = RunDir(train(tiny(tmp_path, "ref", backend="vmap"), progress=False))
    cfg = tiny(tmp_path, "killed", backend="vmap")
    with pytest.raises(RunInterrupted, match="after step 6"):
        train(cfg, progress=False, stop_after=6)  # last checkpoint at step 4
    state = torch.load(RunDir(cfg.out).last, weights_only=True)
    assert state["step"] == 4 and "batched" in state
    train(cfg, progress=False, resume=True)
    killed = RunDir(cfg.out)
    for name in ("metrics", "losses", "bounds"):
        assert getattr(killed, name).read_bytes() == getattr(ref, name).read_bytes(), name
    again = RunDir(train(tiny(tmp_path, "again", backend="vmap"), progress=False))
    assert again.metrics.read_bytes() == ref.metrics.read_bytes()  # deterministic
    loop = RunDir(train(tiny(tmp_path, "loop"), progress=False))
    a, b = _rows(ref), _rows(loop)
    assert len(a) == len(b) > 0
    for ra, rb in zip(a, b, strict=True):
        assert (ra["step"], ra["pair"], ra["split"]) == (rb["step"], rb["pair"], rb["split"])
        for key in ("cka", "rsa", "sim_gap", "weight_gap"):
            assert math.isclose(float(ra[key]), float(rb[key]), rel_tol=1e-3, abs_tol=1e-5), key
    with pytest.raises(ValueError, match="changed \\['backend'\\]"):
        train(cfg.replace(backend="loop"), progress=False, resume=True)


def test_backend_is_validated(tiny):
    with pytest.raises(ValueError, match="`backend` among loop, vmap, got 'jit'"):
        tiny(backend="jit")
    with pytest.raises(TypeError, match="`backend` to be a str"):
        tiny(backend=1)


def test_vmap_rejects_distributed(tiny):
    tr = LockstepTrainer(tiny(objectives="cl"))
    tr.dist = SimpleNamespace(world_size=2)
    with pytest.raises(ValueError, match="`backend` 'loop' for a distributed run"):
        tr._make_batched()


def test_batched_members_rejects_bad_input():
    def factory(kind, params):
        return torch.optim.SGD(params, lr=0.1)

    x = torch.zeros(2, 4)

    class Net(nn.Module):
        def __init__(self, norm: bool) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4) if norm else nn.Identity())

        def forward(self, x):
            h = self.f(x)
            return h, h

    with pytest.raises(ValueError, match="without BatchNorm"):
        BatchedMembers([Net(True)], [None], factory, x)
    with pytest.raises(ValueError, match="at least one member"):
        BatchedMembers([], [], factory, x)
    with pytest.raises(ValueError, match="one head per module"):
        BatchedMembers([Net(False)], [None, None], factory, x)
    bm = BatchedMembers([Net(False), Net(False)], [None, None], factory, x)
    h, z = bm.forward(torch.ones(3, 4))
    assert h.shape == (2, 3, 4)


def test_vmap_non_finite_loss_stops_with_a_clear_error(tiny):
    cfg = tiny(objectives="cl,ce", lr=1e30, lr_rule="constant", schedule="constant")
    tr = LockstepTrainer(cfg.replace(backend="vmap"))
    with pytest.raises(FloatingPointError,
                       match=r"training diverged at step \d+: model '(cl|ce)' has loss"):
        for t in range(8):
            tr.train_step(t)
