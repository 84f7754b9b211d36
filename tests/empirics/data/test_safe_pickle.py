"""The data-only unpickler: reads what CIFAR's format holds, refuses anything that could run."""

import importlib
import io
import operator
import os
import pickle
import subprocess

import numpy as np
import pytest

from empirics.data.safe_pickle import SafeUnpickler, UnsafePickleError, load_data_pickle

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _loads(blob: bytes):
    return SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()


class Payload:
    """Pickles as "call ``func(*args)`` on load": what a planted file would do."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_data_of_the_format_round_trips(protocol):
    data = {b"batch_label": b"training batch 1 of 5", "str": "caf\u00e9",
            b"labels": [0, 9, 3], b"filenames": [b"a.png", b"b.png"], b"n": 10**20,
            b"f": 0.5, b"none": None, b"t": (True, False),
            b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
            b"fortran": np.asfortranarray(np.ones((2, 3), np.float32)),
            b"scalars": [np.int64(7), np.float32(1.5)],
            b"objects": np.array([1, "a", None], dtype=object)}
    got = _loads(pickle.dumps(data, protocol=protocol))
    assert got.keys() == data.keys()
    for k, v in data.items():
        if isinstance(v, np.ndarray):
            assert got[k].dtype == v.dtype and np.array_equal(got[k], v)
        else:
            assert got[k] == v


PAYLOADS = {
    "os.system": lambda m: Payload(os.system, f"touch {m}"),
    "subprocess.call": lambda m: Payload(subprocess.call, ["touch", str(m)]),
    "eval": lambda m: Payload(eval, f"open({str(m)!r}, 'w')"),
    "exec": lambda m: Payload(exec, f"open({str(m)!r}, 'w')"),
    "import then call": lambda m: Payload(operator.methodcaller("system", f"touch {m}"),
                                          Payload(importlib.import_module, "os")),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_a_planted_payload_never_runs(tmp_path, protocol, payload):
    marker = tmp_path / "ran"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": PAYLOADS[payload](marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=(
            rf"^Expected only data \(dicts, lists, bytes, str, numbers, numpy arrays\) in the "
            rf"CIFAR file '{path}', got the global '[\w.]+'; refusing to load it$")):
        load_data_pickle(path, what="CIFAR file")
    assert not marker.exists()
    if payload == "os.system":  # the plain unpickler does run it: the payload is real
        with open(path, "rb") as f:
            pickle.load(f)
        assert marker.exists()


def test_refusal_is_a_value_error_and_names_the_global():
    blob = pickle.dumps(Payload(os.system, "true"))
    with pytest.raises(ValueError, match=r"global '(posix|nt)\.system'"):
        _loads(blob)
    for module, name in (("numpy", "load"), ("numpy.lib.npyio", "load"), ("builtins", "open"),
                         ("copyreg", "_reconstructor"), ("functools", "partial")):
        with pytest.raises(UnsafePickleError, match=f"'{module}.{name}'"):
            SafeUnpickler(io.BytesIO(b"")).find_class(module, name)


def test_codecs_encode_only_to_latin1():
    ok = pickle.dumps(b"\x00\xff", protocol=2)
    assert _loads(ok) == b"\x00\xff"
    import codecs

    bad = pickle.dumps(Payload(codecs.encode, "abc", "rot13"), protocol=2)
    with pytest.raises(UnsafePickleError,
                       match=r"latin-1 in the pickle, got arguments str, 'rot13'"):
        _loads(bad)


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"", "EOFError"), (b"not a pickle at all", "UnpicklingError"),
     ("truncated", r"\w+"), (b"\x80\x05\x95\xff\xff\xff\xff", r"\w+")],
)
def test_corrupt_or_truncated_files_are_one_line_value_errors(tmp_path, content, kind):
    path = tmp_path / "test_batch"
    if content == "truncated":
        content = pickle.dumps({b"data": np.zeros((4, 3072), np.uint8)})[:-500]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=(rf"^Expected a Python pickle in the CIFAR file "
                                          rf"'{path}', got a corrupt or truncated file "
                                          rf"\({kind}: ")):
        load_data_pickle(path, what="CIFAR file")


def test_persistent_ids_are_refused(tmp_path):
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "x" else None

    buf = io.BytesIO()
    P(buf).dump({b"k": "x"})
    path = tmp_path / "f"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="corrupt or truncated file"):
        load_data_pickle(path)


def test_not_a_dict_missing_and_unreadable(tmp_path):
    path = tmp_path / "meta"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match=rf"^Expected a dict in the data file '{path}', got list$"):
        load_data_pickle(path)
    with pytest.raises(FileNotFoundError, match=r"^Expected the data file '.*nope', but it"):
        load_data_pickle(tmp_path / "nope")
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="folder"):
        load_data_pickle(folder)


def test_unreadable_file_is_a_value_error(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({}))

    def deny(self, *a, **k):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ValueError, match=rf"^Expected a readable data file at '{path}', got "
                                         r"PermissionError"):
        load_data_pickle(path)
