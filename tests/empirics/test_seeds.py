"""The one seed splitter: pure, independent across purposes and keys, stable forever."""

import numpy as np
import pytest

from empirics.seeds import PURPOSES, derive_seed, rng, seed_sequence, torch_generator


def test_same_arguments_same_stream_and_different_ones_differ():
    assert derive_seed(3, "batch", 7) == derive_seed(3, "batch", 7)
    seeds = {derive_seed(r, p, *k) for r in (0, 1) for p in PURPOSES
             for k in ((), (0,), (1,), ("test",))}
    assert len(seeds) == 2 * len(PURPOSES) * 4
    assert 0 <= derive_seed(0, "init") < 2**63


def test_ids_are_unique_and_pinned():
    assert len(set(PURPOSES.values())) == len(PURPOSES)
    # pinned: these values decide every published number
    assert derive_seed(0, "batch", 0) == 8897364151550420695
    assert derive_seed(12, "augment", 5) == derive_seed(12, "augment", 5)


def test_surrogate_streams_equal_the_spawn_children_it_used_before():
    for root in (0, 5, 123):
        children = np.random.SeedSequence(root).spawn(3)
        for i, purpose in enumerate(("labels", "init", "batch")):
            old = np.random.default_rng(children[i]).standard_normal(4)
            assert np.array_equal(rng(root, purpose).standard_normal(4), old)


def test_string_keys_are_stable_across_processes():
    import subprocess
    import sys

    code = "from empirics.seeds import derive_seed; print(derive_seed(1, 'reference', 'test'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert int(out) == derive_seed(1, "reference", "test")


def test_torch_generator_matches_the_integer_seed():
    import torch

    a = torch.randn(3, generator=torch_generator(4, "init"))
    b = torch.randn(3, generator=torch.Generator().manual_seed(derive_seed(4, "init")))
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [(-1, "init"), (1.5, "init"), (True, "init"), (0, "nope")])
def test_bad_root_or_purpose_is_named(bad):
    with pytest.raises(ValueError, match="root|purpose"):
        seed_sequence(*bad)


def test_bad_key_is_named():
    with pytest.raises(ValueError, match="seed keys"):
        derive_seed(0, "batch", -3)
