"""Load a data pickle without ever running code from it.

CIFAR's standard python format is a pickle, and ``pickle.load`` on a planted file runs
whatever the file asks for (a ``__reduce__`` may name ``os.system``). What that format
holds is plain data: dicts, lists, bytes, str and ints need no global at all, and a numpy
array needs only numpy's reconstruction functions. :class:`SafeUnpickler` resolves exactly
those globals and refuses every other one *before* anything is called, so a planted payload
is a one-line :class:`UnsafePickleError` naming the file and the refused global.

Allowed globals (each only builds data from data):

- ``numpy.ndarray``, ``numpy.dtype``;
- ``numpy.core.multiarray._reconstruct`` / ``.scalar`` and ``numpy.core.numeric._frombuffer``
  (the names numpy 1 writes; numpy 2 writes ``numpy._core``, also accepted);
- ``_codecs.encode`` for ``latin-1`` only: how Python 3 writes ``bytes`` at pickle
  protocols 0-2 (the official files, written by Python 2, do not need it).

A file that is not a pickle, is cut short or does not hold a dict is a ``ValueError``
naming the file, never a traceback from inside :mod:`pickle`.

>>> import io, pickle
>>> SafeUnpickler(io.BytesIO(pickle.dumps({b"labels": [1, 2]})), encoding="bytes").load()
{b'labels': [1, 2]}
>>> import os
>>> class Payload:
...     def __reduce__(self):
...         return (os.system, ("echo pwned",))
>>> SafeUnpickler(io.BytesIO(pickle.dumps(Payload()))).load()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
empirics.data.safe_pickle.UnsafePickleError: Expected only data ..., got the global '...system'...
"""

from __future__ import annotations

import functools
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SafeUnpickler", "UnsafePickleError", "load_data_pickle"]


class UnsafePickleError(ValueError):
    """A pickle asked for a global outside the allowed data-only set; nothing was run."""


def _numpy_core(module: str) -> Any:
    """``numpy._core.<module>`` (numpy 2), else ``numpy.core.<module>`` (numpy 1)."""
    try:
        return importlib.import_module(f"numpy._core.{module}")
    except ImportError:  # pragma: no cover - numpy 1
        return importlib.import_module(f"numpy.core.{module}")


def _latin1_encode(text: str, encoding: str = "latin1", *, source: str) -> bytes:
    """``_codecs.encode`` restricted to what Python 3 pickles ``bytes`` with at protocol <= 2."""
    if not (isinstance(text, str) and isinstance(encoding, str)
            and encoding.replace("-", "").replace("_", "").lower() == "latin1"):
        raise UnsafePickleError(f"Expected `_codecs.encode` of a str to latin-1 in {source}, "
                                f"got arguments {type(text).__name__}, {encoding!r}")
    return text.encode("latin-1")


def _allowed() -> dict[tuple[str, str], Any]:
    multiarray, numeric = _numpy_core("multiarray"), _numpy_core("numeric")
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


_ALLOWED = _allowed()


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only the data-only globals listed above.

    Args:
        file: a binary file object.
        source: the name used in error messages (a path), default ``"the pickle"``.
        **kw: passed to :class:`pickle.Unpickler` (``encoding="bytes"`` for Python 2 files).

    Raises:
        UnsafePickleError: (on :meth:`load`) for any other global, before it is called.
    """

    def __init__(self, file: Any, *, source: str = "the pickle", **kw: Any) -> None:
        super().__init__(file, **kw)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return functools.partial(_latin1_encode, source=self.source)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"Expected only data (dicts, lists, bytes, str, numbers, numpy arrays) in "
                f"{self.source}, got the global {module + '.' + name!r}; refusing to load it"
            ) from None


def load_data_pickle(path: str | Path, *, what: str = "data file") -> dict:
    """Read the dict pickled in ``path`` with :class:`SafeUnpickler` (``encoding="bytes"``).

    Args:
        path: the file.
        what: what the file is, for error messages (e.g. ``"CIFAR file"``).

    Returns:
        The unpickled dict (keys are ``bytes`` in files written by Python 2).

    Raises:
        FileNotFoundError: when ``path`` does not exist, naming it.
        UnsafePickleError: when the file names a global outside the allowed set.
        ValueError: when the file cannot be read, is not a pickle, is truncated, or does
            not hold a dict, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected the {what} {str(path)!r}, but it does not exist")
    source = f"the {what} {str(path)!r}"
    try:
        with path.open("rb") as f:
            obj = SafeUnpickler(f, source=source, encoding="bytes").load()
    except UnsafePickleError:
        raise
    except OSError as err:
        raise ValueError(f"Expected a readable {what} at {str(path)!r}, got "
                         f"{type(err).__name__}: {err}") from err
    except Exception as err:  # noqa: BLE001 - a corrupt pickle raises nearly anything
        raise ValueError(f"Expected a Python pickle in {source}, got a corrupt or truncated "
                         f"file ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise ValueError(f"Expected a dict in {source}, got {type(obj).__name__}")
    return obj
