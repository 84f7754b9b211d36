"""docs/bounds.md is generated from the registry and must be up to date; the generator's
command line (``python -m bounds.docs``) prints help, writes, checks, and answers usage
errors with one line and exit status 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from bounds.docs import DOC_PATH, main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "bounds.md"


def test_committed_bounds_doc_is_up_to_date():
    assert DOC_PATH == DOC
    assert DOC.exists(), "run: python -m bounds.docs --write docs/bounds.md"
    assert DOC.read_text() == render(), "regenerate: python -m bounds.docs --write docs/bounds.md"


def test_no_generated_file_collides_with_the_spec_copy_in_case():
    names = [p.name.lower() for p in DOC.parent.iterdir()]
    assert len(names) == len(set(names)), sorted(names)


def test_doc_reports_vacuity_numbers():
    text = render()
    assert "| 100 | 0.5 | 14700 | 8821.2 |" in text and "17.23" in text
    assert "0 (vacuous)" in text and "[stated]" in text and "[open]" in text


def test_write_and_check(tmp_path, capsys):
    out = tmp_path / "sub" / "bounds.md"
    assert main(["--write", str(out)]) == 0
    assert out.read_text() == render()
    assert main(["--check", str(out)]) == 0
    out.write_text(render() + "stale\n")
    assert main(["--check", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of date" in err and str(out) in err


def test_print_by_default(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out == render()


@pytest.mark.parametrize("argv,needle", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--check", "/nonexistent/bounds.md"], "argument --check: cannot read "
                                            "'/nonexistent/bounds.md' (FileNotFoundError)"),
    (["--write", "a.md", "--check"], "Expected one of --write and --check, got both"),
])
def test_usage_errors_are_one_line_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and err.startswith("python -m bounds.docs: ")


def test_write_to_an_unwritable_place_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["--write", str(blocker / "bounds.md")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --write: cannot write" in err


def test_help_prints_help_not_the_document():
    p = subprocess.run([sys.executable, "-m", "bounds.docs", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("usage: python -m bounds.docs")
    assert "# The bounds" not in p.stdout
    for flag in ("--write PATH", "--check [PATH]"):
        assert flag in p.stdout
    assert p.stdout.count("(default") == 2


@pytest.mark.parametrize("argv,needle", [
    (["--check", ""], "argument --check: cannot read '' (IsADirectoryError)"),
    (["--check", "{dir}"], "argument --check: cannot read '{dir}' (IsADirectoryError)"),
    (["--check", "{binary}"], "argument --check: cannot read '{binary}' (UnicodeDecodeError)"),
    (["--write", ""], "argument --write: cannot write ''"),
    (["--write", "{dir}"], "argument --write: cannot write '{dir}' (IsADirectoryError)"),
    (["--check", "{dir}", "--write", "x.md"], "Expected one of --write and --check, got both"),
    (["--check", "a", "b"], "unrecognized arguments: b"),
])
def test_bad_paths_are_one_line_exit_2(argv, needle, tmp_path, capsys):
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00bounds")
    fill = {"dir": str(tmp_path), "binary": str(tmp_path / "binary.md")}
    with pytest.raises(SystemExit) as exc:
        main([a.format(**fill) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("python -m bounds.docs: error: ") and needle.format(**fill) in err


def test_warnings_are_one_line(capsys, monkeypatch):
    """Any warning while the document is made is one stderr line, no source line."""
    import warnings

    import bounds.docs as docs

    def render_warning():
        warnings.warn("something odd", RuntimeWarning, stacklevel=1)
        return "# doc\n"

    monkeypatch.setattr(docs, "render", render_warning)
    assert main([]) == 0
    assert capsys.readouterr().err == "python -m bounds.docs: warning: something odd\n"
