"""The NSCL twin: bitwise equal to NSCL trained by hand, logs empirics.metrics, resumes."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from empirics.losses import cl_loss, nscl_loss
from empirics.metrics import alignment, mutual_knn
from empirics.runs import read_run
from empirics.twin import NSCLTwin

T, EVERY = 7, 3


def _models(dropout: float = 0.0):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        enc = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 8))
        proj = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    return enc, proj


def _data():
    g = torch.Generator().manual_seed(1)
    x_ref, y_ref = torch.randn(40, 6, generator=g), torch.arange(40) % 4
    batches = []
    for _ in range(10):
        x = torch.randn(16, 6, generator=g)
        views = torch.stack([x + 0.1 * torch.randn(16, 6, generator=g),
                             x + 0.1 * torch.randn(16, 6, generator=g)])
        batches.append((views, torch.randint(0, 4, (16,), generator=g)))
    return (x_ref, y_ref), batches


def _factory(params):
    return torch.optim.SGD(params, lr=0.5, momentum=0.9)


def _user_step(enc, proj, opt, views):
    K, B = views.shape[:2]
    z = proj(enc(views.reshape(K * B, -1))).reshape(K, B, -1)
    loss = cl_loss(z, tau=0.5)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _train(out, steps=T, *, twin=True, resume=False, dropout=0.0, start_models=None):
    enc, proj = start_models or _models(dropout)
    opt = _factory([*enc.parameters(), *proj.parameters()])
    ref, batches = _data()
    tw = NSCLTwin(enc, proj, optimizer=_factory, tau=0.5, reference=ref, out=out,
                  every=EVERY, resume=resume, cl_optimizer=opt) if twin else None
    for t in range(tw.steps if tw else 0, steps):
        _user_step(enc, proj, opt, batches[t][0])
        if tw:
            tw.step(*batches[t], lr=0.5 / (1 + t))
    return enc, proj, tw


def test_the_twin_equals_nscl_trained_by_hand_bitwise(tmp_path):
    init = copy.deepcopy(_models())
    enc, proj, tw = _train(tmp_path / "run")
    h_enc, h_proj = init
    opt = _factory([*h_enc.parameters(), *h_proj.parameters()])
    _, batches = _data()
    for t in range(T):
        views, y = batches[t]
        for group in opt.param_groups:
            group["lr"] = 0.5 / (1 + t)
        z = h_proj(h_enc(views.reshape(32, -1))).reshape(2, 16, -1)
        loss = nscl_loss(z, y, tau=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    twin_params = list(tw.nscl.encoder.parameters()) + list(tw.nscl.projector.parameters())
    hand = list(h_enc.parameters()) + list(h_proj.parameters())
    assert all(torch.equal(a, b) for a, b in zip(twin_params, hand, strict=True))
    assert not torch.equal(hand[0], enc[0].weight)  # CL and NSCL did move apart
    tw.close()


def test_logged_metrics_equal_empirics_metrics_on_the_reference_features(tmp_path, cli_main):
    enc, proj, tw = _train(tmp_path / "run")
    run_dir = tw.close()
    feats = tw.reference_features()
    run = read_run(run_dir)
    assert run.kind == "train" and run.done and sorted(set(run.metrics["step"])) == [0, 3, 6, 7]
    last = run.metrics[run.metrics["step"] == T]
    assert list(last["features"]) == ["z", "h"] and set(last["pair"]) == {"cl-nscl"}
    distance = torch.linalg.vector_norm(torch.cat(
        [(a.detach().double() - b.detach().double()).flatten() for a, b in zip(
            tw.cl.parameters(), tw.nscl.parameters(), strict=True)]))
    for row in last.to_dict("records"):
        x, y = feats["cl"][row["features"]], feats["nscl"][row["features"]]
        want = alignment(x, y)
        for k in ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r", "repr_angle",
                  "procrustes"):
            assert row[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k
        assert row["mutual_knn"] == mutual_knn(x.numpy(), y.numpy(), k=10)
        assert row["weight_distance"] == pytest.approx(float(distance), rel=1e-12)
        assert 0.0 < row["cka"] < 1.0
    # the [P1] gap of each model on the last batch, as the losses compute it
    views, y = _data()[1][T - 1]
    losses = run.losses[run.losses["step"] == T]
    with torch.no_grad():
        z = tw.nscl(views.reshape(32, -1))[1].double().reshape(2, 16, -1)
    row = losses[losses["model"] == "nscl"].iloc[0]
    assert row["loss_nscl"] == pytest.approx(float(nscl_loss(z, y, tau=0.5)), rel=1e-12)
    assert bool(row["p1_holds"]) and row["loss_gap"] <= row["loss_gap_bound"]
    # compare reads the run: the same numbers from the checkpoint's reference features
    rc, out, err = cli_main(f"{run_dir}:cl", f"{run_dir}:nscl", "--format", "json")
    assert rc == 0, err
    res = json.loads(out)
    z_row = last[last["features"] == "z"].iloc[0]
    for k in ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r"):
        assert res["metrics"][k] == pytest.approx(z_row[k], rel=1e-9, abs=1e-12), k
    assert res["rows"]["n"] == 40 and "NSCL-twin run" in res["rows"]["what"]


def test_figures_draw_the_twin_run(tmp_path):
    from figures import training

    _, _, tw = _train(tmp_path / "run", steps=4)
    run = read_run(tw.close())
    fig = training.figure_alignment(run)
    # one panel per alignment score the run records (split test only), CKA first
    assert len(fig.axes) == len(training.alignment_measures(run)) >= 2
    assert fig.axes[0].get_title().startswith("CKA")
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_your_run_is_the_same_with_or_without_the_twin(tmp_path):
    torch.manual_seed(5)
    enc_a, proj_a, tw = _train(tmp_path / "run", dropout=0.3)
    state_a = torch.random.get_rng_state()
    torch.manual_seed(5)
    enc_b, proj_b, _ = _train(None, twin=False, dropout=0.3)
    assert torch.equal(state_a, torch.random.get_rng_state())
    for a, b in zip([*enc_a.parameters(), *proj_a.parameters()],
                    [*enc_b.parameters(), *proj_b.parameters()], strict=True):
        assert torch.equal(a, b)
    tw.close()


@pytest.mark.slow
def test_a_killed_loop_resumes_to_the_same_files(tmp_path):
    _, _, whole = _train(tmp_path / "whole", steps=9)
    whole.close()
    _train(tmp_path / "cut", steps=8)  # killed after step 8: the checkpoint is at step 6
    enc, proj, tw = _train(tmp_path / "cut", steps=9, resume=True,
                           start_models=_models())  # fresh objects, put back to step 6
    assert tw.steps == 9
    tw.close()
    for name in ("metrics.csv", "losses.csv"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"tau": 0.0}, ValueError, "`tau` > 0"),
    ({"every": 0}, ValueError, "`every` >= 1"),
    ({"reference": (torch.zeros(3, 6), torch.zeros(3, dtype=torch.long))}, ValueError,
     "n >= 4"),
    ({"reference": (torch.zeros(8, 6), torch.zeros(8))}, ValueError, "integer dtype"),
    ({"optimizer": "sgd"}, TypeError, "`optimizer`"),
    ({"pairs": "some"}, ValueError, "`pairs`"),
])  # fmt: skip
def test_bad_arguments_name_the_argument(kwargs, error, match, tmp_path):
    enc, proj = _models()
    ref, _ = _data()
    args = dict(optimizer=_factory, tau=0.5, reference=ref, out=tmp_path / "r", every=2)
    with pytest.raises(error, match=match):
        NSCLTwin(enc, proj, **{**args, **kwargs})


def test_bad_steps_and_an_occupied_folder_are_refused(tmp_path):
    enc, proj = _models()
    ref, batches = _data()
    tw = NSCLTwin(enc, proj, optimizer=_factory, tau=0.5, reference=ref, out=tmp_path / "r")
    views, y = batches[0]
    with pytest.raises(ValueError, match="`labels` of shape"):
        tw.step(views, y[:5])
    with pytest.raises(ValueError, match="`views` of shape"):
        tw.step(views[0], y)
    with pytest.raises(ValueError, match="holding a run"):
        NSCLTwin(enc, proj, optimizer=_factory, tau=0.5, reference=ref, out=tmp_path / "r")


@pytest.fixture
def cli_main(capsys):
    from empirics.compare.cli import main

    def run(*argv):
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return run
