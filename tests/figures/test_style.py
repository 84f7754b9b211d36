"""figures.style: one palette, fixed method colours, vacuous shading, atomic saving."""

import matplotlib.pyplot as plt
import pytest

from figures import style


def test_method_and_pair_colours_are_fixed_and_okabe_ito():
    palette = set(style.OKABE_ITO.values())
    for name in ("cl", "nscl", "scl", "ce", "ntxent"):
        assert style.method_color(name) in palette
    # Methods are pairwise distinct; a pair takes its partner's colour.
    assert len({style.method_color(m) for m in ("cl", "nscl", "scl", "ce", "ntxent")}) == 5
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


# --------------------------------------------------------------------------- registries
def test_the_built_ins_keep_their_colours_and_labels():
    """Read from the objectives registry, the gallery's colours and labels are unchanged."""
    colors = {"cl": "#0072B2", "nscl": "#D55E00", "scl": "#009E73", "ce": "#CC79A7",
              "ntxent": "#56B4E9"}
    labels = {"cl": "CL", "nscl": "NSCL", "scl": "SCL", "ce": "CE", "ntxent": "NT-Xent"}
    for name in colors:
        assert style.method_color(name) == style.objective_color(name) == colors[name]
        assert style.objective_label(name) == labels[name]
    for partner in ("nscl", "scl", "ce", "ntxent"):
        assert style.method_color(f"cl-{partner}") == colors[partner]
    assert style.pair_label("cl-ntxent") == "CL vs NT-Xent"
    assert style.objective_color("not-installed") == "#555555"


def test_measure_labels_ranges_and_directions_come_from_the_registry():
    from empirics.measures import MEASURES

    for m in MEASURES:
        label = style.measure_label(m.name)
        assert label.startswith(m.label)
        assert (style.LOWER_NOTE in label) == (m.direction == "lower")
    fig, axes = plt.subplots(1, 3)
    try:
        for ax, name in zip(axes, ("cka", "rsa", "procrustes"), strict=True):
            ax.plot([0, 1], [0.3, 0.7])
            style.measure_axis(ax, name)
        assert axes[0].get_ylim()[1] == pytest.approx(1.005)  # the aligned end, a bit above 1
        assert axes[1].get_ylim()[1] == pytest.approx(1.005)
        assert axes[2].get_ylim()[0] == 0.0  # lower is aligned: the axis starts at 0
    finally:
        plt.close(fig)
    assert style.measures_in(["step", "rho", "cka", "procrustes"], scores=True) == [
        "cka", "procrustes"]


def test_no_module_of_figures_lists_objective_or_measure_names():
    """Nothing in figures/ lists objective, pair or measure names (a tuple, list, set or dict
    keys of two or more): every such list is read from the registries."""
    import ast
    from pathlib import Path

    from empirics.measures import MEASURES
    from empirics.objectives import OBJECTIVES

    objectives = OBJECTIVES.builtin_names()
    names = {*objectives, *MEASURES.builtin_names(),
             *(f"{a}-{b}" for a in objectives for b in objectives)}
    found = []
    for path in sorted((Path(style.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            items = (node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else
                     node.keys if isinstance(node, ast.Dict) else [])
            hits = [e.value for e in items if isinstance(e, ast.Constant) and e.value in names]
            if len(hits) >= 2:
                found.append(f"{path.name}:{node.lineno} {hits}")
    assert not found, found
