"""One comparison of two encoders, top to bottom (the function behind the command line).

::

    resolve A and B (feature files, run members, checkpoints)         sources.py
    the rows: the run's test reference set, or --dataset               reference.py
    one pass over the rows in chunks: moments of A and B, the rows     measures.py
        of the bounded set, NCC scores, the layers' wide moments       layers.py
    the row measures on the bounded rows; bootstrap replicates         measures.py
    [P1] loss gaps on the views, weight gap, [P2] bounds               theory.py

Every measure of the registry (:data:`empirics.measures.MEASURES`, plugins included) is
reported. Rows held in memory (feature files) give the moment measures exactly as the
one-shot :func:`empirics.metrics.alignment` does; models stream, so ``N`` is bounded by time
only (memory: the moments, the bounded rows and, with ``--bootstrap`` or leave-one-out NCC,
the compared rows).
"""

from __future__ import annotations

from typing import Any

import torch

from empirics.compare import measures, theory
from empirics.compare.layers import (
    LAYER_MEMORY_LIMIT,
    LayerHooks,
    WideMoments,
    layer_rows,
    select_layers,
)
from empirics.compare.options import CompareOptions
from empirics.compare.reference import Reference, from_dataset, from_run, read_labels
from empirics.compare.sources import (
    CompareError,
    Side,
    build_checkpoint_model,
    check_arch,
    resolve,
    split_pair,
)
from empirics.metrics import quantities

__all__ = ["compare"]


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CompareError("Expected a CUDA device for `--device` cuda, got none available")
    return name


def _reference(A: Side, B: Side, opts: CompareOptions, device: str) -> Reference | None:
    if not (A.is_model or B.is_model):
        return None
    if opts.dataset is not None:
        return from_dataset(opts, device)
    runs = [s.run for s in (A, B) if s.run is not None]
    if not runs:
        model = A if A.is_model else B
        raise CompareError(f"Expected `--dataset` to embed the checkpoint `{model.name}` "
                           f"({model.text!r}), got none")
    if len({str(r.path.resolve()) for r in runs}) > 1:
        raise CompareError("Expected `--dataset` for members of two different runs (each has "
                           "its own reference set), got none")
    return from_run(runs[0])


def _embed(model: torch.nn.Module, x: torch.Tensor, features: str) -> torch.Tensor:
    with torch.no_grad():
        h, z = model(x)
    return (z if features == "z" else h).flatten(1).double()


def _rows(side: Side, ref: Reference | None, lo: int, hi: int, features: str) -> torch.Tensor:
    if side.features is not None:
        return side.features[lo:hi].double()
    return _embed(side.model, ref.x[lo:hi], features)


def _count(side: Side, ref: Reference | None) -> int:
    return int(side.features.shape[0]) if side.features is not None else ref.n


def _check_finite(x: torch.Tensor, side: Side) -> None:
    if not bool(torch.isfinite(x).all()):
        raise CompareError(f"Expected finite features from `{side.name}` ({side.text!r}), got "
                           "NaN or inf (refused)")


def _ncc_centres(side: Side, ref: Reference, opts: CompareOptions):
    chunks = ((_embed(side.model, ref.train_x[i:i + opts.chunk], opts.features),
               ref.train_y[i:i + opts.chunk]) for i in range(0, len(ref.train_y), opts.chunk))
    return theory.ncc_centres(chunks)


