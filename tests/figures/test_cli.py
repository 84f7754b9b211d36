"""python -m figures: every figure from cached fixture runs, usage errors, listing."""

import subprocess
import sys

import pytest

from figures import __main__ as cli


def test_all_from_cache(fixture_cache, tmp_path, capsys):
    rc = cli.main(["all", "--size", "tiny", "--cache", str(fixture_cache), "--no-run",
                   "--out", str(tmp_path), "--formats", "png", "--dpi", "30"])
    assert rc == 0
    for name in cli.FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert "done in" in capsys.readouterr().out


def test_one_figure_by_alias_png_and_pdf(fixture_cache, tmp_path):
    rc = cli.main(["p1", "--size", "tiny", "--cache", str(fixture_cache), "--no-run",
                   "--out", str(tmp_path), "--dpi", "30"])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1-loss-gap.pdf",
                                                          "p1-loss-gap.png"]


def test_missing_run_with_no_run_fails(tmp_path, capsys):
    rc = cli.main(["fig1", "--size", "tiny", "--no-run", "--out", str(tmp_path)])
    assert rc == 1
    assert "cached run" in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [
    (["fig9"], "'fig9'"),
    (["all", "--formats", "gif"], "'gif'"),
    (["all", "--workers", "0"], "--workers"),
    (["all", "--size", "huge"], "huge"),
])
def test_usage_errors(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.FIGURES)


def test_module_entry_point_usage_error():
    r = subprocess.run([sys.executable, "-m", "figures", "nope"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "'nope'" in r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr


def test_runs_from_sweep_folder(fixture_cache, tiny_plan, tmp_path):
    """--runs reads a sweep's results.csv (run_dir column; failed rows skipped)."""
    import pandas as pd

    from figures import runs

    rows = [{"name": s.key(), "status": "ok", "run_dir": str(runs.run_path(fixture_cache, s))}
            for s in tiny_plan.classes]
    rows.append({"name": "bad", "status": "failed", "run_dir": str(tmp_path / "nowhere")})
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pd.DataFrame(rows).to_csv(sweep / "results.csv", index=False)
    out = tmp_path / "out"
    rc = cli.main(["fig3", "--runs", str(sweep), "--out", str(out), "--formats", "png",
                   "--dpi", "30"])
    assert rc == 0 and (out / "fig3-classes.png").exists()
    # A folder without surrogate runs cannot draw the surrogate panel: exit 1, no traceback.
    assert cli.main(["bvm", "--runs", str(sweep), "--out", str(out)]) == 1
