"""DistContext: sharding, the autograd-aware gather, DDP lockstep == one process, resume.

The multi-process checks spawn 2 CPU processes with the gloo backend once (module
fixture) and run a small lockstep CL/NSCL training loop in float64 in both settings;
the same loop runs in this process with SINGLE. Tolerance: 1e-10 absolute on every
weight and metric (float64; the only difference is the order of floating-point sums).
"""

from __future__ import annotations

import json
import math
import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from empirics.training.distributed import SINGLE, DistContext, init_from_env, init_process

WORLD = 2
B, D, C, STEPS, SPLIT = 10, 6, 3, 5, 3  # global batch, input dim, classes, steps, resume step
TOL = 1e-10


# ------------------------------------------------------------------ stand-in trainer (tests only)
def _views_loss(views: torch.Tensor, labels: torch.Tensor, tau: float, supervised: bool):
    """Decoupled contrastive loss on (K, B, d) views; NSCL drops same-class negatives."""
    K, n, _ = views.shape
    z = nn.functional.normalize(views, dim=-1).reshape(K * n, -1)
    s = z @ z.T / tau
    sample = torch.arange(n).repeat(K)
    y = labels.repeat(K)
    same_sample = sample[:, None] == sample[None, :]
    neg = ~same_sample
    if supervised:
        neg = neg & (y[:, None] != y[None, :])
    pos = same_sample & ~torch.eye(K * n, dtype=torch.bool)
    log_den = torch.logsumexp(s.masked_fill(~neg, -math.inf), dim=1)
    per_pair = -(s - log_den[:, None])
    return per_pair[pos].mean()


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, D, generator=g, dtype=torch.float64)
    y = torch.arange(40) % C
    return x, y


def _models():
    torch.manual_seed(1)
    base = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    return {"cl": base, "nscl": _copy(base)}


def _copy(m):
    out = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    out.load_state_dict(m.state_dict())
    return out


def _train(dctx: DistContext, steps: int, *, start=0, state=None, batch=B):
    """Lockstep CL/NSCL under shared randomness, the protocol the trainer follows."""
    x, y = _data()
    models = _models()
    if state is not None:
        for k, m in models.items():
            m.load_state_dict(state["models"][k])
    wrapped = {k: dctx.wrap(m) for k, m in models.items()}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9) for k, m in wrapped.items()}
    if state is not None:
        for k, o in opts.items():
            o.load_state_dict(state["opts"][k])
    for t in range(start, start + steps):
        g = torch.Generator().manual_seed(100 + t)  # the same global batch on every rank
        idx = torch.randperm(len(x), generator=g)[:batch]
        views = x[idx].unsqueeze(0) + 0.1 * torch.randn(2, batch, D, generator=g, dtype=x.dtype)
        local = dctx.shard(views, dim=1)
        for k, m in wrapped.items():
            z = dctx.gather(m(local.reshape(-1, D)).reshape(2, local.shape[1], -1), dim=1)
            loss = _views_loss(z, y[idx], 0.5, supervised=(k == "nscl"))
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
    state = {
        "models": {k: dctx.unwrap(m).state_dict() for k, m in wrapped.items()},
        "opts": {k: o.state_dict() for k, o in opts.items()},
    }
    return state


class _SumAcc:
    """Additive statistics of two feature sets (n, sums, X^T Y), as the metrics accumulator."""

    def __init__(self, d=4):
        self.s = torch.zeros(1 + 2 * d + d * d, dtype=torch.float64)
        self.d = d

    def update(self, a, b):
        self.s += torch.cat([torch.tensor([len(a)], dtype=torch.float64), a.sum(0), b.sum(0),
                             (a.T @ b).reshape(-1)])

    def stats_tensor(self):
        return self.s.clone()

    def from_stats_tensor(self, t):
        self.s = t.clone()


