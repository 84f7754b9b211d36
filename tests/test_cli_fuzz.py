"""Every entry point against a table of bad command lines (``tests/cli_cases.py``).

The standard: a usage error exits with status 2 and prints ONE stderr line naming the
argument and the value; no traceback; nothing else on stderr (a warning shown with its
source line is a leak); nothing written into the output folder or the working folder.

Each case runs in this process through the entry module's ``main(argv)`` (``python -m X``
runs ``X.main``, or ``X/__main__.py``'s), with warnings in their default state and printed
to the real stderr as Python prints them, and stderr captured at the file-descriptor
level. A few cases, and an ordinary single-objective training run that must succeed, also
run through a real ``python -m`` subprocess.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.util
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_cli_fuzz_cases", _HERE / "cli_cases.py")
cli_cases = sys.modules.setdefault("_cli_fuzz_cases", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(cli_cases)
CASES, SUCCESSES, Case = cli_cases.CASES, cli_cases.SUCCESSES, cli_cases.Case

ROOT = _HERE.parent
#: One case may not take longer than this in-process (a wrongly accepted command that
#: starts real work is stopped here and reported, instead of stalling the suite).
CASE_SECONDS = 10
SUBPROCESS_SECONDS = 30


class CaseTimeout(BaseException):
    """Raised by the alarm: not an ``Exception``, so no handler of the code catches it."""


# ----------------------------------------------------------------------------- inputs
def _unwritable(tmp: Path) -> str | None:
    """A folder this user cannot write into, or None. A chmod-ed folder for a normal user;
    root ignores modes, so for root ``/sys`` (where creating a folder is refused)."""
    ro = tmp / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    if not os.access(ro, os.W_OK):
        return str(ro)
    probe = Path("/sys") / "cl-nscl-align-fuzz-probe"
    try:
        probe.mkdir()
    except PermissionError:
        return "/sys"
    except OSError:
        return None
    probe.rmdir()
    return None


@pytest.fixture
def paths(tmp_path):
    """The files and folders the placeholders of ``cli_cases`` name."""
    p = {"cwd": tmp_path / "cwd", "out": tmp_path / "out", "missing": tmp_path / "no-such-path",
         "file": tmp_path / "a-file.txt", "empty_dir": tmp_path / "empty-dir",
         "broken_toml": tmp_path / "broken.toml", "empty_toml": tmp_path / "empty.toml",
         "unknown_toml": tmp_path / "unknown-key.toml", "broken_json": tmp_path / "broken.json",
         "broken_npy": tmp_path / "broken.npy", "a_npy": tmp_path / "a.npy",
         "b_npy": tmp_path / "b.npy", "short_npy": tmp_path / "short.npy",
         "tiny_toml": tmp_path / "tiny-train.toml"}
    p["cwd"].mkdir()
    p["empty_dir"].mkdir()
    p["file"].write_text("not a folder\n")
    p["broken_toml"].write_text("tau = = 1\n[[train\n")
    p["empty_toml"].write_text("")
    p["unknown_toml"].write_text("no_such_field = 1\n")
    p["broken_json"].write_text("{not json")
    p["broken_npy"].write_bytes(b"not an npy file\n")
    rng = np.random.default_rng(0)
    np.save(p["a_npy"], rng.standard_normal((8, 4)))
    np.save(p["b_npy"], rng.standard_normal((8, 4)))
    np.save(p["short_npy"], rng.standard_normal((6, 4)))
    p["tiny_toml"].write_text(
        "classes = 2\ntrain_size = 64\ntest_size = 32\nreference_size = 16\n"
        "batch_size = 16\nsteps = 2\neval_every = 1\ncheckpoint_every = 1\n"
        "feature_dim = 8\nproj_dim = 8\n")
    out = {k: str(v) for k, v in p.items()}
    out["ro"] = _unwritable(tmp_path)
    yield out
    (tmp_path / "read-only").chmod(0o755)


def _fill(argv: tuple[str, ...], paths: dict[str, str | None]) -> list[str]:
    return [re.sub(r"\{(\w+)\}", lambda m: paths[m.group(1)], a) for a in argv]


def _skip_unless_possible(case: Case, paths: dict[str, str | None]) -> None:
    if "compare" in case.needs and not (ROOT / "empirics" / "compare" / "__main__.py").exists():
        pytest.skip("empirics/compare/__main__.py does not exist yet")
    if "unwritable" in case.needs and paths["ro"] is None:
        pytest.skip("no folder this user cannot write")
    if "no-cuda" in case.needs:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is present: --device cuda is an ordinary request here")


# ----------------------------------------------------------------------------- running
def _entry_module(entry: str):
    """The module ``python -m entry`` runs: ``entry`` itself, or its ``__main__``."""
    spec = importlib.util.find_spec(entry)
    name = f"{entry}.__main__" if spec.submodule_search_locations is not None else entry
    return importlib.import_module(name)


def _status(code) -> int:
    """The exit status Python gives ``SystemExit(code)`` (a text is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Python's own display (``file:line: Category: text`` and the source line), looked up
    on the stderr of the moment: pytest's own recording would otherwise hide the leak."""
    (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno,
                                                      line))


