"""Your own SimCLR-style training loop, with a NSCL twin beside it (docs/compare.md).

    python examples/own_training_loop.py                 # 300 steps, about half a minute on CPU
    python examples/own_training_loop.py --steps 20 --out /tmp/twin

Plain PyTorch on scikit-learn's bundled handwritten digits: an MLP encoder and projector,
two augmented views per image (random one-pixel shifts and pixel noise), the SimCLR
NT-Xent loss and SGD. The three lines marked ``# twin`` are all the toolkit adds: a NSCL
twin (the supervised negatives-only loss of [P2], with the positive kept in its denominator
as the NT-Xent it is compared with) starts from the same weights, sees the very same views
and labels, and the alignment of the pair on 360 held-out digits is logged every
``--every`` steps to a run directory that ``python -m empirics.compare`` and
``python -m figures`` read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from empirics.twin import NSCLTwin


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each 8x8 image by up to one pixel (zero padding) and add pixel noise."""
    B = x.shape[0]
    padded = F.pad(x, (1, 1, 1, 1))
    dy, dx = (torch.randint(0, 3, (2, B), generator=gen)).unbind(0)
    rows = (torch.arange(8)[None, :] + dy[:, None])[:, :, None]  # (B, 8, 1)
    cols = (torch.arange(8)[None, :] + dx[:, None])[:, None, :]  # (B, 1, 8)
    shifted = padded[torch.arange(B)[:, None, None], 0, rows, cols][:, None]
    noise = 0.1 * torch.randn(shifted.shape, generator=gen)
    return (shifted + noise).clamp(0.0, 1.0)


def nt_xent(z: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR's NT-Xent on views ``(2, B, d)``: the other view is the positive."""
    K, B, _ = z.shape
    u = F.normalize(z.reshape(K * B, -1), dim=1)
    logits = u @ u.T / tau
    logits.fill_diagonal_(float("-inf"))  # an anchor is not its own negative
    positive = (torch.arange(K * B) + B) % (K * B)
    return F.cross_entropy(logits, positive)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--every", type=int, default=50, help="log the pair every k steps")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/own-training-loop", help="the twin's run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: fastest for these small models, as the "
                        "toolkit's trainer; 0 = torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]  # (1797, 1, 8, 8)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(args.seed))
    x_ref, y_ref = x[order[:360]], y[order[:360]]  # held out: where the pair is compared
    x_tr, y_tr = x[order[360:]], y[order[360:]]

    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(),
                            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 128))
    projector = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))

    def make_optimizer(params):
        return torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=1e-4)

    optimizer = make_optimizer([*encoder.parameters(), *projector.parameters()])
    twin = NSCLTwin(encoder, projector, optimizer=make_optimizer, tau=args.tau,  # twin
                    reference=(x_ref, y_ref), out=args.out, every=args.every,
                    positive_in_denominator=True, cl_optimizer=optimizer,
                    resume=args.resume)

    B = args.batch_size
    for step in range(twin.steps, args.steps):
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)  # views of step
        idx = torch.randperm(len(y_tr), generator=gen)[:B]
        views = torch.stack([augment(x_tr[idx], gen), augment(x_tr[idx], gen)])  # (2, B, ...)
        z = projector(encoder(views.flatten(0, 1))).reshape(2, B, -1)
        loss = nt_xent(z, args.tau)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        twin.step(views, y_tr[idx])  # twin
        if (step + 1) % args.every == 0:
            print(f"step {step + 1}: NT-Xent {loss.item():.3f}", flush=True)
    run = twin.close()  # twin

    summary = json.loads((Path(run) / "summary.json").read_text())
    print(f"\nCL-NSCL alignment after {summary['steps']} steps on {summary['N_ref']} held-out "
          f"digits ({time.perf_counter() - started:.1f} s):")
    for kind, m in summary["alignment"]["cl-nscl"]["test"].items():
        name = {"z": "projection z", "h": "encoder h"}[kind]
        print(f"  {name:<13} CKA {m['cka']:.3f} (linear {m['cka_linear']:.3f}), RSA "
              f"{m['rsa']:.3f}, similarity gap {m['sim_gap']:.2f}, Procrustes "
              f"{m['procrustes']:.3f} rad, mutual 10-NN {m['mutual_knn']:.3f}, "
              f"representation angle {m['repr_angle']:.1f} deg, weight angle "
              f"{m['weight_angle']:.1f} deg, weight distance {m['weight_distance']:.2f}")
    print(f"run directory: {run}\n  python -m empirics.compare {run}:cl {run}:nscl\n"
          f"  python -m figures fig2 --runs {run} --out figures-own-loop")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