def _metrics(dctx: DistContext, state):
    """Alignment on a reference set: each rank takes its shard, statistics are summed."""
    x, _ = _data()
    ref = dctx.shard(x[:15])  # 15 rows: the two parts differ in size (8 and 7)
    models = _models()
    for k, m in models.items():
        m.load_state_dict(state["models"][k])
    with torch.no_grad():
        a, b = models["cl"](ref), models["nscl"](ref)
    acc = _SumAcc()
    acc.update(a, b)
    dctx.reduce_accumulator_(acc)
    from empirics.metrics import AlignmentAccumulator

    real = AlignmentAccumulator()
    real.update(a, b)
    dctx.reduce_accumulator_(real)
    return acc.s, real.compute()


def _worker(rank: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dctx = init_from_env(device="cpu")
    out = {"repr": repr(dctx)}
    # 1. gather: values and gradient, with uneven parts (5 rows on 2 ranks).
    g = torch.Generator().manual_seed(7)
    full = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)
    local = dctx.shard(full, dim=1).clone().requires_grad_(True)
    glob = dctx.gather(local, dim=1)
    out["gathered"] = glob.detach()
    ((glob @ w).tanh() ** 2).sum().backward()
    out["grad"] = local.grad
    # 2. lockstep DDP training, uninterrupted and with a checkpoint / resume in the middle.
    out["state"] = _train(dctx, STEPS)
    ckpt = os.path.join(tmp, "last.pt")
    dctx.save_checkpoint(_train(dctx, SPLIT), ckpt)
    resumed = dctx.load_checkpoint(ckpt)
    out["resumed"] = _train(dctx, STEPS - SPLIT, start=SPLIT, state=resumed)
    out["uneven"] = _train(dctx, 2, batch=7)  # a global batch that does not split evenly
    # 3. metrics from summed statistics.
    out["stats"], out["metrics"] = _metrics(dctx, out["state"])
    # 4. small collectives.
    t = torch.tensor([float(rank + 1)])
    out["sum"] = dctx.all_reduce_(t.clone()).item()
    out["mean"] = dctx.all_reduce_(t.clone(), op="mean").item()
    out["max"] = dctx.all_reduce_(t.clone(), op="max").item()
    out["bcast"] = dctx.broadcast_(t.clone(), src=1).item()
    out["obj"] = dctx.broadcast_object({"dir": f"rank{rank}"})
    dctx.barrier()
    torch.save(out, os.path.join(tmp, f"out{rank}.pt"))
    dctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("ddp"))
    mp.start_processes(_worker, args=(_free_port(), tmp), nprocs=WORLD, start_method="spawn")
    return [torch.load(os.path.join(tmp, f"out{r}.pt"), weights_only=True) for r in range(WORLD)]


def _assert_states_close(a, b, tol=TOL):
    for k in a["models"]:
        for name, va in a["models"][k].items():
            vb = b["models"][k][name]
            assert va.dtype == torch.float64
            assert torch.allclose(va, vb, atol=tol, rtol=0), (k, name, (va - vb).abs().max())


# ------------------------------------------------------------------ multi-process checks
def test_init_from_env_gives_ranks(spawned):
    assert [o["repr"] for o in spawned] == [
        f"DistContext(rank={r}, world_size=2, local_rank={r}, backend='gloo')" for r in range(2)
    ]


def test_gather_values_and_gradient_match_single_process(spawned):
    g = torch.Generator().manual_seed(7)
    full = torch.randn(2, 5, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)
    ((full @ w).tanh() ** 2).sum().backward()
    for rank, out in enumerate(spawned):
        assert torch.equal(out["gathered"], full.detach())
        a, b = DistContext.shard_bounds_for(5, rank=rank, world_size=WORLD)
        # every rank computed the same loss; the gather's backward sums them: K * dL/dz_r
        assert torch.allclose(out["grad"], WORLD * full.grad[:, a:b], atol=1e-12, rtol=0)


@pytest.fixture(scope="module")
def single():
    return _train(SINGLE, STEPS)


