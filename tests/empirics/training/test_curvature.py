"""Curvature tools against brute-force twins: explicit Jacobians and Hessians of tiny models."""

import math

import pytest
import torch
from torch import nn

from empirics.losses import cl_loss, nscl_loss
from empirics.models import build_model
from empirics.training.curvature import (
    gradient_mismatch,
    hessian_top_eigenvalue,
    jacobian_norm,
    jacobian_power,
    parameters,
    power_iteration,
    sgd_remainder,
    similarity_map,
)

F64 = torch.float64


def _flat(params):
    return torch.cat([v.reshape(-1) for v in params.values()])


def _unflat(vec, like):
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vec[i:i + v.numel()].reshape(v.shape)
        i += v.numel()
    return out


def _inputs(shape, n, seed=1):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


MODELS = {
    "mlp": lambda: build_model("mlp", (6,), feature_dim=5, proj_dim=4, hidden=8, depth=1,
                               seed=0),
    "cnn": lambda: build_model("cnn", (3, 8, 8), feature_dim=6, proj_dim=4, width=2, seed=0),
    "cnn-batchnorm": lambda: build_model("cnn", (3, 8, 8), feature_dim=6, proj_dim=4, width=2,
                                         norm="batch", seed=0),
}


def _model_and_x(name, n=7):
    model = MODELS[name]()
    return model, _inputs(model.input_shape, n)


def _explicit_jacobian(model, x):
    """(N*N, P): dSigma/dw by torch.autograd.functional.jacobian on the flat weights."""
    w = parameters(model)
    sigma = similarity_map(model, x)
    return torch.autograd.functional.jacobian(lambda v: sigma(_unflat(v, w)).reshape(-1),
                                              _flat(w))


# ----------------------------------------------------------------------------- Sigma(w)
def test_similarity_map_is_the_cosine_matrix_of_z():
    model, x = _model_and_x("mlp")
    with torch.no_grad():
        _, z = model(x)
    z = z.double()
    u = z / z.norm(dim=1, keepdim=True)
    torch.testing.assert_close(similarity_map(model, x)(parameters(model)), u @ u.T)


def test_similarity_map_leaves_the_model_alone():
    model, x = _model_and_x("cnn-batchnorm")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    w = parameters(model)
    w = {k: v + 0.1 for k, v in w.items()}
    similarity_map(model, x)(w)
    jacobian_norm(model, x, iters=3)
    sgd_remainder(model, parameters(model), w, x)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # weights and batch-norm statistics unchanged
        assert v.dtype == before[k].dtype


# ----------------------------------------------------------------------------- L_Sigma
@pytest.mark.parametrize("name", list(MODELS))
def test_jacobian_norm_matches_the_explicit_jacobian(name):
    model, x = _model_and_x(name)
    J = _explicit_jacobian(model, x)
    exact = float(torch.linalg.matrix_norm(J, 2))
    assert exact > 1e-6  # a live model, not a collapsed one
    got = jacobian_norm(model, x, seed=3)
    assert got == pytest.approx(exact, rel=1e-7)
    assert got <= exact * (1 + 1e-12)  # a power iteration on J^T J approaches from below


def test_jacobian_norm_is_sqrt2_times_the_upper_triangle():
    model, x = _model_and_x("mlp")
    J = _explicit_jacobian(model, x)
    n = x.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    upper = J.reshape(n, n, -1)[iu[0], iu[1]]
    assert jacobian_norm(model, x) == pytest.approx(
        math.sqrt(2) * float(torch.linalg.matrix_norm(upper, 2)), rel=1e-7)


def test_jacobian_norm_at_given_params_and_float32():
    model, x = _model_and_x("mlp")
    w = {k: 2.0 * v for k, v in parameters(model).items()}
    other = build_model("mlp", (6,), feature_dim=5, proj_dim=4, hidden=8, depth=1, seed=0)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(2.0)
    assert jacobian_norm(model, x, params=w) == pytest.approx(jacobian_norm(other, x),
                                                              rel=1e-7)
    assert jacobian_norm(model, x, dtype=torch.float32) == pytest.approx(
        jacobian_norm(model, x), rel=1e-4)


def test_jacobian_power_reports_convergence_and_seed_streams():
    model, x = _model_and_x("mlp")
    res = jacobian_power(model, x, iters=200, tol=1e-10)
    assert res.iterations < 200 and res.rel_change < 1e-10
    again = jacobian_power(model, x, iters=200, tol=1e-10)
    assert again == res  # a pure function of the seed
    one = jacobian_power(model, x, iters=1, tol=0)
    assert one.iterations == 1 and math.isnan(one.rel_change)
    assert jacobian_power(model, x, iters=4, tol=0, seed=1).value != jacobian_power(
        model, x, iters=4, tol=0, seed=2).value


