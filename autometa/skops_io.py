"""skops, the format of saved models, at the cost of the model, not of its own overheads.

**Importing it** lists every scikit-learn estimator (``sklearn.utils.all_estimators``, for its
trusted types). That walks scikit-learn's packages with ``pkgutil.walk_packages``, which imports
each package it walks into, ``sklearn.externals.array_api_compat.torch`` among them, and so
torch: 1.8 of skops' 2.6 s. ``all_estimators`` leaves ``externals`` out of its list anyway.
``import_skops()`` imports skops with a placeholder for that one package (a package with no
subpackages, removed once skops is in), so the walk passes it by; the list is the same, and
torch stays out of a fit that trains no network, and out of ``autometa predict``.

**Writing** has two costs in skops (0.16) that grow faster than the model it writes:

- before it writes each array it asks ``name not in zip_file.namelist()``, and ``namelist``
  lists every entry written so far, so the check is quadratic in the arrays. A bag of five
  histogram-boosting fold models of 800 rounds holds 12,000 arrays (three per tree);
- it writes its schema with ``json.dumps(indent=2)``, which Python encodes in pure Python, where
  without ``indent`` its C encoder runs.

Inside ``linear_dumps()``, skops' writer uses a zip file that answers that question from a set,
and writes its schema without indentation. The JSON is the same, and skops reads it as before.

Measured on a stack of seven regression bags from a 60 s fit (121 MB as skops wrote it): 20.9 s
to dump before, 2.1 s inside the context, where the file is 70 MB. If skops' internals are not
the ones this was written for, the context changes nothing and the dump is only slower.

**Listing the types** a file needs (``get_untrusted_types``, for the saved model's trusted
types) reads every array's bytes out of the zip file to wrap them in a buffer that the audit
trusts without looking inside: on that 77 MB stack, more time than the dump itself (2.8 s
against 2.3 s in a 60 s fit's write). ``untrusted_types`` audits the same tree with those
entries read as empty, and gives the same list.
"""

from __future__ import annotations

import contextlib
import json
import sys
import types
import zipfile
from collections.abc import Iterator
from typing import Any

__all__ = ["import_skops", "linear_dumps", "untrusted_types"]

# the package that scikit-learn's walk imports torch through (``import_skops``)
_TORCH_NAMESPACE = "sklearn.externals.array_api_compat.torch"


class _Names(list[str]):
    """A zip file's entry names in order, with a set beside them for ``in``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.seen


class _IndexedZip(zipfile.ZipFile):
    """A ``ZipFile`` whose ``namelist`` grows with the entries written instead of being listed
    again on each call (the list it returns is its own: read it, do not change it)."""

    def namelist(self) -> list[str]:
        names: _Names = self.__dict__.setdefault("_names", _Names())
        for info in self.filelist[len(names):]:
            list.append(names, info.filename)
            names.seen.add(info.filename)
        return names


def _compact_dumps(obj: Any, **kwargs: Any) -> str:
    kwargs.pop("indent", None)
    return json.dumps(obj, **kwargs)


_COMPACT_JSON = types.SimpleNamespace(dumps=_compact_dumps, loads=json.loads)


@contextlib.contextmanager
def linear_dumps() -> Iterator[None]:
    """A context in which ``skops.io.dump`` and ``dumps`` run at linear cost (see the module).
    Nested or concurrent contexts leave the first one's change in place until it ends."""
    try:
        import_skops()
        from skops.io import _persist
    except ImportError:  # skops absent or reorganized: its own writer
        yield
        return
    if getattr(_persist, "ZipFile", None) is not zipfile.ZipFile or getattr(_persist, "json", None) is not json:
        yield  # already inside the context, or internals this was not written for
        return
    _persist.ZipFile, _persist.json = _IndexedZip, _COMPACT_JSON  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _persist.ZipFile, _persist.json = zipfile.ZipFile, json  # type: ignore[attr-defined]


def import_skops() -> types.ModuleType:
    """``skops.io``, imported without importing torch on the way (see the module)."""
    if "skops.io" in sys.modules or "torch" in sys.modules or _TORCH_NAMESPACE in sys.modules:
        import skops.io

        return skops.io
    placeholder = types.ModuleType(_TORCH_NAMESPACE)
    placeholder.__path__ = []  # a package with nothing in it: the walk goes no further
    sys.modules[_TORCH_NAMESPACE] = placeholder
    try:
        import skops.io
    finally:
        if sys.modules.get(_TORCH_NAMESPACE) is placeholder:
            del sys.modules[_TORCH_NAMESPACE]
    return skops.io


class _Unread:
    """A skops file, opened for reading, whose entries other than its schema read as empty."""

    def __init__(self, zip_file: zipfile.ZipFile) -> None:
        self._zip_file = zip_file

    def read(self, name: str) -> bytes:
        return self._zip_file.read(name) if name == "schema.json" else b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._zip_file, name)


def untrusted_types(data: bytes) -> list[str]:
    """skops' ``get_untrusted_types(data=data)``, sorted, without reading the arrays (see the
    module): where skops' internals are not the ones this was written for, skops' own answers."""
    import dataclasses
    import io

    sio = import_skops()
    try:
        from skops.io._audit import get_tree
        from skops.io._utils import read_schema

        with zipfile.ZipFile(io.BytesIO(data)) as zip_file:
            schema, context = read_schema(zip_file)
            context = dataclasses.replace(context, src=_Unread(zip_file))
            return sorted(get_tree(schema, load_context=context, trusted=None).get_unsafe_set())
    except Exception:  # other internals, a context without a source, a node that reads its entry's bytes
        return sorted(sio.get_untrusted_types(data=data))