def test_ddp_lockstep_equals_single_process(spawned, single):
    moved = max((v - _models()[k].state_dict()[n]).abs().max().item()
                for k in single["models"] for n, v in single["models"][k].items())
    assert moved > 1e-3  # training did change the weights, so equality is informative
    for out in spawned:
        _assert_states_close(out["state"], single)
    # CL and NSCL differ, so the comparison would catch a mixed-up gradient
    assert not torch.allclose(single["models"]["cl"]["0.weight"],
                              single["models"]["nscl"]["0.weight"])


def test_ddp_uneven_global_batch_equals_single_process(spawned):
    single = _train(SINGLE, 2, batch=7)
    for out in spawned:
        _assert_states_close(out["uneven"], single)


def test_ddp_resume_from_checkpoint_equals_uninterrupted(spawned):
    for out in spawned:
        _assert_states_close(out["resumed"], out["state"])


def test_accumulator_all_reduce_equals_single_process(spawned, single):
    stats, metrics = _metrics(SINGLE, single)
    for out in spawned:
        assert torch.allclose(out["stats"], stats, atol=1e-10, rtol=0)
        assert out["stats"][0].item() == 15  # both shards counted once
        for key in ("cka", "rsa", "sim_gap", "rho", "r"):
            assert math.isclose(out["metrics"][key], metrics[key], abs_tol=1e-9), key


def test_collectives(spawned):
    for out in spawned:
        assert out["sum"] == 3.0 and out["mean"] == 1.5 and out["max"] == 2.0
        assert out["bcast"] == 2.0
        assert out["obj"] == {"dir": "rank0"}


# ------------------------------------------------------------------ one-process behaviour
def test_single_context_is_identity():
    z = torch.randn(3, 2, requires_grad=True)
    assert SINGLE.gather(z) is z
    assert SINGLE.shard(z) is z
    t = torch.ones(2)
    assert SINGLE.all_reduce_(t) is t and t.tolist() == [1.0, 1.0]
    assert SINGLE.broadcast_(t) is t
    assert SINGLE.broadcast_object("a") == "a"
    m = nn.Linear(2, 2)
    assert SINGLE.wrap(m) is m and SINGLE.unwrap(m) is m
    assert SINGLE.is_main and not SINGLE.is_distributed
    SINGLE.barrier()
    acc = _SumAcc()
    assert SINGLE.reduce_accumulator_(acc) is acc


