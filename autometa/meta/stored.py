"""What is learnt from a meta_db, kept on disk between processes.

Training the recommender on a meta_db (reading its runs, fitting the cost model) takes about a
second, and a fit with a time budget pays it inside that budget. A command-line fit is a new
process each time, so ``load``/``save`` keep the trained object in the user's cache folder, under
the caller's key (the recommender's: the database's URL, its strategy and seed; the database's
state is stored beside it, ``recommend.recommender_for``) and the code that made it: autometa's
own source and search spaces, and the versions of the libraries whose objects it holds. An
upgrade, or a damaged or unreadable file, is a miss, and the caller learns it again.

The folder is ``$AUTOMETA_CACHE_DIR`` if set (empty: no cache on disk), else
``$XDG_CACHE_HOME/autometa`` (``~/.cache/autometa``). Files are pickles written by this user's
own fits, like joblib's ``Memory``; the folder is the user's own.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "load", "save"]

KEEP = 8  # entries kept; older ones (by last use) are deleted when a new one is written
LIBRARIES = ("autometa", "numpy", "pandas", "scikit-learn", "lightgbm", "scipy")


def cache_dir() -> Path | None:
    """Where trained objects are kept (None: nowhere)."""
    env = os.environ.get("AUTOMETA_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autometa"


@cache
def _code_version(spaces: Path) -> str:
    """A digest of the source that trains and shapes what is cached: autometa's modules, the search
    spaces in ``spaces``, and the libraries' versions."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={version(name)};".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=?;".encode())
    package = Path(__file__).resolve().parent.parent  # the autometa package
    for path in sorted([*package.rglob("*.py"), *spaces.glob("*.yaml")]):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _path(kind: str, key: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    from autometa.spaces import default_spaces_dir

    name = hashlib.sha256(f"{kind}|{key}|{_code_version(default_spaces_dir())}".encode()).hexdigest()[:24]
    return folder / f"{kind}-{name}.pkl"


def load(kind: str, key: str) -> Any | None:
    """The object saved as ``kind`` under ``key`` by this code, or None."""
    path = _path(kind, key)
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            found = pickle.load(fh)  # written by this user's own fits (module docstring)
        os.utime(path)  # last used: what ``save`` keeps
    except Exception:  # damaged, or from code that no longer unpickles: learn it again
        return None
    return found


def save(kind: str, key: str, value: Any) -> None:
    """Keep ``value`` as ``kind`` under ``key``; written whole or not at all, and silently skipped where
    the folder cannot be written."""
    path = _path(kind, key)
    if path is None:
        return
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        temporary = None
        entries = sorted(path.parent.glob(f"{kind}-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except Exception:  # a cache: a folder that cannot be written, or an object that cannot, costs only time
        pass
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
