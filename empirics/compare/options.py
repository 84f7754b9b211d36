"""The options of ``python -m empirics.compare``, declared once (:mod:`cl_nscl_align.options`).

Every field below is a flag (``--bootstrap 200``, ``--knn-metric euclidean``), validated
on construction with one sentence naming the field and the value; ``A`` and ``B`` are the
two positional sources (:mod:`empirics.compare.sources`).

>>> CompareOptions(k=5).k
5
>>> CompareOptions(bootstrap=-1)
Traceback (most recent call last):
...
ValueError: Expected `bootstrap` >= 0, got -1
"""

from __future__ import annotations

from dataclasses import dataclass

from cl_nscl_align.options import (
    Options,
    at_least,
    field_choices,
    in_open_unit,
    option,
    path_text,
    positive,
)
from empirics.data.catalog import DATASETS
from empirics.metrics.knn import DEFAULT_K
from empirics.metrics.knn import METRICS as KNN_METRICS
from empirics.training.config import DEVICES, LOSS_GAP_FORMS

__all__ = ["FEATURES", "FORMATS", "POOLS", "CompareOptions", "options_markdown"]

FORMATS = ("table", "json", "csv")
#: ``z``: the projector output (the embedding the losses and Theorem 1 see); ``h``: the
#: backbone output (what the paper's CKA code compares). A model without a projector has z = h.
FEATURES = ("z", "h")
#: How a layer output ``(N, C, ...)`` becomes rows: mean over the dimensions after ``C``
#: (global average pooling), or every entry (``C * H * W`` columns).
POOLS = ("mean", "flatten")
NORMS = ("auto", "none", "batch", "group", "layer")


