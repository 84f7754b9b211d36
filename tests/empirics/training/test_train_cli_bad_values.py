"""``python -m empirics.train`` walked with a table of bad values for every flag (issue 20).

Each bad value: exit status 2, one stderr line ``python -m empirics.train: error: ...``
naming the argument and the value, no traceback, nothing written. Runs in process
(``main(argv)``); a base of tiny sizes and ``--stop-after 1`` makes a value wrongly
accepted end at once with status 3 instead of training.
"""

from __future__ import annotations

import dataclasses

import pytest

from empirics.training.cli import PROG, main
from empirics.training.config import TrainConfig

BASE = [
    "--classes", "3", "--train-size", "48", "--test-size", "24", "--reference-size", "12",
    "--batch-size", "12", "--steps", "4", "--warmup-steps", "0", "--eval-every", "2",
    "--feature-dim", "8", "--proj-dim", "4", "--objectives", "cl,nscl", "--device", "cpu",
    "--no-progress", "--stop-after", "1",
]  # fmt: skip
HUGE = "1000000000000"

#: ``(flag, value)``: bad values of every numeric flag, by kind.
NUMERIC = {
    "--classes": ["-1", "1", "nan", "abc", ""],
    "--train-size": ["0", HUGE],
    "--test-size": ["-1", HUGE],
    "--difficulty": ["-1", "nan", "inf", "1e308"],
    "--image-size": ["2", "100000"],
    "--reference-size": ["1", HUGE],
    "--feature-dim": ["0", "1000000000"],
    "--width": ["0", "1000000000"],
    "--proj-dim": ["-1", "1000000000"],
    "--views": ["1", "1000000"],
    "--tau": ["-1", "0", "nan", "inf", "abc", ""],
    "--batch-size": ["1", "0"],
    "--steps": ["0", HUGE],
    "--epochs": ["-1", HUGE],
    "--lr": ["0", "nan", "1e308"],
    "--warmup-steps": ["-1", "4"],
    "--momentum": ["1", "-0.5", "nan"],
    "--weight-decay": ["-1", "1e308"],
    "--lars-trust": ["0", "inf"],
    "--eval-every": ["0"],
    "--delta": ["0", "1", "nan"],
    "--linearization-every": ["-1", "3"],
    "--linearization-size": ["1"],
    "--checkpoint-every": ["0"],
    "--seed": ["-1", "abc"],
    "--threads": ["-1", "100000"],
}
#: Unknown choices, empty strings and paths.
TEXT = {
    "--dataset": ["nope", ""], "--arch": ["nope"], "--optimizer": ["adam"],
    "--lr-rule": ["cubic"], "--schedule": ["step"], "--schedule-unit": ["month"],
    "--eval-features": ["x"], "--probe": ["svm"], "--loss-gap-form": ["loose"],
    "--pairs": ["some"], "--augment": ["crop"], "--backend": ["jax"], "--device": ["tpu"],
    "--prototypes": ["simplex"],
    "--objectives": ["byol"], "--out": ["", " "], "--data-root": [""],
    "--stop-after": ["0", "abc"], "--config": ["", "missing.toml"],
    "--resume": ["", "missing-run"],
}  # fmt: skip
#: Values the message does not repeat, and conflicting flags: ``(argv, needles)``.
SPECIAL = [
    (["--lr=-inf"], ["`lr`", "-inf"]),  # argparse reads a bare -inf as an option
    (["--objectives", ""], ["`objectives`", "()"]),  # the parsed (empty) list
    (["--objectives", "cl,cl"], ["`objectives`", "('cl', 'cl')"]),
    (["--objectives", "cl,,nscl"], ["`objectives`", "'cl,,nscl'"]),  # not dropped
    (["--objectives", "cl,nscl,"], ["`objectives`", "'cl,nscl,'"]),
    (["--config", "{broken}"], ["`--config`", "broken.toml", "valid TOML"]),
    (["--config", "{folder}"], ["`--config`", "the folder"]),
    (["--steps", "none"], ["`steps`", "`epochs`"]),
    (["--classes", "none"], ["`classes`", "None"]),  # synthetic needs a number
    (["--dataset", "cifar10"], ["`data_root`", "'cifar10'"]),
    (["--dataset", "digits", "--classes", "12"], ["`classes` <= 10", "12"]),
    (["--batch-size", "100"], ["`batch_size`", "100"]),  # > the 48 training samples
    (["--linearization-every", "2", "--objectives", "scl"], ["`objectives`", "scl"]),
    (["--epochs", "2", "--schedule-unit", "epoch", "--warmup-steps", "1"],
     ["`warmup_steps`", "1"]),
    (["--resume", "a", "--out", "b"], ["--resume", "'a'", "'b'"]),
    (["--nope", "1"], ["unrecognized arguments: --nope 1"]),
    (["--deterministic=yes"], ["--deterministic", "yes"]),
]


def _cases():
    for table in (NUMERIC, TEXT):
        for flag, values in table.items():
            for value in values:
                field = flag[2:].replace("-", "_")
                name = f"`{field}`" if flag not in ("--stop-after", "--config", "--resume") \
                    else flag
                shown = {"": "''", " ": "' '"}.get(value, value)
                if value == "1e308":  # a float's value as Python writes it
                    shown = repr(float(value))
                yield pytest.param([flag, value], [name, shown], id=f"{flag}={value!r}")
    for argv, needles in SPECIAL:
        yield pytest.param(argv, needles, id=" ".join(argv))


def _flags_walked() -> set[str]:
    flags = set(NUMERIC) | set(TEXT)
    for argv, _ in SPECIAL:
        flags |= {a.split("=")[0] for a in argv if a.startswith("--")}
    return flags


def test_every_valued_flag_is_walked():
    """Each field of TrainConfig with a value (booleans aside) has bad values above."""
    import typing

    hints = typing.get_type_hints(TrainConfig)
    valued = {"--" + f.name.replace("_", "-") for f in dataclasses.fields(TrainConfig)
              if hints[f.name] is not bool}
    assert valued - _flags_walked() == set()


@pytest.mark.parametrize(("argv", "needles"), list(_cases()))
def test_a_bad_value_is_one_line_exit_2(argv, needles, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --out '' or --resume '' must not write here either
    (tmp_path / "broken.toml").write_text("tau = [oops\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    argv = [a.format(broken=tmp_path / "broken.toml", folder=tmp_path / "folder")
            for a in argv]
    full = [*BASE, "--out", str(tmp_path / "run"), *argv]
    try:
        code = main(full)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: error: "), err
    assert "Traceback" not in err and captured.out == ""
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "run" / "config.json").exists()
    assert not (tmp_path / "config.json").exists()


def test_an_empty_item_of_objectives_is_refused_in_the_api_too():
    with pytest.raises(ValueError, match="without empty items, got 'cl,,nscl'"):
        TrainConfig(objectives="cl,,nscl")