@contextlib.contextmanager
def _alarm(seconds: int):
    def ring(signum, frame):
        raise CaseTimeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(entry: str, argv: list[str]) -> int:
    """``python -m entry *argv`` in this process; the exit status."""
    module = _entry_module(entry)
    main = getattr(module, "main", None)
    with warnings.catch_warnings(), _alarm(CASE_SECONDS):
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            if main is not None:
                code = main(argv)
            else:  # an entry module without main(): run it as python -m would
                saved = sys.argv
                sys.argv = [entry, *argv]
                try:
                    runpy.run_module(module.__name__, run_name="__main__")
                finally:
                    sys.argv = saved
                code = 0
        except SystemExit as exc:
            code = exc.code
        except CaseTimeout:
            raise
        except BaseException:  # what python -m would do: the traceback, exit status 1
            traceback.print_exc()
            code = 1
    return _status(code)


# ----------------------------------------------------------------------------- checks
def _entries(folder: str) -> list[str]:
    p = Path(folder)
    return sorted(str(q.relative_to(p)) for q in p.rglob("*")) if p.exists() else []


def problems(case: Case, status: int, err: str, paths: dict[str, str | None]) -> list[str]:
    """What the outcome breaks of the standard (empty when it meets it)."""
    found = []
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if status != case.status:
        found.append(f"exit status {status}, expected {case.status}")
    if "Traceback" in err:
        found.append("a traceback on stderr")
    if case.pattern is None:
        if lines:
            found.append(f"{len(lines)} stderr line(s), expected none")
    elif len(lines) != 1:
        found.append(f"{len(lines)} stderr lines, expected one")
    elif not re.search(case.pattern, lines[0]):
        found.append("the stderr line does not name the argument and the value "
                     f"(regex {case.pattern})")
    if case.status != 0 and _entries(paths["out"]):
        found.append(f"a refused command wrote into the output folder: "
                     f"{_entries(paths['out'])[:5]}")
    if _entries(paths["cwd"]):
        found.append(f"wrote into the working folder: {_entries(paths['cwd'])[:5]}")
    return found


def _report(case: Case, argv: list[str], status: int, err: str, seconds: float,
            found: list[str]) -> str:
    shown = "\n".join(f"    | {ln}" for ln in err.rstrip("\n").splitlines()[-12:])
    return (f"python -m {case.entry} {' '.join(repr(a) if not a or ' ' in a else a for a in argv)}"
            f"\n  exit {status} after {seconds:.1f} s; " + "; ".join(found)
            + f"\n  stderr:\n{shown or '    | (empty)'}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_command_line_is_one_line(case, paths, capfd, monkeypatch):
    """In-process: exit status, one stderr line naming argument and value, nothing else."""
    _skip_unless_possible(case, paths)
    argv = _fill(case.argv, paths)
    monkeypatch.chdir(paths["cwd"])
    capfd.readouterr()
    t0 = time.perf_counter()
    try:
        status = run_in_process(case.entry, argv)
    except CaseTimeout as exc:
        status = -1
        print(f"(the test stopped the command: {exc})", file=sys.stderr)
    seconds = time.perf_counter() - t0
    _out, err = capfd.readouterr()
    found = problems(case, status, err, paths)
    assert not found, _report(case, argv, status, err, seconds, found)


def _python_m(entry: str, argv: list[str], cwd: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", entry, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=SUBPROCESS_SECONDS,
                          check=False)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.subprocess] + SUCCESSES,
                         ids=lambda c: c.id)
def test_real_entry_point(case, paths):
    """Through ``python -m``: the real entry point, its warnings filter and exit path."""
    _skip_unless_possible(case, paths)
    argv = _fill(case.argv, paths)
    t0 = time.perf_counter()
    try:
        proc = _python_m(case.entry, argv, paths["cwd"])
        status, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        status = -1
        err = (exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes)
               else exc.stderr or "") + f"(the test stopped the command after {exc.timeout} s)\n"
    seconds = time.perf_counter() - t0
    found = problems(case, status, err, paths)
    assert not found, _report(case, argv, status, err, seconds, found)
    if case.status == 0 and case.entry == "empirics.train":  # one objective: no pair
        run = Path(paths["out"])
        summary = json.loads((run / "summary.json").read_text())
        assert summary["objectives"] == ["cl"] and summary["alignment"] == {}, summary
        with open(run / "metrics.csv", newline="") as handle:
            reader = csv.DictReader(handle)
            assert "step" in reader.fieldnames and "pair" in reader.fieldnames
            assert list(reader) == []  # no pair rows
        with open(run / "losses.csv", newline="") as handle:
            models = {r["model"] for r in csv.DictReader(handle)}
        assert models == {"cl"}, models


def test_table_covers_every_entry_point():
    """Every ``python -m`` entry point of the packages has cases, and every case's
    expected line names an argument (the regex is not a catch-all)."""
    found = set()
    for pkg in ("bounds", "empirics", "figures"):
        for path in (ROOT / pkg).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if 'if __name__ == "__main__"' not in text:
                continue
            mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.add(mod.removesuffix(".__main__"))
    covered = {c.entry for c in CASES}
    assert found - covered == set(), f"entry points without cases: {sorted(found - covered)}"
    for c in CASES:
        assert c.status == 0 or c.pattern, c.id
        if c.pattern:
            assert not re.search(c.pattern, "python -m x: error: something went wrong"), c.id
    studies = {c.argv[0] for c in CASES if c.entry == "empirics.studies" and c.argv}
    from empirics.studies.cli import STUDIES

    assert set(STUDIES) <= studies, f"studies without cases: {set(STUDIES) - studies}"
