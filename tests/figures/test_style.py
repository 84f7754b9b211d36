"""figures.style: one palette, fixed method colours, vacuous shading, atomic saving."""

import matplotlib.pyplot as plt
import pytest

from figures import style


def test_method_and_pair_colours_are_fixed_and_okabe_ito():
    palette = set(style.OKABE_ITO.values())
    for name in ("cl", "nscl", "scl", "ce", "ntxent"):
        assert style.method_color(name) in palette
    # Methods are pairwise distinct; a pair takes its partner's colour.
    assert len({style.METHOD_COLORS[m] for m in style.METHOD_COLORS}) == 5
    assert style.method_color("cl-nscl") == style.method_color("nscl")
    assert style.method_color("cl-ce") == style.method_color("ce")


def test_method_color_rejects_unknown():
    with pytest.raises(ValueError, match="got 'foo'"):
        style.method_color("foo")


def test_pair_label():
    assert style.pair_label("cl-nscl") == "CL vs NSCL"
    with pytest.raises(ValueError, match="'clnscl'"):
        style.pair_label("clnscl")


def test_sequential_colors_count_and_order():
    cols = style.sequential_colors(4)
    assert len(cols) == 4 and len(set(cols)) == 4
    assert len(style.sequential_colors(1)) == 1


def test_shade_vacuous_contiguous_runs():
    fig, ax = plt.subplots()
    assert not style.shade_vacuous(ax, [1, 2, 3], [False, False, False])
    assert style.shade_vacuous(ax, [1, 2, 4, 8, 16], [True, True, False, True, True])
    assert len(ax.patches) == 2  # two contiguous vacuous ranges
    labels = [p.get_label() for p in ax.patches]
    assert labels.count("bound vacuous") == 1
    plt.close(fig)


def test_save_writes_each_format_and_closes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = style.save(fig, tmp_path / "sub", "x", formats=("png", "pdf", "svg"))
    assert [p.name for p in paths] == ["x.png", "x.pdf", "x.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert not any(p.name.startswith(".") for p in (tmp_path / "sub").iterdir())
    assert not plt.fignum_exists(fig.number)


def test_save_honours_the_umask(tmp_path):
    import os
    import stat

    fig, _ = plt.subplots()
    old = os.umask(0o027)
    try:
        (path,) = style.save(fig, tmp_path, "x", formats=("png",))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_save_into_a_file_raises_and_closes(tmp_path):
    (tmp_path / "f").write_text("")
    fig, _ = plt.subplots()
    with pytest.raises(OSError, match="f"):
        style.save(fig, tmp_path / "f", "x", formats=("png",))
    assert not plt.fignum_exists(fig.number)