def test_jacobian_norm_of_a_collapsed_projection_is_nan_with_a_warning():
    model = nn.utils.skip_init(nn.Linear, 3, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    with pytest.warns(RuntimeWarning, match="not finite"):
        assert math.isnan(jacobian_norm(model, torch.ones(4, 3)))


# ----------------------------------------------------------------------------- remainder
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_sgd_remainder_matches_the_explicit_jacobian(name):
    model, x = _model_and_x(name)
    w0 = parameters(model)
    gen = torch.Generator().manual_seed(5)
    w1 = {k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=F64) for k, v in w0.items()}
    sigma = similarity_map(model, x)
    J = _explicit_jacobian(model, x)
    d = _flat(w1) - _flat(w0)
    ds = sigma(w1) - sigma(w0)
    rem = ds.reshape(-1) - J @ d
    got = sgd_remainder(model, w0, w1, x)
    assert got["sim_change"] == pytest.approx(float(ds.norm()), rel=1e-10)
    assert got["linear_change"] == pytest.approx(float((J @ d).norm()), rel=1e-10)
    assert got["remainder"] == pytest.approx(float(rem.norm()), rel=1e-8)
    assert got["relative_remainder"] == pytest.approx(float(rem.norm() / ds.norm()), rel=1e-8)
    assert got["step_norm"] == pytest.approx(float(d.norm()), rel=1e-12)
    assert got["remainder_over_step_sq"] == pytest.approx(float(rem.norm() / d.norm() ** 2),
                                                          rel=1e-8)


def test_sgd_remainder_is_second_order():
    """Halving the step divides the remainder by about 4 and the relative one by about 2."""
    model, x = _model_and_x("mlp")
    w0 = parameters(model)
    gen = torch.Generator().manual_seed(2)
    d = {k: torch.randn(v.shape, generator=gen, dtype=F64) for k, v in w0.items()}
    r = [sgd_remainder(model, w0, {k: w0[k] + s * d[k] for k in w0}, x)
         for s in (1e-3, 5e-4)]
    assert r[0]["remainder"] / r[1]["remainder"] == pytest.approx(4.0, rel=1e-2)
    assert r[0]["relative_remainder"] / r[1]["relative_remainder"] == pytest.approx(2.0,
                                                                                    rel=1e-2)


def test_sgd_remainder_of_a_subset_of_parameters():
    model, x = _model_and_x("mlp")
    w0 = {"projector.net.2.weight": parameters(model)["projector.net.2.weight"]}
    w1 = {k: v * 1.01 for k, v in w0.items()}
    full1 = {**parameters(model), **w1}
    a = sgd_remainder(model, w0, w1, x)
    b = sgd_remainder(model, parameters(model), full1, x)
    assert a["remainder"] == pytest.approx(b["remainder"], rel=1e-10)


def test_sgd_remainder_without_a_change_is_nan_with_a_warning():
    model, x = _model_and_x("mlp")
    w = parameters(model)
    with pytest.warns(RuntimeWarning):
        out = sgd_remainder(model, w, w, x)
    assert math.isnan(out["relative_remainder"]) and math.isnan(out["remainder_over_step_sq"])
    assert out["remainder"] == 0.0


# ----------------------------------------------------------------------------- beta
def _cl_loss_fn(model, views, labels, objective="cl"):
    K, B = views.shape[:2]
    flat = views.reshape(K * B, *views.shape[2:]).double()

    def loss(params):
        _, z = torch.func.functional_call(model, params, (flat,))
        z = z.reshape(K, B, -1)
        if objective == "cl":
            return cl_loss(z, tau=0.5)
        return nscl_loss(z, labels, tau=0.5)

    return loss


def test_hessian_top_eigenvalue_matches_the_explicit_hessian():
    model = build_model("mlp", (4,), feature_dim=3, proj_dim=3, hidden=5, depth=1, seed=0)
    model = model.double()
    views = _inputs((2, 6, 4), 1, seed=3)[0]
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = _cl_loss_fn(model, views, labels)
    w = parameters(model)
    H = torch.autograd.functional.hessian(lambda v: loss(_unflat(v, w)), _flat(w))
    eig = torch.linalg.eigvalsh(H)
    dominant = float(eig[eig.abs().argmax()])
    got = hessian_top_eigenvalue(loss, w, iters=2000, tol=1e-12)
    assert got == pytest.approx(dominant, rel=1e-6)


def test_hessian_top_eigenvalue_of_a_quadratic_and_unused_parameters():
    A = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, -6.0]], dtype=F64)

    def f(p):
        return 0.5 * p["w"] @ A @ p["w"] + 0.0 * p["unused"].sum()

    params = {"w": torch.ones(3, dtype=F64), "unused": torch.ones(2, dtype=F64)}
    got = hessian_top_eigenvalue(f, params, iters=1000, tol=1e-13)
    assert got == pytest.approx(-6.0, rel=1e-8)  # the largest magnitude, signed
    assert torch.equal(params["w"], torch.ones(3, dtype=F64))  # params not changed


