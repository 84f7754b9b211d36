"""Encoders + projector: shapes, deterministic initialisation, no batch coupling."""

import math

import pytest
import torch
from torch import nn

from empirics.models import ContrastiveModel, build_model, init_parameters


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions: with 2 intra-op threads on a shared 2-core machine the thread
    synchronisation costs seconds per forward pass; one thread takes milliseconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CASES = [
    ("mlp", (20,), {}),
    ("mlp", (1, 8, 8), {}),  # images are flattened
    ("cnn", (1, 8, 8), {"width": 4}),
    ("cnn", (3, 32, 32), {"width": 4}),
    ("resnet18", (1, 8, 8), {"width": 4}),
]


def test_resnet_on_cifar_sized_inputs():
    m = build_model("resnet18", (3, 32, 32), width=4, proj_dim=8, seed=0)
    with torch.no_grad():
        h, z = m(torch.rand(2, 3, 32, 32))
    assert h.shape == (2, 32) and z.shape == (2, 8)
    # stride 1 stem, no max-pool: the last stage sees 4x4 maps
    feats = m.encoder.stages(m.encoder.stem(torch.rand(1, 3, 32, 32)))
    assert feats.shape[-2:] == (4, 4)


@pytest.mark.parametrize(("arch", "shape", "kw"), CASES)
def test_forward_shapes_and_gradients(arch, shape, kw):
    m = build_model(arch, shape, proj_dim=16, seed=0, **kw)
    assert isinstance(m, ContrastiveModel)
    x = torch.rand(3, *shape)
    h, z = m(x)
    assert h.shape == (3, m.feature_dim) and z.shape == (3, 16)
    assert torch.allclose(m.projector(h), z)
    z.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize(("arch", "shape", "kw"), CASES[::2])
def test_same_seed_bitwise_same_init_and_no_global_rng(arch, shape, kw):
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a = build_model(arch, shape, seed=5, **kw)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(1)
    b = build_model(arch, shape, seed=5, **kw)
    c = build_model(arch, shape, seed=6, **kw)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    d = build_model(arch, shape, generator=g1, **kw)
    assert all(torch.equal(sa[k], v) for k, v in d.state_dict().items())
    e = build_model(arch, shape, generator=g2, **kw)
    assert torch.equal(next(d.parameters()), next(e.parameters()))


def test_initialisation_follows_pytorch_and_kaiming_rules():
    m = build_model("mlp", (50,), hidden=400, seed=0)
    w = m.encoder.net[1].weight.detach()  # Linear(50, 400)
    bound = 1 / math.sqrt(50)
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.01  # std of U(-b, b)
    r = build_model("resnet18", (3, 8, 8), width=16, seed=0)
    conv = r.encoder.stages[2].conv2.weight.detach()  # (32, 32, 3, 3), fan_out = 32 * 9
    assert abs(float(conv.std()) - math.sqrt(2 / (32 * 9))) < 0.01
    bn = r.encoder.stem[1]
    assert isinstance(bn, nn.BatchNorm2d)
    assert torch.equal(bn.weight, torch.ones(16)) and torch.equal(bn.running_var, torch.ones(16))
    with pytest.raises(ValueError, match="`conv_init`"):
        init_parameters(r, torch.Generator(), conv_init="xavier")


@pytest.mark.parametrize(("arch", "shape"), [("mlp", (12,)), ("cnn", (3, 8, 8))])
def test_default_mlp_cnn_have_no_batch_coupling(arch, shape):
    m = build_model(arch, shape, seed=0, width=4) if arch == "cnn" else build_model(
        arch, shape, seed=0)
    assert not any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in m.modules())
    x = torch.rand(8, *shape)
    h_all, z_all = m(x)
    h_one, z_one = m(x[2:3])
    assert torch.allclose(h_all[2:3], h_one, atol=1e-5)
    assert torch.allclose(z_all[2:3], z_one, atol=1e-5)


def test_resnet_norm_options_and_feature_dim():
    r = build_model("resnet18", (3, 32, 32), seed=0)
    assert r.feature_dim == 512 and r.proj_dim == 128
    assert any(isinstance(mod, nn.BatchNorm2d) for mod in r.modules())
    g = build_model("resnet18", (3, 8, 8), width=8, norm="group", seed=0)
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in g.modules())
    assert any(isinstance(mod, nn.GroupNorm) for mod in g.modules())
    n = build_model("resnet18", (3, 8, 8), feature_dim=64, norm="none", seed=0)
    assert n.feature_dim == 64
    assert not any(isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm)) for mod in n.modules())
    mlp = build_model("mlp", (5,), feature_dim=7, hidden=9, depth=3, norm="layer", seed=0)
    assert mlp.feature_dim == 7 and sum(isinstance(mm, nn.LayerNorm) for mm in mlp.modules()) == 3
    assert build_model("cnn", (1, 8, 8), norm="batch", width=4, seed=0)(torch.rand(2, 1, 8, 8))


def test_metadata_and_device():
    m = build_model("mlp", (4,), num_classes=3, seed=0, device="cpu")
    assert m.num_classes == 3 and m.arch == "mlp" and m.input_shape == (4,)
    assert next(m.parameters()).device.type == "cpu"


@pytest.mark.parametrize(
    ("args", "kw", "exc", "text"),
    [
        (("vit", (3, 8, 8)), {}, ValueError, "`arch` in"),
        (("cnn", (64,)), {}, ValueError, r"`input_shape` \(C, H, W\) for arch 'cnn'"),
        (("mlp", ()), {}, ValueError, "`input_shape`"),
        (("mlp", (0,)), {}, ValueError, "`input_shape`"),
        (("mlp", (4,)), {"norm": "weight"}, ValueError, "`norm` in"),
        (("mlp", (4,)), {"proj_dim": 0}, ValueError, "`proj_dim` >= 1, got 0"),
        (("mlp", (4,)), {"proj_dim": 2.0}, TypeError, "`proj_dim` to be an int"),
        (("mlp", (4,)), {"num_classes": 0}, ValueError, "`num_classes` >= 1"),
        (("mlp", (4,)), {"hidden": -3}, ValueError, "`hidden` >= 1"),
        (("resnet18", (3, 8, 8)), {"feature_dim": 100}, ValueError, "8 \\* width = 96"),
        (("mlp", (4,)), {"generator": 3}, TypeError, "`generator` to be a torch.Generator"),
    ],
)
def test_build_model_rejects(args, kw, exc, text):
    with pytest.raises(exc, match=text):
        build_model(*args, **kw)
