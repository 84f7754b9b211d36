"""The claims figures (figures/claims.py): the summary from claims.csv, the gallery from the
study's runs, the captions, and python -m figures' handling of --claims."""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from figures import claims as cf  # noqa: E402
from figures.__main__ import main as figures_main  # noqa: E402


def test_summary_of_a_synthetic_table():
    table = pd.DataFrame([
        {"claim": "C1", "setting": "a", "statistic": "s", "estimate": 0.2, "ci_low": 0.1,
         "ci_high": 0.3, "n_seeds": 3, "verdict": "holds", "paper": "+0.37",
         "paper_value": 0.37},
        {"claim": "C1", "setting": "b", "statistic": "s", "estimate": -5.0, "ci_low": -9.0,
         "ci_high": -1.0, "n_seeds": 3, "verdict": "reversed", "paper": "+",
         "paper_value": math.nan},
        {"claim": "C2", "setting": "c", "statistic": "s", "estimate": 1.0,
         "ci_low": math.nan, "ci_high": math.nan, "n_seeds": 1, "verdict": "inconclusive",
         "paper": "+", "paper_value": math.nan},
    ])
    fig = cf.figure_summary(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C1  a", "C1  b", "C2  c"]
    texts = [t.get_text() for t in ax.texts]
    assert any("reversed" in t for t in texts) and any("+0.2 [+0.1, +0.3]" in t for t in texts)
    assert "1 holds, 1 reversed, 1 inconclusive" in fig._suptitle.get_text()
    plt.close(fig)


def test_gallery_from_the_tiny_study(tiny_study):
    study = cf.load_study(tiny_study)
    for name, (build, _claims, _) in cf.CLAIMS_FIGURES.items():
        if build is None or name == "bound-landscape":
            continue
        fig = build(study)
        assert len(fig.axes) >= 1, name
        title = fig._suptitle.get_text()
        verdicts = ("holds", "reversed", "absent", "inconclusive", "unstable")
        if name != "p1-loss-gap":  # its title read the C7 rows that are now theorem checks
            assert any(v in title for v in verdicts), (name, title)
        plt.close(fig)
    text = cf.captions(study, ["fig4-tau", "p1-loss-gap"])
    assert "C3 `tau/h/cka_linear`" in text and "C7 `real/loss_gap`" in text
    assert "paper:" in text


def test_the_study_drew_its_summary(tiny_study):
    assert (tiny_study / "claims.png").stat().st_size > 1000


def test_figures_claims_errors(tmp_path, capsys):
    assert figures_main(["claims", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`--claims DIR`" in err
    assert figures_main(["claims", "--claims", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "claims.csv" in err
    assert figures_main(["bvm", "--claims", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "with `--claims`" in capsys.readouterr().err


def test_one_figure_by_alias_without_torch(tiny_study, tmp_path):
    code = ("import sys; from figures.__main__ import main; "
            f"rc = main(['fig4', '--claims', {str(tiny_study)!r}, '--out', {str(tmp_path)!r}, "
            "'--formats', 'png', '--dpi', '20']); "
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["0", "False"]
    assert (tmp_path / "fig4-tau.png").is_file()


@pytest.mark.parametrize("name", ["list"])
def test_list_names_the_claims_figure(capsys, name):
    assert figures_main([name]) == 0
    assert "claims" in capsys.readouterr().out
