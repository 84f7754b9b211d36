"""The table of bad command lines walked by ``tests/test_cli_fuzz.py``.

Each :class:`Case` is one command line of one entry point (``python -m <entry> <argv>``),
the exit status the project's standard demands for it, and a regular expression that the
ONE line the command may print on stderr must match. The standard (docs and the
developers' guide): a usage error exits with status 2 and prints one stderr line naming
the argument and the value, no traceback, nothing else on stderr; nothing is written
for a refused command.

The table is written from that standard, not from what a command happens to print today.
``argv`` may hold placeholders filled per case by the test from files it builds in its
temporary folder:

=================  ==============================================================
``{out}``          an output folder that does not exist yet (must stay absent or empty)
``{missing}``      a path that does not exist (``no-such-path``)
``{file}``         a plain file (``a-file.txt``), where a folder is needed
``{empty_dir}``    an empty folder (``empty-dir``)
``{ro}``           a folder this user cannot write (cases skipped where none exists)
``{broken_toml}``  a TOML file with a syntax error (``broken.toml``)
``{empty_toml}``   an empty TOML file (``empty.toml``)
``{unknown_toml}`` a TOML file with a key no configuration has (``no_such_field``)
``{broken_json}``  a file that is not JSON (``broken.json``)
``{broken_npy}``   a file that is not ``.npy`` (``broken.npy``)
``{a_npy}``        an (8, 4) float feature matrix (``a.npy``); ``{b_npy}`` another
``{short_npy}``    a (6, 4) feature matrix (``short.npy``): a row count unlike ``a.npy``
``{tiny_toml}``    a tiny training configuration (the ``--base`` of sweep cases)
=================  ==============================================================

Where a command that wrongly accepted its input would start real work, the case carries
the flags of a tiny run (``TRAIN_TINY`` and friends), so a regression costs seconds, not
minutes; those flags come before the bad value, which wins (argparse keeps the last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CASES", "COMPARE_CASES", "Case", "names"]


@dataclass(frozen=True)
class Case:
    """One bad command line and what the standard demands of it."""

    entry: str  # the module of ``python -m``
    label: str  # the kind of bad value, for the test id
    argv: tuple[str, ...]
    status: int  # the exit status demanded (2: usage error)
    pattern: str | None  # regex the one stderr line must match; None: stderr stays empty
    needs: tuple[str, ...] = ()  # "no-cuda", "unwritable", "compare"
    subprocess: bool = False  # also run through a real ``python -m`` subprocess

    @property
    def id(self) -> str:
        return f"{self.entry}:{self.label}"


def _arg(name: str) -> str:
    """``--pi-max`` -> a regex for ``--pi-max``, ``pi-max``, ``pi_max`` or ``pi max`` as a
    whole word."""
    body = "[-_ ]".join(re.escape(p) for p in re.split(r"[-_]", name.lstrip("-")))
    return rf"(?<!\w)(?:--)?{body}(?!\w)"


def names(arg: str | tuple[str, ...] | list, value: str | tuple[str, ...] | None = None) -> str:
    """A regex matching a line that names the argument and, when given, the value (any of
    ``value``, case-insensitive), in any order. ``arg``: a name, a tuple of names (any one
    of them) or a list (every one of its items: the flags of a conflict).

    >>> bool(re.search(names("--pi-max", "0.001"), "error: Expected `pi_max` >= 1/C, got 0.001"))
    True
    >>> bool(re.search(names("--C", "1"), "error: Expected `classes` >= 2, got 1"))
    False
    >>> bool(re.search(names(["--runs", "--claims"]), "error: --runs is not allowed"))
    False
    """
    groups = arg if isinstance(arg, list) else [arg]
    pat = ""
    for group in groups:
        alts = group if isinstance(group, tuple) else (group,)
        pat += "(?=.*(?:" + "|".join(_arg(a) for a in alts) + "))"
    if value is not None:
        values = value if isinstance(value, tuple) else (value,)
        pat += "(?=.*(?i:" + "|".join(re.escape(v) for v in values) + "))"
    return pat


EMPTY = ("''", '""', "empty", "()", "[]")  # how a message may show an empty value
NAN = ("nan",)
INF = ("inf",)

# Tiny sizes: a command that wrongly accepts its input then finishes in seconds.
TRAIN_TINY = (
    "--classes", "2", "--train-size", "64", "--test-size", "32", "--reference-size", "16",
    "--batch-size", "16", "--steps", "2", "--eval-every", "1", "--checkpoint-every", "1",
    "--feature-dim", "8", "--proj-dim", "8", "--no-progress", "--out", "{out}",
)  # fmt: skip
SURROGATE_TINY = ("--C", "2", "--N", "16", "--B", "4", "--steps", "2", "--no-progress")
CLAIMS_SAFE = ("--out", "{out}", "--size", "tiny", "--executor", "serial", "--no-figure")
SWEEP_SAFE = ("--executor", "serial", "--no-progress", "--base", "{tiny_toml}",
              "--out", "{out}")
STUDY_SAFE = ("--size", "tiny", "--executor", "serial", "--datasets", "synthetic",
              "--seeds", "0", "--out", "{out}")
FIG_SAFE = ("--out", "{out}", "--size", "tiny", "--workers", "1")


def _c(entry, label, argv, arg, value=None, *, status=2, needs=(), subprocess=False):
    pattern = None if arg is None else names(arg, value)
    return Case(entry, label, tuple(argv), status, pattern, tuple(needs), subprocess)


def _bounds() -> list[Case]:
    e = "bounds.evaluate"
    return [
        _c(e, "tau-negative", ["--tau", "-0.5"], "--tau", "-0.5"),
        _c(e, "tau-nan", ["--tau", "nan"], "--tau", NAN),
        _c(e, "tau-inf", ["--tau", "inf"], "--tau", INF),
        # issue 20: numpy's RuntimeWarnings came before the error, which named `L`
        _c(e, "tau-denormal", ["--tau", "1e-320"], "--tau", ("1e-320", "1e-32"),
           subprocess=True),
        _c(e, "C-one", ["--C", "1"], "--C", "1"),
        _c(e, "C-text", ["--C", "ten"], "--C", "ten"),
        _c(e, "C-empty", ["--C", ""], "--C", EMPTY),
        _c(e, "C-empty-item", ["--C", "10,,100"], "--C", "10,,100"),
        _c(e, "C-huge", ["--C", "1e300"], "--C", ("1e300", "1e+300")),
        # issue 20: tried to allocate 7.28 TiB (a traceback); the schedule's growth now has
        # a closed form, so 10**12 steps is an ordinary request: exit 0, stderr empty
        _c(e, "steps-huge", ["--steps", "1000000000000"], None, status=0, subprocess=True),
        _c(e, "delta-one", ["--delta", "1"], "--delta", "1"),
        # issue 20: a class prior below 1/C is impossible, yet a smaller Delta came out
        _c(e, "pi-max-below-1/C", ["--C", "10", "--pi-max", "0.001"], "--pi-max", "0.001"),
        _c(e, "n-max-below-N/C", ["--C", "10", "--N", "50000", "--n-max", "5"],
           "--n-max", "5"),
        _c(e, "G-without-beta", ["--G", "1"], ["--G", "--beta"]),
        _c(e, "format-unknown", ["--format", "xml"], "--format", "xml"),
        _c(e, "flag-unknown", ["--bogus", "1"], "--bogus"),
        _c(e, "features-missing", ["--features", "{missing}"], "--features", "no-such-path"),
        _c(e, "features-corrupt", ["--features", "{broken_npy}"], "--features", "broken.npy"),
    ]


def _docs() -> list[Case]:
    e = "bounds.docs"
    return [
        _c(e, "check-missing", ["--check", "{missing}"], "--check", "no-such-path",
           subprocess=True),
        _c(e, "write-and-check", ["--write", "{out}/b.md", "--check", "{missing}"],
           ["--write", "--check"]),
        _c(e, "write-under-file", ["--write", "{file}/bounds.md"], "--write", "a-file.txt"),
        _c(e, "write-empty", ["--write", ""], "--write", EMPTY),
    ]


def _train() -> list[Case]:
    e = "empirics.train"
    t = TRAIN_TINY
    return [
        _c(e, "tau-negative", [*t, "--tau", "-1"], "--tau", "-1"),
        _c(e, "tau-nan", [*t, "--tau", "nan"], "--tau", NAN),
        _c(e, "steps-zero", [*t, "--steps", "0"], "--steps", "0"),
        _c(e, "steps-fraction", [*t, "--steps", "2.5"], "--steps", "2.5"),
        _c(e, "batch-size-huge", [*t, "--batch-size", "1000000000000"], "--batch-size",
           "1000000000000"),
        _c(e, "classes-one", [*t, "--classes", "1"], "--classes", "1"),
        # issue 20: `none` was dropped and the default 10 kept; synthetic data needs C
        _c(e, "classes-none-synthetic", [*t, "--classes", "none"], "--classes", "none"),
        _c(e, "objectives-unknown", [*t, "--objectives", "cl,byol"], "--objectives", "byol"),
        _c(e, "objectives-empty", [*t, "--objectives", ""], "--objectives", EMPTY),
        _c(e, "objectives-empty-item", [*t, "--objectives", "cl,,nscl"], "--objectives",
           "cl,,nscl"),
        _c(e, "device-tpu", [*t, "--device", "tpu"], "--device", "tpu"),
        _c(e, "device-cuda-absent", [*t, "--device", "cuda"], "--device", "cuda",
           needs=("no-cuda",)),
        _c(e, "cifar-without-root", [*t, "--dataset", "cifar10"], "--data-root"),
        _c(e, "data-root-missing", [*t, "--dataset", "cifar10", "--data-root", "{missing}"],
           "--data-root", "no-such-path"),
        _c(e, "data-root-empty-folder",
           [*t, "--dataset", "cifar10", "--data-root", "{empty_dir}"],
           "--data-root", "empty-dir"),
        # issue 20: the whole run went into the current folder
        _c(e, "out-empty", [*t, "--out", ""], "--out", EMPTY),
        _c(e, "out-file", [*t, "--out", "{file}"], "--out", "a-file.txt"),
        _c(e, "out-unwritable", [*t, "--out", "{ro}/run"], "--out", "run",
           needs=("unwritable",)),
        _c(e, "resume-missing", ["--resume", "{missing}", "--no-progress"], "--resume",
           "no-such-path"),
        _c(e, "config-missing", [*t, "--config", "{missing}"], "--config", "no-such-path"),
        _c(e, "config-corrupt", [*t, "--config", "{broken_toml}"], "--config", "broken.toml"),
        _c(e, "config-unknown-key", [*t, "--config", "{unknown_toml}"], "no_such_field"),
    ]


def _surrogate() -> list[Case]:
    e = "empirics.surrogate"
    s = SURROGATE_TINY
    return [
        _c(e, "tau-zero", [*s, "--tau", "0"], "--tau", "0"),
        _c(e, "N-huge", [*s, "--N", "1000000000000"], "--N", "1000000000000"),
        _c(e, "pi-max-two", [*s, "--pi-max", "2"], "--pi-max", "2"),
        _c(e, "backend-unknown", [*s, "--backend", "jax"], "--backend", "jax"),
        # issue 20: torch's RuntimeError traceback
        _c(e, "torch-device-tpu", [*s, "--backend", "torch", "--device", "tpu"],
           "--device", "tpu", subprocess=True),
        _c(e, "torch-device-cuda-absent", [*s, "--backend", "torch", "--device", "cuda"],
           "--device", "cuda", needs=("no-cuda",)),
        _c(e, "resume-without-out", [*s, "--resume"], ["--resume", "--out"]),
        _c(e, "out-file", [*s, "--out", "{file}"], "--out", "a-file.txt"),
        _c(e, "out-empty", [*s, "--out", ""], "--out", EMPTY),
        _c(e, "config-corrupt", [*s, "--config", "{broken_toml}"], "--config", "broken.toml"),
    ]


def _sweep() -> list[Case]:
    e = "empirics.sweep"
    w = SWEEP_SAFE
    return [
        _c(e, "grid-negative-tau", [*w, "--grid", "tau=-1"], "tau", "-1", subprocess=True),
        _c(e, "grid-empty-value", [*w, "--grid", "tau="], "tau"),
        _c(e, "grid-empty-item", [*w, "--grid", "tau=0.5,,1"], "tau", "0.5,,1"),
        _c(e, "grid-unknown-key", [*w, "--grid", "no_such_field=1"], "no_such_field"),
        _c(e, "grid-not-key-value", [*w, "--grid", "classes"], "--grid", "classes"),
        _c(e, "workers-zero", [*w, "--grid", "classes=2", "--workers", "0"], "--workers", "0"),
        _c(e, "target-missing", [*w, "--grid", "x=1", "--target", "no_such_module:fn"],
           "--target", "no_such_module"),
        _c(e, "base-corrupt", [*w, "--grid", "classes=2", "--base", "{broken_toml}"],
           "--base", "broken.toml"),
        _c(e, "out-file", [*w, "--grid", "classes=2", "--out", "{file}"], "--out",
           "a-file.txt"),
        _c(e, "out-empty", [*w, "--grid", "classes=2", "--out", ""], "--out", EMPTY),
    ]


def _claims() -> list[Case]:
    e = "empirics.claims"
    c = CLAIMS_SAFE
    return [
        _c(e, "seeds-one", [*c, "--seeds", "1"], "--seeds", "1"),
        _c(e, "only-unknown", [*c, "--only", "C9"], "--only", "C9"),
        _c(e, "device-tpu", [*c, "--device", "tpu"], "--device", "tpu"),
        # issue 20: every run started, failed and left error.txt
        _c(e, "device-cuda-absent", [*c, "--device", "cuda"], "--device", "cuda",
           needs=("no-cuda",)),
        _c(e, "data-root-missing", [*c, "--data-root", "{missing}"], "--data-root",
           "no-such-path", subprocess=True),
        # issue 20: an empty protocol file ran the whole default protocol without a word
        _c(e, "protocol-empty-file", [*c, "--protocol", "{empty_toml}"], "--protocol",
           "empty.toml"),
        _c(e, "protocol-missing", [*c, "--protocol", "{missing}"], "--protocol",
           "no-such-path"),
        _c(e, "protocol-corrupt", [*c, "--protocol", "{broken_toml}"], "--protocol",
           "broken.toml"),
        _c(e, "out-file", [*c, "--out", "{file}"], "--out", "a-file.txt"),
        _c(e, "out-empty", [*c, "--out", ""], "--out", EMPTY),
        _c(e, "out-unwritable", [*c, "--out", "{ro}/study"], "--out", "study",
           needs=("unwritable",)),
    ]


def _studies() -> list[Case]:
    e = "empirics.studies"
    s = STUDY_SAFE
    return [
        _c(e, "study-unknown", ["bogus-study"], "study", "bogus-study"),
        _c(e, "study-missing", [], "study"),
        _c(e, "tightness-steps-zero", ["tightness", "--quick", "--steps", "0"], "--steps", "0"),
        _c(e, "surrogate-trends-seeds-text",
           ["surrogate-trends", "--quick", "--seeds", "a,b"], "--seeds", "a,b"),
        _c(e, "trainer-workers-zero", ["trainer", "--quick", "--workers", "0"], "--workers",
           "0"),
        _c(e, "tightness-out-empty", ["tightness", "--quick", "--out", ""], "--out", EMPTY),
        _c(e, "accuracy-runs-missing", ["accuracy", "--runs", "{missing}", "--out", "{out}"],
           "--runs", "no-such-path", subprocess=True),
        _c(e, "accuracy-runs-empty", ["accuracy", "--runs", "{empty_dir}", "--out", "{out}"],
           "--runs", "empty-dir"),
        _c(e, "accuracy-taus-nan", ["accuracy", *s, "--taus", "nan"], "--taus", NAN),
        _c(e, "accuracy-cifar-without-root", ["accuracy", *s, "--datasets", "cifar10"],
           "--data-root"),
        _c(e, "fewshot-vs-unknown", ["fewshot", *s, "--vs", "bogus"], "--vs", "bogus"),
        _c(e, "merging-points-one", ["merging", *s, "--points", "1"], "--points", "1"),
        _c(e, "merging-partners-unknown", ["merging", *s, "--partners", "byol"],
           "--partners", "byol"),
        _c(e, "alignment-accuracy-bootstrap-zero",
           ["alignment-accuracy", *s, "--bootstrap", "0"], "--bootstrap", "0"),
        _c(e, "alignment-accuracy-classes-one",
           ["alignment-accuracy", *s, "--classes", "1"], "--classes", "1"),
        _c(e, "docs-target-unknown", ["docs", "bogus"], "target", "bogus"),
        _c(e, "docs-target-missing", ["docs"], "target"),
        _c(e, "docs-claims-missing", ["docs", "claims", "--claims", "{missing}"], "--claims",
           "no-such-path"),
        _c(e, "docs-accuracy-readme", ["docs", "accuracy", "--readme"], "--readme"),
        _c(e, "docs-claims-a-file", ["docs", "claims", "--claims", "{file}"], "--claims",
           "a-file.txt"),
        _c(e, "docs-write-and-readme", ["docs", "claims", "--write", "--readme"], "--readme",
           "--write"),
        _c(e, "docs-unknown-flag", ["docs", "accuracy", "--bogus", "1"], "--bogus"),
    ]


def _golden() -> list[Case]:
    e = "empirics.studies.golden"
    return [
        _c(e, "path-missing", ["--path", "{missing}"], "--path", "no-such-path"),
        _c(e, "path-corrupt", ["--path", "{broken_json}"], "--path", "broken.json"),
        _c(e, "path-folder", ["--path", "{empty_dir}"], "--path", "empty-dir"),
    ]


def _figures() -> list[Case]:
    e = "figures"
    f = FIG_SAFE
    return [
        _c(e, "name-unknown", ["fig99", *f], "name", "fig99"),
        # issue 20: a MemoryError traceback
        _c(e, "landscape-dpi-huge", ["landscape", *f, "--dpi", "100000"], "--dpi", "100000",
           subprocess=True),
        _c(e, "landscape-dpi-text", ["landscape", *f, "--dpi", "high"], "--dpi", "high"),
        _c(e, "landscape-formats-unknown", ["landscape", *f, "--formats", "jpg"],
           "--formats", "jpg"),
        _c(e, "landscape-formats-empty-item", ["landscape", *f, "--formats", "png,,pdf"],
           "--formats", "png,,pdf"),
        _c(e, "landscape-out-file", ["landscape", *f, "--out", "{file}"], "--out",
           "a-file.txt"),
        _c(e, "landscape-out-empty", ["landscape", *f, "--out", ""], "--out", EMPTY),
        _c(e, "landscape-out-unwritable", ["landscape", *f, "--out", "{ro}/figs"], "--out",
           "figs", needs=("unwritable",)),
        _c(e, "fig1-workers-zero", ["fig1", *f, "--workers", "0"], "--workers", "0"),
        _c(e, "fig1-device-tpu", ["fig1", *f, "--device", "tpu"], "--device", "tpu"),
        _c(e, "fig1-device-cuda-absent", ["fig1", *f, "--device", "cuda"], "--device", "cuda",
           needs=("no-cuda",)),
        # --runs and --claims launch nothing: no plan options (--size) with them
        _c(e, "fig5-runs-missing", ["fig5", "--out", "{out}", "--runs", "{missing}"],
           "--runs", "no-such-path"),
        _c(e, "fig5-runs-empty", ["fig5", "--out", "{out}", "--runs", "{empty_dir}"],
           "--runs", "empty-dir"),
        # issue 20: --claims A --runs B drew from A without a word; --runs ignored --dataset
        _c(e, "fig5-claims-and-runs",
           ["fig5", "--out", "{out}", "--claims", "{empty_dir}", "--runs", "{empty_dir}"],
           ["--claims", "--runs"]),
        _c(e, "fig5-runs-and-dataset",
           ["fig5", "--out", "{out}", "--runs", "{empty_dir}", "--dataset", "digits"],
           ["--runs", "--dataset"]),
        _c(e, "claims-dir-missing", ["claims", "--out", "{out}", "--claims", "{missing}"],
           "--claims", "no-such-path"),
    ]


def _compare() -> list[Case]:
    """``python -m empirics.compare A B`` (DESIGN.md), being written: these cases run once
    ``empirics/compare/__main__.py`` exists and are skipped until then."""
    e = "empirics.compare"
    need = ("compare",)
    return [
        _c(e, "a-missing", ["{missing}", "{b_npy}"], "A", "no-such-path", needs=need),
        _c(e, "b-corrupt", ["{a_npy}", "{broken_npy}"], "B", "broken.npy", needs=need),
        _c(e, "rows-differ", ["{a_npy}", "{short_npy}"], ("A", "B"), "short.npy",
           needs=need),
        _c(e, "one-argument", ["{a_npy}"], "B", needs=need),
        _c(e, "run-member-missing", ["{empty_dir}:cl", "{b_npy}"], "A", "empty-dir",
           needs=need),
        _c(e, "format-unknown", ["{a_npy}", "{b_npy}", "--format", "xml"], "--format", "xml",
           needs=need),
        # layers come from models; a feature file has none to hook
        _c(e, "layers-on-features", ["{a_npy}", "{b_npy}", "--layers", "bogus"], "--layers",
           "a.npy", needs=need),
        _c(e, "out-file", ["{a_npy}", "{b_npy}", "--out", "{file}"], "--out", "a-file.txt",
           needs=need),
    ]


# --- empirics.compare: the entry point being written; see _compare above ------------
COMPARE_CASES: list[Case] = _compare()

CASES: list[Case] = [*_bounds(), *_docs(), *_train(), *_surrogate(), *_sweep(), *_claims(),
                     *_studies(), *_golden(), *_figures(), *COMPARE_CASES]

#: Ordinary requests that must succeed (exit 0, nothing on stderr), through a subprocess.
SUCCESSES: list[Case] = [
    # issue 20: training one objective crashed with pandas' KeyError: 'step'
    Case("empirics.train", "single-objective-cl",
         (*TRAIN_TINY, "--objectives", "cl", "--device", "cpu"), 0, None, (), True),
]
