"""Train a lockstep run into its run directory: the loop, resume, checkpoints, summary.

The loop reads top to bottom (nanoGPT's order)::

    open the run directory (fresh, or resume: tables back to the checkpoint's step)
    step 0: evaluate, checkpoint
    for t in range(start, T):
        every model takes step t on the shared batch and views  (LockstepTrainer)
        (linearization_every: Appendix D on that step -> linearization.csv)
        t + 1: evaluate every k steps; checkpoint every k steps; progress
    summary.json, last

The tables of an evaluation step are appended *before* the checkpoint of that step, and
the checkpoint carries the tables' text (:mod:`empirics.runs.writer`), so a run killed at
any instant resumes to byte-identical ``metrics.csv``, ``losses.csv``, ``bounds.csv`` and
``linearization.csv``.

A checkpoint names the run's cache key (:meth:`empirics.runs.spec.RunSpec.key`), the
row count of every table it carries and the CPU thread count it was computed with; a
resume refuses, in one sentence naming ``last.pt``, a checkpoint of another
configuration, one whose step lies outside ``[0, T]`` or does not match the evaluation
steps of its rows, and a thread count other than the checkpoint's (CPU sums, hence the
numbers, depend on it) (:func:`check_resumable`).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from empirics.runs.reader import read_table
from empirics.runs.spec import RunSpec
from empirics.runs.tables import RunFileError, check_table_steps
from empirics.runs.writer import KEY_FIELD, RunWriter, load_checkpoint
from empirics.training.config import TrainConfig
from empirics.training.errors import RunInterrupted, TrainingDiverged
from empirics.training.evaluator import (
    LOSSES_COLUMNS,
    alignment_summary,
    cell_number,
    metrics_columns,
    model_pairs,
)
from empirics.training.linearization import LINEARIZATION_COLUMNS, Linearization
from empirics.training.lockstep import LockstepTrainer, check_config_against_data

__all__ = ["RESUMABLE_CHANGES", "RunInterrupted", "TrainingDiverged", "check_resumable",
           "default_out", "run_key", "run_into", "train"]

#: Fields a resumed run may change: where it runs and writes, not what it computes.
RESUMABLE_CHANGES = ("device", "out", "threads")


def default_out(config: TrainConfig) -> str:
    """``runs/<dataset>-C<C>-s<seed>-<UTC time>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{config.dataset}-C{config.classes}-s{config.seed}-{stamp}")


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    disable = not enabled or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=disable, file=sys.stderr,
                desc="lockstep", leave=True)


def run_into(config: TrainConfig, out: str | os.PathLike, *, resume: bool = False,
             progress: bool = False) -> Path:
    """The runner of the ``train`` kind (:mod:`empirics.runs.spec`): train into ``out``."""
    return train(config.replace(out=str(out)), progress=progress, resume=resume)


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    dist=None,
    resume: bool = False,
    stop_after: int | None = None,
    callback: Callable[[int, LockstepTrainer], None] | None = None,
) -> Path:
    """Train ``config``'s objectives in lockstep and write the run directory.

    Args:
        config: the run; ``config.out`` is the run directory (``None``:
            :func:`default_out`).
        progress: a tqdm bar on stderr (only on a terminal, only on the main rank).
        dist: a ``DistContext`` under ``torchrun``; ``None`` = one process.
        resume: continue the run in ``config.out`` from its last checkpoint (its tables
            are put back to that step first); a run killed before its first checkpoint
            starts again from step 0.
        stop_after: stop, as if killed, once this many steps have run in total (raises
            :class:`RunInterrupted` after the step's evaluation and checkpoint).
        callback: ``callback(t, trainer)`` after every step ``t`` (1-based count).

    Returns:
        The run directory.

    Raises:
        ValueError: ``out`` holds a run and ``resume`` is false; ``resume`` is true and
            ``out`` holds none; the saved configuration differs (other than
            :data:`RESUMABLE_CHANGES`); the configuration contradicts the data;
            ``stop_after`` < 1.
        RunFileError: an unreadable checkpoint or ``config.json`` (names the file).
        TrainingDiverged: a loss or a feature stopped being finite (names model and step).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"Expected `config` to be a TrainConfig, got {type(config).__name__}")
    if stop_after is not None and (isinstance(stop_after, bool)
                                   or not isinstance(stop_after, int) or stop_after < 1):
        raise ValueError(f"Expected `stop_after` >= 1, got {stop_after!r}")
    if dist is None:
        from empirics.training.distributed import SINGLE

        dist = SINGLE
    check_config_against_data(config)  # before the thread count is set
    if config.out is None:
        config = config.replace(out=dist.broadcast_object(default_out(config)))

    # torch settings are process-wide: set them for the run and restore them after
    det_before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    threads_before = torch.get_num_threads()
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _set_deterministic(config.deterministic, warn_only=config.device != "cpu")
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(config, progress, dist, resume, stop_after, callback)
    finally:
        _set_deterministic(det_before, warn_only=warn_before)
        torch.set_num_threads(threads_before)


def _set_deterministic(mode: bool, *, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` for eager execution.

    The public function also sets the compiler's flag, importing ``torch._inductor`` (about
    2 s per process, paid by every run of a sweep); nothing here compiles, so the eager flag
    is set alone, and the compiler's too when it is already loaded.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - a torch without the private setter
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    setter(mode, warn_only=warn_only)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = mode


def run_key(config: TrainConfig) -> str:
    """The run's cache key, as the runs layer names it (``RunSpec("train", ...).key()``)."""
    return RunSpec("train", config.to_dict()).key()