def compare(a: str, b: str, opts: CompareOptions | None = None, *,
            progress: bool = False) -> dict[str, Any]:
    """Compare ``A`` and ``B`` (module docstring); returns the result as a plain dict.

    Raises:
        CompareError: a usage error, one sentence naming the argument and the value.
    """
    opts = opts or CompareOptions()
    device = _device(opts.device)
    cache: dict = {}
    key_a, key_b = split_pair(opts.key, "key")
    arch_a, arch_b = split_pair(opts.arch, "arch")
    A = resolve("A", a, key_a, opts.features, device, cache)
    B = resolve("B", b, key_b, opts.features, device, cache)
    for side, arch in ((A, arch_a), (B, arch_b)):
        if side.state is not None:
            check_arch(side, arch)
    ref = _reference(A, B, opts, device)
    for side, arch in ((A, arch_a), (B, arch_b)):
        if side.state is not None:
            build_checkpoint_model(side, arch, ref.input_shape, opts.norm)
        if side.model is not None:
            side.model.to(device).eval()
    N, NB = _count(A, ref), _count(B, ref)
    if N != NB:
        raise CompareError(f"Expected `A` and `B` to have the same number of rows, got {N} "
                           f"(A = {A.text!r}) and {NB} (B = {B.text!r})")
    if N < 4:
        raise CompareError(f"Expected at least 4 compared rows, got {N}")
    if opts.layers:
        _check_models_for_layers(A, B)
    knn_idx = measures.bounded_rows(N, opts.knn_rows, opts.seed)
    if opts.k >= len(knn_idx) - 1:
        raise CompareError(f"Expected `--k` < N - 1 = {len(knn_idx) - 1} (the rows of "
                           f"mutual_knn), got {opts.k}")
    if opts.layers and opts.layer_rows and opts.k >= min(N, opts.layer_rows) - 1:
        raise CompareError(f"Expected `--layer-rows` > `--k` + 1 = {opts.k + 1} (the rows of "
                           f"mutual_knn of the layers), got {opts.layer_rows}")
    labels, label_source = _labels(A, B, ref, opts, N)
    tau = opts.tau or (ref.settings.get("tau") if ref is not None else None) or 0.5

    # -- one pass over the rows --------------------------------------------------------
    fit = labels is not None and ref is not None and ref.train_x is not None and \
        opts.labels is None
    centres = {s.name: _ncc_centres(s, ref, opts) for s in (A, B)
               if fit and s.model is not None}
    layers = _layer_setup(A, B, opts, N) if opts.layers else None
    in_memory = A.features is not None and B.features is not None
    keep_all = opts.bootstrap > 0 or (labels is not None and len(centres) < 2)
    stream = measures.PairMoments()
    kept: dict[str, list[torch.Tensor]] = {"A": [], "B": []}
    correct = {name: 0 for name in centres}
    bar = measures.progress_bar(N, "rows", progress and not in_memory)
    for lo in range(0, N, opts.chunk):
        hi = min(lo + opts.chunk, N)
        xa, xb = _rows(A, ref, lo, hi, opts.features), _rows(B, ref, lo, hi, opts.features)
        for x, side in ((xa, A), (xb, B)):
            _check_finite(x, side)
        if not in_memory:
            stream.update(xa, xb)
        if layers is not None:
            layers.update(lo, hi)
        for name, x in (("A", xa), ("B", xb)):
            if name in centres:
                correct[name] += theory.ncc_score(x, labels[lo:hi], *centres[name])
            if keep_all:
                kept[name].append(x)
            else:
                sel = torch.from_numpy(knn_idx[(knn_idx >= lo) & (knn_idx < hi)] - lo)
                kept[name].append(x[sel])
        bar.update(hi - lo)
    bar.close()
    XA, XB = torch.cat(kept["A"]), torch.cat(kept["B"])
    if in_memory:
        values, reasons = measures.measure(A.features.double(), B.features.double())
    else:
        values, reasons = stream.values()
    quantities.warn_nan(reasons)
    knn_sel = torch.from_numpy(knn_idx) if keep_all else torch.arange(len(knn_idx))
    given = {"k": opts.k, "metric": opts.knn_metric}  # the row measures' options
    row_labels = None if labels is None else torch.as_tensor(labels).cpu().numpy()[knn_idx]
    rows_values, rows_reasons = measures.row_values(XA[knn_sel], XB[knn_sel],
                                                    labels=row_labels, **given)
    values.update(rows_values)
    reasons.update(rows_reasons)
    reported = measures.reported()

    result: dict[str, Any] = {
        "A": {"source": a, "what": A.what}, "B": {"source": b, "what": B.what},
        "rows": {"n": N, "what": ref.what if ref is not None else (
            A.rows_what or B.rows_what or "the rows of the feature files"),
            "features": opts.features if (A.model or B.model) else None},
        "metrics": {m.name: values[m.name] for m in reported},
        "normalisers": {"k_norm": values["k_norm"], "sigma_a": values["sigma_a"]},
        "nan_reasons": reasons,
        "measures": [measures.metadata(m, **given) for m in reported],
        "mutual_knn": {"k": opts.k, "metric": opts.knn_metric, "rows": int(len(knn_idx))},
    }
    if opts.bootstrap:
        result["intervals"] = measures.bootstrap(
            XA, XB, knn_idx, values, replicates=opts.bootstrap, level=opts.level,
            seed=opts.seed, interval=opts.interval, progress=progress, **given)
        result["bootstrap"] = {"replicates": opts.bootstrap, "level": opts.level,
                               "seed": opts.seed, "interval": opts.interval,
                               "unit": "sample (Poisson(1) multiplicity)"}
    result["labels"] = _accuracy(labels, label_source, centres, correct, XA, XB, N)
    result["p1"] = _p1(A, B, ref, labels, opts, tau, progress)
    result["weights"] = theory.weights(A.model, B.model)
    if opts.classes is not None:
        result["p2"] = theory.p2_bounds(C=opts.classes, tau=tau, B=opts.batch_size,
                                        T=opts.steps, lr=opts.lr, delta=opts.delta, N=N,
                                        measured=values)
    else:
        result["p2"] = {"available": False, "why": "n/a: give --classes (and --tau "
                                                   "--batch-size --steps --lr)"}
    if layers is not None:
        result["layers"] = layers.finish(N, labels=labels, progress=progress, **given)
    result["settings"] = {"tau": tau, "seed": opts.seed, "device": device}
    return result