@pytest.mark.parametrize("n", [2, 5, 7, 10, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_bounds_tile_in_rank_order(n, world):
    if n < world:
        return
    parts = [DistContext.shard_bounds_for(n, rank=r, world_size=world) for r in range(world)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(parts[r][1] == parts[r + 1][0] for r in range(world - 1))
    sizes = [b - a for a, b in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == [len(p) for p in torch.tensor_split(torch.arange(n), world)]


def test_shard_types_and_dims():
    # a context claiming rank 1 of 2 without collectives: build it around the check
    ctx = object.__new__(DistContext)
    ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend, ctx.group = 1, 2, 1, None, None
    assert ctx.shard(list(range(5))) == [3, 4]
    assert ctx.shard(range(5)) == range(3, 5)
    assert ctx.shard(np.arange(10).reshape(2, 5), dim=1).tolist() == [[3, 4], [8, 9]]
    assert ctx.shard(torch.arange(6).reshape(1, 6), dim=1).tolist() == [[3, 4, 5]]
    assert ctx.shard_sizes(5) == [3, 2]
    with pytest.raises(ValueError, match="at least `world_size`"):
        ctx.shard([1])
    with pytest.raises(ValueError, match="Expected `dim` 0"):
        ctx.shard([1, 2, 3], dim=1)
    with pytest.raises(TypeError, match="tensor, array or sequence"):
        ctx.shard("abc")


def test_device_for_cpu_and_auto():
    assert SINGLE.device_for("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert SINGLE.device_for("auto").type == expected


def test_init_from_env_without_torchrun_is_single(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert init_from_env() is SINGLE
    assert init_process(0, 1) is SINGLE


def test_init_from_env_rejects_non_integer(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="`WORLD_SIZE` to be an int, got 'two'"):
        init_from_env()


def test_init_process_validates():
    with pytest.raises(ValueError, match="`backend` among gloo, nccl, got 'mpi'"):
        init_process(0, 2, backend="mpi")
    with pytest.raises(ValueError, match=r"`rank` in \[0, 2\), got 2"):
        init_process(2, 2)
    with pytest.raises(ValueError, match="`world_size` >= 1, got 0"):
        init_process(0, 0)


def test_context_validates_arguments():
    with pytest.raises(ValueError, match="`world_size` >= 1, got 0"):
        DistContext(0, 0)
    with pytest.raises(ValueError, match=r"`rank` in \[0, 1\), got 1"):
        DistContext(1, 1)
    with pytest.raises(TypeError, match="`rank` to be an int"):
        DistContext(0.0, 1)
    with pytest.raises(ValueError, match="initialised process group"):
        DistContext(0, 2)


def test_collective_arguments_are_validated():
    with pytest.raises(TypeError, match="`z` to be a torch.Tensor"):
        SINGLE.gather([1, 2])
    with pytest.raises(ValueError, match=r"`dim` in \[-2, 2\) of `z`, got 2"):
        SINGLE.gather(torch.ones(2, 3), dim=2)
    with pytest.raises(ValueError, match="`z` with at least one dimension, got a 0-d tensor"):
        SINGLE.gather(torch.tensor(1.0))
    with pytest.raises(TypeError, match="`t` to be a torch.Tensor"):
        SINGLE.all_reduce_(1.0)
    with pytest.raises(ValueError, match="`op` among sum, mean, max, min, got 'prod'"):
        SINGLE.all_reduce_(torch.ones(1), op="prod")
    with pytest.raises(TypeError, match="`t` to be a torch.Tensor"):
        SINGLE.broadcast_(1.0)
    with pytest.raises(ValueError, match=r"`src` in \[0, 1\), got 3"):
        SINGLE.broadcast_object(1, src=3)
    with pytest.raises(TypeError, match="stats_tensor/from_stats_tensor"):
        SINGLE.reduce_accumulator_(object())
    with pytest.raises(TypeError, match="`model` to be a torch.nn.Module"):
        SINGLE.wrap("model")


def test_checkpoint_roundtrip_single(tmp_path):
    path = tmp_path / "c.pt"
    SINGLE.save_checkpoint({"w": torch.arange(3)}, path)
    assert SINGLE.load_checkpoint(path)["w"].tolist() == [0, 1, 2]
    assert not [p for p in os.listdir(tmp_path) if p != "c.pt"]  # no temporary left over


def test_batchnorm_on_cpu_warns_under_ddp(monkeypatch):
    ctx = object.__new__(DistContext)
    ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend, ctx.group = 0, 2, 0, "gloo", None
    import torch.nn.parallel as par

    monkeypatch.setattr(par, "DistributedDataParallel", lambda m, **kw: ("ddp", m, kw))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = ctx.wrap(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    assert out[0] == "ddp" and out[2]["find_unused_parameters"] is False
    assert any("BatchNorm statistics are computed per rank" in str(w.message) for w in rec)


# ------------------------------------------------------------------ the real trainer under torchrun
_TRAIN_ARGS = [
    "--classes", "4", "--train-size", "64", "--test-size", "32", "--reference-size", "32",
    "--steps", "4", "--batch-size", "16", "--eval-every", "4", "--checkpoint-every", "2",
    "--warmup-steps", "0", "--objectives", "cl,nscl,ce", "--device", "cpu", "--no-progress",
]  # fmt: skip
_TRAIN_TOL = {"atol": 2e-5, "rtol": 1e-4}  # float32 runs; only the order of sums differs


def _tensor_leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensor_leaves(v, f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensor_leaves(v, f"{prefix}[{i}]")
    elif isinstance(obj, torch.Tensor):
        yield prefix, obj


def _csv_numbers(path):
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for i, row in enumerate(rows):
        for k, v in row.items():
            try:
                out[(i, k)] = float(v)
            except (TypeError, ValueError):
                out[(i, k)] = v
    return out


def _trainer_worker(rank: int, init: str, out: str) -> None:
    """One rank of the real trainer: stopped after step 2 (as if killed), then resumed."""
    from empirics.training.cli import build_parser, config_from_args
    from empirics.training.trainer import RunInterrupted, train

    torch.set_num_threads(1)
    dctx = init_process(rank, WORLD, init_method=init, backend="gloo", device="cpu")
    cfg = config_from_args(build_parser().parse_args([*_TRAIN_ARGS, "--out", out]))
    with pytest.raises(RunInterrupted):  # stopped after step 2, as if killed
        train(cfg, progress=False, dist=dctx, stop_after=2)
    dctx.barrier()
    if rank == 0:
        saved = torch.load(os.path.join(out, "checkpoints", "last.pt"), weights_only=True)
        assert saved["step"] == 2
    train(cfg, progress=False, dist=dctx, resume=True)
    dctx.close()


@pytest.mark.slow
def test_ddp_trainer_equals_single_process_and_resumes(tmp_path):
    """The real lockstep trainer on 2 gloo processes, stopped after step 2 and resumed, ends
    where one uninterrupted process ends: same weights, optimiser state, metrics, losses.
    (The same code path as ``torchrun --nproc_per_node=2 -m empirics.train``, whose CLI
    calls ``init_from_env``, tested above through the environment variables.)"""
    from empirics.training.cli import build_parser, config_from_args
    from empirics.training.trainer import train

    args = build_parser().parse_args([*_TRAIN_ARGS, "--out", str(tmp_path / "one")])
    single = train(config_from_args(args), progress=False)

    ddp = tmp_path / "ddp"
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.start_processes(_trainer_worker, args=(init, str(ddp)), nprocs=WORLD,
                       start_method="spawn")

    a = torch.load(single / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(ddp / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    leaves_a, leaves_b = dict(_tensor_leaves(a["members"])), dict(_tensor_leaves(b["members"]))
    assert leaves_a.keys() == leaves_b.keys() and len(leaves_a) > 10
    for key, va in leaves_a.items():
        vb = leaves_b[key]
        if va.is_floating_point():
            assert torch.allclose(va, vb, **_TRAIN_TOL), (key, (va - vb).abs().max())
        else:
            assert torch.equal(va, vb), key
    for name in ("metrics.csv", "losses.csv"):
        ra, rb = _csv_numbers(single / name), _csv_numbers(ddp / name)
        assert ra.keys() == rb.keys(), name
        for key, va in ra.items():
            vb = rb[key]
            if isinstance(va, float) and isinstance(vb, float):
                assert math.isclose(va, vb, rel_tol=1e-4, abs_tol=2e-5) or (
                    math.isnan(va) and math.isnan(vb)), (name, key, va, vb)
            else:
                assert va == vb, (name, key)
    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["world_size"] == 2


@pytest.mark.slow
def test_torchrun_cli_shows_no_warning(tmp_path):
    """``torchrun ... -m empirics.train`` on 2 gloo ranks: nothing on stderr (the DDP
    reducer's C++ warning about ``find_unused_parameters`` came with a source line; CE's
    forward no longer returns the projector it never uses). ``OMP_NUM_THREADS`` is set as
    docs/training.md says, which silences torchrun's own notice."""
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([torchrun, "--nproc_per_node=2", "-m", "empirics.train",
                           *_TRAIN_ARGS, "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert "cl-ce" in proc.stdout