def check_resumable(trainer: LockstepTrainer, state: dict[str, Any], key: str, path) -> None:
    """Refuse a checkpoint that is not this run's, at a step its tables contradict.

    The checkpoint at ``path`` must name ``key`` (checkpoints written before the record
    name their configuration, from which the key is derived), hold a step in ``[0, T]``,
    and carry exactly the rows of the evaluation steps up to that step: ``0``, every
    multiple of ``eval_every`` and ``T`` (``losses``: one per model and split;
    ``metrics``: one per pair, split and feature kind; ``bounds``: one per step > 0). On
    CPU its thread count must be this process's (CPU sums depend on it).

    Raises:
        RunFileError: any of these does not hold (the message names ``path``).
        ValueError: another thread count (names both values).
    """
    saved_key = state.get(KEY_FIELD)
    if saved_key is None:  # written before the record: the key of its configuration
        try:
            saved_key = RunSpec("train", state["config"]).key()
        except (KeyError, TypeError, ValueError):
            raise RunFileError(path, "expected a checkpoint naming its configuration, got "
                                     "none (written by an older version; start the run "
                                     "again)") from None
    if saved_key != key:
        raise RunFileError(path, f"expected a checkpoint of this run's configuration (key "
                           f"{key}), got one of another (key {saved_key}): config.json was "
                           "edited or last.pt copied from another run")
    T, step = trainer.T, state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= T \
            or state.get("T", T) != T:
        raise RunFileError(path, f"expected a checkpoint at a step in [0, {T}] of a run of "
                           f"{T} steps, got step {step!r} of {state.get('T')!r}")
    every = trainer.config.eval_every
    steps = sorted({0, *range(every, step + 1, every)} | ({T} if step == T else set()))
    names = [m.name for m in trainer.members]
    ev = trainer.evaluator
    per_step = {"losses": len(names) * len(ev.splits),
                "metrics": len(model_pairs(names)) * len(ev.splits) * len(ev.kinds),
                "bounds": 1}
    tables = state.get("tables") if isinstance(state.get("tables"), dict) else {}
    want = {table: {t: n for t in steps if n and (t > 0 or table != "bounds")}
            for table, n in per_step.items()}
    check_table_steps(tables, want, step, path)
    threads = state.get("threads")
    if threads is not None and trainer.device.type == "cpu" \
            and threads != torch.get_num_threads():
        raise ValueError(f"Expected `threads` = {threads} on resume (the CPU thread count "
                         f"{path} was computed with; CPU results depend on it), got "
                         f"{torch.get_num_threads()}")


def _open(config: TrainConfig, writer: RunWriter, dist, resume: bool,
          trainer: LockstepTrainer) -> dict | None:
    """Open the run directory on the main rank; every rank gets the checkpoint state, or
    the main rank's refusal (so no rank waits for a run that will not start)."""
    key = run_key(config)

    def check(state: dict[str, Any]) -> None:
        check_resumable(trainer, state, key, writer.last)

    state, error = None, None
    if dist.is_main:
        try:
            state = writer.open(config.to_dict(), resume=resume, may_differ=RESUMABLE_CHANGES,
                                map_location=trainer.device, key=key, check=check)
        except (ValueError, TypeError) as exc:  # RunFileError is a ValueError
            error = exc
    message = dist.broadcast_object(None if error is None else str(error))
    if error is not None:
        raise error
    if message is not None:
        raise ValueError(message)
    has_state = dist.broadcast_object(state is not None)
    dist.barrier()
    if has_state and not dist.is_main:
        state = load_checkpoint(writer.last, map_location=trainer.device)
        check(state)
    return state


