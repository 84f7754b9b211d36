"""``--classes none`` means every class of the data set (issue 20).

Before, ``none`` was read as "flag not given" and the default 10 stayed: an image folder
of 12 classes trained on 10 of them, and one of 3 classes failed on a value the user
never gave.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from empirics.training.cli import build_parser, config_from_args, main

TINY = [
    "--dataset", "imagefolder", "--train-size", "24", "--test-size", "6",
    "--reference-size", "12", "--batch-size", "12", "--steps", "2", "--warmup-steps", "0",
    "--eval-every", "2", "--width", "2", "--feature-dim", "8", "--proj-dim", "4",
    "--objectives", "cl,nscl", "--device", "cpu", "--no-progress",
]  # fmt: skip


def _folder(root, classes: int, per_class: int = 10):
    from PIL import Image

    rng = np.random.default_rng(classes)
    for c in range(classes):
        d = root / f"class{c:02d}"
        d.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(d / f"{i}.png")
    return root


@pytest.mark.parametrize("classes", [12, 3])
def test_classes_none_trains_on_every_class_of_an_image_folder(classes, tmp_path, capsys):
    root = _folder(tmp_path / "data", classes)
    out = tmp_path / "run"
    assert main([*TINY, "--data-root", str(root), "--classes", "none", "--out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["C"] == classes
    assert json.loads((out / "config.json").read_text())["classes"] is None


def test_the_default_on_a_smaller_folder_says_it_is_the_default(tmp_path, capsys):
    root = _folder(tmp_path / "data", 3)
    assert main([*TINY, "--data-root", str(root), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "`classes` <= 3" in err and "none = all of them" in err
    assert "got 10 (the default)" in err


def test_none_given_overrides_a_saved_or_toml_value(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('dataset = "digits"\nclasses = 5\n', encoding="utf-8")
    args = build_parser().parse_args(["--config", str(toml), "--classes", "none"])
    assert config_from_args(args).classes is None
    args = build_parser().parse_args(["--config", str(toml)])
    assert config_from_args(args).classes == 5