def _labels(A: Side, B: Side, ref: Reference | None, opts: CompareOptions, N: int):
    if opts.labels is not None:
        return read_labels(opts.labels, N), f"--labels {opts.labels}"
    if ref is not None and ref.y is not None:
        return ref.y, "the data set"
    for side in (A, B):
        if side.labels is not None:
            return side.labels.long().cpu(), f"the run of `{side.name}`"
    return None, None


def _accuracy(labels, source, centres, correct, XA, XB, N) -> dict[str, Any]:
    if labels is None:
        return {"available": False, "why": "n/a: needs labels (--labels FILE)"}
    acc, how = {}, {}
    for name, X in (("A", XA), ("B", XB)):
        if name in centres:
            acc[name] = correct[name] / N
            how[name] = "class centres from the other split"
        else:
            acc[name] = theory.ncc_leave_one_out(X, labels)
            how[name] = "leave-one-out on the compared rows"
    return {"available": True, "source": source, "ncc_accuracy": acc, "method": how}


def _side_batches(side: Side, ref: Reference | None, labels, opts: CompareOptions):
    """The [P1] batches of one side: ``(z (K, b, d), labels)``, or ``None`` (no views)."""
    if side.views is not None:
        K, N, _ = side.views.shape
        b = min(opts.batch_size, N)
        return ((side.views[:, j * b:(j + 1) * b], labels[j * b:(j + 1) * b])
                for j in range(max(1, N // b)))
    if side.model is None or ref is None or ref.loss_batches is None or opts.labels:
        return None

    def embedded():
        for views, y in ref.loss_batches():
            K, b = views.shape[0], views.shape[1]
            z = _embed(side.model, views.reshape(K * b, *views.shape[2:]), "z")
            yield z.reshape(K, b, -1), y
    return embedded()


def _p1(A: Side, B: Side, ref, labels, opts: CompareOptions, tau: float,
        progress: bool = False) -> dict[str, Any]:
    if labels is None:
        return {"available": False, "why": "n/a: needs labels"}
    settings = ref.settings if ref is not None else {}
    kw = {"tau": tau, "pairs": settings.get("pairs", "distinct"),
          "positive_in_denominator": settings.get("positive_in_denominator", False),
          "form": opts.loss_gap_form or settings.get("loss_gap_form", "tight")}
    out: dict[str, Any] = {"available": False, "why": "n/a: needs views (models with data, "
                           "or (K, N, d) feature files)"}
    for side in (A, B):
        batches = _side_batches(side, ref, labels, opts)
        if batches is None:
            why = ("n/a: the views come with the data set's labels, not --labels"
                   if side.model is not None and opts.labels else "n/a: needs views")
            out[side.name] = {"available": False, "why": why}
        else:
            bar = measures.progress_bar(None, f"[P1] {side.name}", progress)
            out[side.name] = theory.loss_gap(_counted(batches, bar), **kw)
            bar.close()
            out["available"], out["why"] = True, None
    return out


def _counted(items, bar):
    for item in items:
        yield item
        bar.update(1)


class _Layers:
    """Hooks on both models, the wide moments of their layers (both kinds) and the rows of
    the layers' bounded set (the row measures', ``--layer-rows``)."""

    def __init__(self, A: Side, B: Side, opts: CompareOptions, N: int) -> None:
        self.names = (select_layers(A.model, opts.layers, "A"),
                      select_layers(B.model, opts.layers, "B"))
        self.types = [[type(dict(s.model.named_modules())[n]).__name__ for n in names]
                      for s, names in zip((A, B), self.names, strict=True)]
        self.hooks = [LayerHooks(s.model, n, pool=opts.pool, max_width=opts.max_width,
                                 side=s.name) for s, n in zip((A, B), self.names, strict=True)]
        self.cos = self.raw = None
        self.labels = (A.text, B.text)
        self.rows = (measures.bounded_rows(N, opts.layer_rows, opts.seed)
                     if opts.layer_rows else None)
        self.kept: list[list[list[torch.Tensor]]] = [[[] for _ in n] for n in self.names]

    def update(self, lo: int, hi: int) -> None:
        blocks = [h.take() for h in self.hooks]
        if self.cos is None:
            dims = [[int(x.shape[1]) for x in side] for side in blocks]
            kept = 0 if self.rows is None else 8 * len(self.rows) * (sum(dims[0]) + sum(dims[1]))
            need = 2 * WideMoments.memory(*dims) + kept
            if need > LAYER_MEMORY_LIMIT:
                raise CompareError(f"Expected `--layers` whose moments fit in "
                                   f"{LAYER_MEMORY_LIMIT / 2**30:.0f} GiB, got "
                                   f"{need / 2**30:.1f} GiB for {sum(dims[0])} + "
                                   f"{sum(dims[1])} columns; name fewer layers")
            device = blocks[0][0].device
            self.cos = WideMoments(*dims, cosine=True, device=device)
            self.raw = WideMoments(*dims, cosine=False, device=device)
        self.cos.update(*blocks)
        self.raw.update(*blocks)
        if self.rows is not None:
            sel = self.rows[(self.rows >= lo) & (self.rows < hi)] - lo
            for side, outputs in enumerate(blocks):
                for i, x in enumerate(outputs):
                    self.kept[side][i].append(x[torch.from_numpy(sel).to(x.device)].double())

    def finish(self, N: int, *, labels=None, progress: bool = False, **given
               ) -> dict[str, Any]:
        """The layers' result; ``labels``: the ``N`` rows' classes (``None``: unknown), of
        which the bounded rows' reach the row measures that need them."""
        for h in self.hooks:
            h.close()
        kept = None if self.rows is None else tuple(
            [torch.cat(parts).cpu() for parts in side] for side in self.kept)
        kept_labels = (None if labels is None or self.rows is None
                       else torch.as_tensor(labels).cpu().numpy()[self.rows])
        bar = measures.progress_bar(len(self.names[0]) * len(self.names[1]), "layer pairs",
                                    progress)
        rows, reasons = layer_rows(self.names, self.cos, self.raw, kept, labels=kept_labels,
                                   progress=bar, **given)
        bar.close()
        quantities.warn_nan(reasons)
        return {"names_a": self.names[0], "names_b": self.names[1], "types_a": self.types[0],
                "types_b": self.types[1], "rows": rows, "labels": list(self.labels), "n": N,
                "row_measure_rows": 0 if self.rows is None else int(len(self.rows))}


def _check_models_for_layers(A: Side, B: Side) -> None:
    for side in (A, B):
        if side.model is None:
            raise CompareError(f"Expected models for `--layers` (checkpoints or run members), "
                               f"got the feature file `{side.name}` ({side.text!r})")


def _layer_setup(A: Side, B: Side, opts: CompareOptions, N: int) -> _Layers:
    _check_models_for_layers(A, B)
    return _Layers(A, B, opts, N)
