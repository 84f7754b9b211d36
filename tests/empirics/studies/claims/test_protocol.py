"""The committed protocols load, meet their sizes' seed counts, and reject bad settings."""

from __future__ import annotations

import pytest

from empirics.studies.claims.protocol import (
    CLAIMS,
    PROTOCOL_DIR,
    SIZES,
    Protocol,
    load_protocol,
    read_protocol_file,
)


@pytest.mark.parametrize("size", SIZES)
def test_every_committed_protocol_loads(size):
    p = load_protocol(size, data_root="/nowhere")
    assert p.name == size and set(p.claims) == set(CLAIMS)
    assert p.interval == "t" and p.level == 0.95


def test_seed_counts_of_the_sizes():
    assert load_protocol("quick").seeds >= 3
    assert load_protocol("medium").seeds >= 5
    assert load_protocol("full").seeds >= 5


@pytest.mark.parametrize("size", ["quick", "medium", "full"])
def test_protocol_files_state_the_rule_and_that_they_are_fixed(size):
    text = (PROTOCOL_DIR / f"{size}.toml").read_text()
    for words in ("Verdict rule", "holds", "reversed", "inconclusive", "before any result"):
        assert words in text


def test_real_data_where_C_is_at_most_10_and_synthetic_up_to_1000():
    for size in ("quick", "medium", "full"):
        p = load_protocol(size)
        assert p.dataset in ("digits", "mnist") and max(p.ints("c2_real_classes")) <= 10
        assert max(p.ints("c2_synthetic_classes")) == 1000
        assert p.floats("c3_taus")[0] == 0.1 and 1.0 in p.floats("c3_taus")
        assert set(p.c4_rules) == {"linear", "sqrt", "fourth-root"}


def test_grids_accept_numbers_and_comma_text():
    a = Protocol.from_dict({"c3_taus": [0.1, 0.5, 1]})
    b = Protocol.from_dict({"c3_taus": "0.1,0.5,1"})
    assert a.floats("c3_taus") == b.floats("c3_taus") == (0.1, 0.5, 1.0)
    assert Protocol.from_dict(a.to_file_dict()) == a


@pytest.mark.parametrize("change,match", [
    ({"tau_grid": [1]}, "unknown key"),
    ({"seeds": 1}, "`seeds` >= 2"),
    ({"c2_real_classes": [2, 20]}, "<= 10"),
    ({"c2_real_classes": [2, 2.5]}, "an int"),
    ({"c2_real_classes": [5]}, "at least two"),
    ({"c3_taus": [0.5, 0.5]}, "distinct"),
    ({"c4_batch_sizes": [32, 128]}, "base `batch_size`"),
    ({"c4_rules": ["sqrt", "fourth-root"]}, "'linear'"),
    ({"c5_steps": 100}, "`c5_steps` > `steps`"),
    ({"dataset": "cifar10"}, "`data_root`"),
    ({"c2_synthetic_classes": [10, 5000]}, "synthetic_train_size"),
    ({"interval": "z"}, "`interval` among"),
])
def test_bad_protocols_are_one_sentence_errors(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
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
    with pytest.raises(ValueError, match="size"):
        load_protocol("huge")


def test_tables_flatten_to_prefixed_fields(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('name = "mine"\nseeds = 4\n[c3]\ntaus = [0.2, 2.0]\n[synthetic]\n'
                 'train_size = 2048\n')
    p = load_protocol(file=f)
    assert (p.name, p.seeds, p.floats("c3_taus"), p.synthetic_train_size) == \
        ("mine", 4, (0.2, 2.0), 2048)
