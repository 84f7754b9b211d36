"""The committed protocols load, are the committed bytes, meet their sizes' seed counts, and
reject bad settings in one sentence."""

from __future__ import annotations

import pytest

from empirics.studies.claims.protocol import (
    CLAIMS,
    COMMITTED_SHA256,
    PROTOCOL_DIR,
    SIZES,
    Protocol,
    file_sha256,
    load_protocol,
    protocol_state,
    read_protocol_file,
)


@pytest.mark.parametrize("size", SIZES)
def test_every_committed_protocol_loads(size):
    p = load_protocol(size)
    assert p.name == size and set(p.claims) == set(CLAIMS) and p.level == 0.95
    assert p.seeds >= 4


@pytest.mark.parametrize("size", SIZES)
def test_the_committed_hashes_are_the_files(size):
    # a protocol is changed only together with COMMITTED_SHA256 (a deliberate act)
    path = PROTOCOL_DIR / f"{size}.toml"
    assert file_sha256(path) == COMMITTED_SHA256[size]
    assert protocol_state(path) == f"the committed {size} protocol"


def test_protocol_state_without_git(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_bytes((PROTOCOL_DIR / "quick.toml").read_bytes())
    assert protocol_state(mine) == "the committed quick protocol"  # the same bytes
    mine.write_text('name = "mine"\n')
    assert protocol_state(mine) == "a protocol of the user"


@pytest.mark.parametrize("size", ["quick", "medium", "full"])
def test_protocol_files_state_the_rule_and_that_they_are_fixed(size):
    text = (PROTOCOL_DIR / f"{size}.toml").read_text()
    for words in ("Verdict rule" if size == "quick" else "verdict rule", "before any result",
                  "Primaries" if size != "full" else "Primaries, verdict rule"):
        assert words.lower() in text.lower()


def test_c2_is_synthetic_with_fixed_samples_per_class_and_two_ends():
    for size in ("quick", "medium"):
        p = load_protocol(size)
        assert p.base("dataset") == "digits" and p.ints("c2_synthetic_classes") == (10, 1000)
        assert p.c2_train_per_class >= 32 and "epochs" in p.c4_budgets
    full = load_protocol("full")
    assert full.train["image_size"] == 32 and full.train["train_size"] == 50000
    assert full.train["arch"] == "resnet18" and max(full.ints("c4_batch_sizes")) == 1024


def test_the_base_run_is_a_train_table():
    p = load_protocol("quick")
    assert p.train["tau"] == 0.5 and p.base("tau") == 0.5
    assert p.base("momentum") == 0.9  # not in [train]: TrainConfig's default


def test_data_root_switches_the_full_base_run_to_cifar(tmp_path):
    p = load_protocol("full", data_root=str(tmp_path))
    assert p.train["dataset"] == "cifar10" and "image_size" not in p.train
    assert p.train["data_root"] == str(tmp_path)
    with pytest.raises(ValueError, match="no `--data-root` for protocol 'quick'"):
        load_protocol("quick", data_root=str(tmp_path))


def test_grids_accept_numbers_and_comma_text():
    a = Protocol.from_dict({"c3_taus": [0.1, 0.5, 1]})
    b = Protocol.from_dict({"c3_taus": "0.1,0.5,1"})
    assert a.floats("c3_taus") == b.floats("c3_taus") == (0.1, 0.5, 1.0)
    assert Protocol.from_dict(a.to_file_dict()) == a


@pytest.mark.parametrize("change,match", [
    ({"tau_grid": [1]}, "unknown key"),
    ({"seeds": 3}, "`seeds` >= 4"),
    ({"c2_real_classes": [2, 20]}, "<= 10"),
    ({"c2_real_classes": [2, 2.5]}, "an int"),
    ({"c2_real_classes": [5]}, "none or at least two"),
    ({"c2_synthetic_classes": [10]}, "at least two"),
    ({"c3_taus": [0.5, 0.5]}, "distinct"),
    ({"c4_rules": ["sqrt"]}, "'linear'"),
    ({"c4_budgets": ["steps"]}, "'epochs'"),
    ({"c5_steps": 100}, "`c5_steps` > `steps`"),
    ({"c5_steps": 2050}, "multiple of `c5_eval_every`"),
    ({"train": {"dataset": "cifar10"}}, "`data_root`"),
    ({"train": {"no_such_field": 1}}, r"\[train\]"),
    ({"train": {"seed": 3}}, "the study sets"),
    ({"synthetic": {"objectives": ["cl"]}}, "the study sets"),
])
def test_bad_protocols_are_one_sentence_errors(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        p = load_protocol("quick")
        if "train" in change or "synthetic" in change:
            p.replace(**{k: {**getattr(p, k), **v} for k, v in change.items()})
        else:
            load_protocol("quick", **change)


def test_protocol_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="protocol file"):
        load_protocol(file=tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[c2]\n[c2.inner]\nx = 1\n")
    with pytest.raises(ValueError, match="one level of tables"):
        read_protocol_file(bad)
    bad.write_text("seeds = \n")
    with pytest.raises(ValueError, match="valid TOML"):
        read_protocol_file(bad)
    bad.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="empty file"):
        load_protocol(file=bad)
    with pytest.raises(ValueError, match="size"):
        load_protocol("huge")


def test_tables_flatten_to_prefixed_fields(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('name = "mine"\nseeds = 6\n[c3]\ntaus = [0.2, 2.0]\n[c2]\n'
                 'train_per_class = 16\n[train]\nsteps = 100\n')
    p = load_protocol(file=f)
    assert (p.name, p.seeds, p.floats("c3_taus"), p.c2_train_per_class, p.base("steps")) == \
        ("mine", 6, (0.2, 2.0), 16, 100)