def _train(config, progress, dist, resume, stop_after, callback) -> Path:
    trainer = LockstepTrainer(config, dist=dist)
    writer = RunWriter(config.out, kind="train",
                       columns={"metrics": metrics_columns(), "losses": LOSSES_COLUMNS,
                                "bounds": None, "linearization": LINEARIZATION_COLUMNS})
    main = dist.is_main
    state = _open(config, writer, dist, resume, trainer)
    if state is None and main:
        writer.start_table("metrics")  # a run without a pair of models has no rows
    start, elapsed, p1_all = 0, 0.0, True
    if state is not None:
        start = trainer.load_state_dict(state)
        elapsed, p1_all = float(state.get("elapsed", 0.0)), bool(state.get("p1_all", True))
    t0 = time.perf_counter()
    last_cka = None
    linearization = Linearization(trainer) if config.linearization_every and main else None

    def evaluate_and_log(t: int) -> None:
        nonlocal last_cka, p1_all
        result = trainer.evaluate(t)
        last_cka = result["headline"]
        p1_all = p1_all and all(r["p1_holds"] for r in result["losses"])
        if main:
            writer.append("metrics", result["metrics"])
            writer.append("losses", result["losses"])
            writer.append("bounds", result["bounds"])

    def checkpoint(t: int) -> None:
        extra = {"elapsed": elapsed + time.perf_counter() - t0, "p1_all": p1_all,
                 "threads": torch.get_num_threads()}
        state = trainer.state_dict(t, extra)
        if main:
            writer.checkpoint(state)
        dist.barrier()

    if state is None:
        evaluate_and_log(0)
        checkpoint(0)
    bar = _progress_bar(trainer.T, start, progress and main)
    try:
        for t in range(start, trainer.T):
            measure = linearization is not None and linearization.due(t)
            before = linearization.before() if measure else None
            losses = trainer.train_step(t)
            if measure:  # Appendix D on the step just taken (reads the models only)
                writer.append("linearization", linearization.rows(t, before))
            done = t + 1
            if done % config.eval_every == 0 or done == trainer.T:
                evaluate_and_log(done)
            if done % config.checkpoint_every == 0 or done == trainer.T:
                checkpoint(done)
            post = {k: f"{v:.3f}" for k, v in losses.items()}
            if last_cka is not None:
                post["cka"] = f"{last_cka:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
            if callback is not None:
                callback(done, trainer)
            if stop_after is not None and done >= stop_after and done < trainer.T:
                raise RunInterrupted(f"stopped after step {done} of {trainer.T} (stop_after)")
    finally:
        bar.close()
    wall = elapsed + time.perf_counter() - t0
    if main:
        writer.finish(summary(trainer, writer, wall, p1_all))
    return writer.path


def summary(trainer: LockstepTrainer, writer: RunWriter, wall: float,
            p1_all: bool) -> dict[str, Any]:
    """``summary.json``: the last step's alignment, losses and bounds, and the run's facts."""
    cfg = trainer.config
    final = trainer.T
    metrics = read_table(writer.metrics)
    losses = read_table(writer.losses)
    alignment = alignment_summary(metrics, final)  # {} for a run without a pair of models
    models: dict[str, Any] = {}
    last = losses[(losses["step"] == final) & (losses["split"] == "test")]
    for r in last.to_dict("records"):
        models[r["model"]] = {k: cell_number(r[k]) for k in
                              ("loss_own", "loss_cl", "loss_nscl", "loss_gap", "loss_gap_bound",
                               "accuracy", "accuracy_z", "head_accuracy")}
    bounds_final: dict[str, Any] = {}
    bounds = read_table(writer.bounds)
    if not bounds.empty:
        row = bounds.iloc[-1].to_dict()
        for k in ("sim_gap", "sim_gap_product", "cka_lower", "rsa_lower", "Delta", "eps",
                  "measured_sim_gap", "bound_over_measured", "loss_gap", "log10_sim_gap"):
            if k in row:
                bounds_final[k] = cell_number(row[k])
    return {
        "run_dir": str(writer.path),
        "steps": final,
        "epochs": trainer.epoch_of(final),
        "sum_eta": float(trainer.cum_eta[final]),
        "base_lr": trainer.base_lr,
        "C": trainer.C,
        "tau": cfg.tau,
        "B": cfg.batch_size,
        "N_train": trainer.N,
        "pi_max": trainer.pi_max,
        "arch": trainer.arch,
        "augment": trainer.augment_kind,
        "device": str(trainer.device),
        "world_size": int(getattr(trainer.dist, "world_size", 1)),
        "wall_seconds": wall,
        "steps_per_second": final / wall if wall > 0 else None,
        "p1_held_at_every_evaluation": p1_all,
        # Corollary 3's batch-composition event over every step (bounds.csv: per window)
        "event_held": trainer.batch_event.held,
        "q_max": trainer.batch_event.run_max,
        "q_bound": trainer.batch_event.q_bound,
        "alignment": alignment,
        "models": models,
        "bounds": bounds_final,
        "objectives": list(cfg.objectives),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