# ----------------------------------------------------------------------------- G's drive
def test_gradient_mismatch_matches_explicit_gradients():
    model = build_model("mlp", (4,), feature_dim=3, proj_dim=3, hidden=5, depth=1, seed=0)
    model = model.double()
    views = _inputs((2, 6, 4), 1, seed=4)[0]
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    la, lb = _cl_loss_fn(model, views, labels), _cl_loss_fn(model, views, labels, "nscl")
    w = parameters(model)
    ga = torch.autograd.functional.jacobian(lambda v: la(_unflat(v, w)), _flat(w))
    gb = torch.autograd.functional.jacobian(lambda v: lb(_unflat(v, w)), _flat(w))
    got = gradient_mismatch(la, lb, w)
    assert got["mismatch"] == pytest.approx(float((ga - gb).norm()), rel=1e-10)
    assert got["grad_norm_a"] == pytest.approx(float(ga.norm()), rel=1e-10)
    assert got["grad_norm_b"] == pytest.approx(float(gb.norm()), rel=1e-10)


# ----------------------------------------------------------------------------- power iteration
def test_power_iteration_on_a_known_spectrum():
    A = torch.diag(torch.tensor([5.0, 4.0, 1.0], dtype=F64))
    start = {"a": torch.ones(3, dtype=F64)}
    res = power_iteration(lambda v: {"a": A @ v["a"]}, start, iters=500, tol=1e-14)
    assert res.value == pytest.approx(5.0, rel=1e-12)
    zero = power_iteration(lambda v: {"a": 0 * v["a"]}, start)
    assert zero.value == 0.0 and zero.iterations == 1


# ----------------------------------------------------------------------------- errors
def _mlp_x():
    return _model_and_x("mlp")


@pytest.mark.parametrize("call,exc,match", [
    (lambda m, x: similarity_map("net", x), TypeError, "Expected `model` to be an nn.Module"),
    (lambda m, x: similarity_map(m, x.numpy()), TypeError, "Expected `x` to be a torch.Tensor"),
    (lambda m, x: similarity_map(m, x[:1]), ValueError, r"N >= 2, got shape \(1, 6\)"),
    (lambda m, x: jacobian_norm(m, x, iters=0), ValueError, "Expected `iters` >= 1, got 0"),
    (lambda m, x: jacobian_norm(m, x, tol=-1.0), ValueError, "Expected `tol` >= 0, got -1.0"),
    (lambda m, x: jacobian_norm(m, x, params={"nope": torch.ones(1)}), ValueError,
     r"unknown name\(s\) \['nope'\]"),
    (lambda m, x: jacobian_norm(m, x, params={"projector.net.2.bias": torch.ones(3)}),
     ValueError, r"of shape \(4,\), got \(3,\)"),
    (lambda m, x: jacobian_norm(m, x, params=[1.0]), TypeError, "Expected `params` to be a "
                                                                "dict of tensors"),
    (lambda m, x: jacobian_norm(m, x, params={}), ValueError, "at least one parameter"),
    (lambda m, x: sgd_remainder(m, parameters(m), [1], x), TypeError,
     "Expected `params_before` and `params_after` to be dicts"),
    (lambda m, x: sgd_remainder(m, parameters(m), {}, x), ValueError, "with the same names"),
    (lambda m, x: hessian_top_eigenvalue(lambda p: p["w"], {"w": torch.ones(2)}),
     ValueError, "Expected `loss_fn` to return a scalar tensor"),
    (lambda m, x: hessian_top_eigenvalue(lambda p: p["w"].sum(), {"w": torch.ones(2)},
                                         iters=1.5), ValueError, "Expected `iters` >= 1"),
    (lambda m, x: hessian_top_eigenvalue(lambda p: p["w"].sum(), {"w": [1.0]}), TypeError,
     r"Expected `params`\['w'\] to be a floating-point tensor"),
    (lambda m, x: hessian_top_eigenvalue(lambda p: p["w"].sum(), {}), TypeError,
     "Expected `params` to be a non-empty dict"),
    (lambda m, x: gradient_mismatch(lambda p: p["w"].sum(), lambda p: p["w"],
                                    {"w": torch.ones(2)}), ValueError,
     "Expected `loss_b` to return a scalar tensor"),
    (lambda m, x: power_iteration(lambda v: v, {"a": torch.zeros(2)}), ValueError,
     "Expected a nonzero `start` vector"),
])
def test_errors(call, exc, match):
    model, x = _mlp_x()
    with pytest.raises(exc, match=match):
        call(model, x)


def test_forward_mode_shows_no_third_party_deprecation():
    """torch's first ``torch.func.jvp`` in a process loads decompositions through
    ``torch.jit.script``, which warns (a line a ``python -m empirics.train
    --linearization-every`` user saw); a fresh process with warnings as errors checks it."""
    import subprocess
    import sys

    code = ("import torch\n"
            "from empirics.training.curvature import jacobian_norm\n"
            "m = torch.nn.Sequential(torch.nn.Linear(3, 4))\n"
            "class M(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__(); self.f = m\n"
            "    def forward(self, x):\n"
            "        return x, self.f(x)\n"
            "print(jacobian_norm(M(), torch.randn(5, 3), iters=3) > 0)\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True" and proc.stderr == ""