@dataclass(frozen=True)
class CompareOptions(Options):
    """What to compare, on which rows, and what to report (``A``, ``B`` are positional)."""

    # --- sources ------------------------------------------------------------------------
    key: str | None = option(None, "array of an .npz feature file (KEY, or KEY_A,KEY_B); "
                             "none = its only array")
    arch: str | None = option(None, "architecture of a state-dict checkpoint: mlp, cnn, "
                              "resnet18 (the toolkit's) or torchvision.resnet18/34/50/101/152 "
                              "(needs torchvision); ARCH or ARCH_A,ARCH_B")
    norm: str = option("auto", "normalisation layers of a toolkit checkpoint (auto = from "
                       "its state dict; group and layer cannot be told apart)", choices=NORMS)
    features: str = option("z", "features of a model compared: z (projector output, what "
                           "the losses and Theorem 1 see) or h (backbone, as the paper's "
                           "CKA code)", choices=FEATURES)

    # --- data ---------------------------------------------------------------------------
    dataset: str | None = option(None, "data set the models embed (none: the test reference "
                                 "set of the run a member comes from)", choices=DATASETS)
    data_root: str | None = option(None, "local path of cifar10 / cifar100 / imagefolder",
                                   check=path_text)
    split: str = option("test", "split of --dataset compared (the other one fits the NCC "
                        "class centres)", choices=("test", "train"))
    n: int | None = option(None, "rows compared: a seeded class-stratified subset of the "
                           "split (synthetic: generated; none = all of it)",
                           check=at_least(4))
    labels: str | None = option(None, "labels of the compared rows (.npy, .npz or a text "
                                "file of integers; none = from the data set or run)",
                                check=path_text)
    seed: int = option(0, "root seed of subsets, views, kNN rows and bootstrap "
                       "(empirics.seeds)", check=at_least(0))

    # --- measures -----------------------------------------------------------------------
    k: int = option(DEFAULT_K, "neighbours of mutual_knn (k < N - 1)", check=at_least(1))
    knn_metric: str = option("cosine", "neighbours of mutual_knn by cosine similarity or "
                             "Euclidean distance", choices=KNN_METRICS)
    knn_rows: int = option(5000, "the row measures (mutual_knn, plugins) run on at most this "
                           "many rows (a seeded subset when N is larger: O(N^2) time)",
                           check=at_least(3))
    bootstrap: int = option(0, "bootstrap replicates of every measure (0 = none): Poisson(1) "
                            "multiplicity per compared row",
                            check=at_least(0))
    level: float = option(0.95, "confidence level of the bootstrap interval",
                          check=in_open_unit)
    interval: str = option("basic", "bootstrap interval: basic (2 v - quantiles: corrects "
                           "the shift resampling gives small-sample biases) or percentile",
                           choices=("basic", "percentile"))

    # --- theory -------------------------------------------------------------------------
    tau: float | None = option(None, "temperature of the [P1] losses and the [P2] bounds "
                               "(none = the run's, else 0.5)", check=positive)
    loss_gap_form: str | None = option(None, "[P1] bound with n_max - 1 (tight) or n_max "
                                       "(paper); none = the run's, else tight",
                                       choices=LOSS_GAP_FORMS)
    classes: int | None = option(None, "C: a C-way subset of --dataset and, when given, the "
                                 "[P2] bounds at C", check=at_least(2))
    batch_size: int = option(256, "B of the [P1] loss batches and the [P2] bounds",
                             check=at_least(2))
    steps: int = option(400, "T of the [P2] bounds (the trainer's schedule)",
                        check=at_least(1))
    lr: float = option(0.1, "base learning rate of the [P2] bounds (linear rule, cosine with "
                       "warm-up, as the trainer)", check=positive)
    delta: float = option(0.05, "failure probability of the [P2] bounds",
                          check=in_open_unit)

    # --- layers -------------------------------------------------------------------------
    layers: str | None = option(None, "layer-wise CKA from forward hooks: all, or a comma "
                                "list of module names (none = off)")
    pool: str = option("mean", "rows of a layer output (N, C, ...): mean over the dimensions "
                       "after C, or flatten", choices=POOLS)
    max_width: int = option(4096, "largest flattened layer width accepted by --pool flatten",
                            check=at_least(1))
    layer_rows: int = option(1000, "row measures (mutual_knn, plugins) of every layer pair run "
                             "on at most this many rows (a seeded subset; time O(L_A L_B "
                             "n^2)); 0 = left out (NaN)", check=at_least(0))

    # --- output -------------------------------------------------------------------------
    format: str = option("table", "what is printed", choices=FORMATS)
    out: str | None = option(None, "folder for compare.json, compare.csv and, with --layers, "
                             "layers.csv and layers.png/.pdf", check=path_text, result=False)
    device: str = option("cpu", "where models run: cpu, cuda or auto", choices=DEVICES,
                         result=False)
    chunk: int = option(1024, "rows embedded and accumulated at a time", check=at_least(1),
                        result=False)
    threads: int = option(1, "torch CPU threads (0 = torch's default); 1 is fastest on a "
                          "shared machine, as the trainer's default", check=at_least(0),
                          result=False)

    def check(self) -> None:
        import os

        cores = os.cpu_count() or 1
        if self.threads > cores:
            raise ValueError(f"Expected `threads` <= {cores} (the CPU cores of this machine; 0 "
                             f"= torch's default), got {self.threads}")
        if self.data_root is not None and self.dataset is None:
            raise ValueError(f"Expected `dataset` with `data_root`, got data_root="
                             f"{self.data_root!r} and no dataset")
        if self.n is not None and self.dataset is None:
            raise ValueError(f"Expected `dataset` with `n`, got n={self.n} and no dataset")


def options_markdown() -> str:
    """The options as a Markdown table (docs/compare.md holds it; a test keeps them equal).

    >>> options_markdown().splitlines()[0]
    '| flag | default | choices | what |'
    """
    import dataclasses

    lines = ["| flag | default | choices | what |", "|---|---|---|---|"]
    described = CompareOptions.describe()
    for f, (flag, default, text) in zip(dataclasses.fields(CompareOptions), described,
                                        strict=True):
        what = text.rsplit(" (default: ", 1)[0].replace("%%", "%").replace("|", "\\|")
        choices = ", ".join(field_choices(f) or ())
        lines.append(f"| `{flag}` | `{default}` | {choices} | {what} |")
    return "\n".join(lines)
