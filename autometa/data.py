"""Reading tables and turning them into validated ``Task`` objects.

This is the edge of the product: everything a user hands autometa (a CSV or
Parquet file, or a DataFrame through the API) is checked here once, and bad
input is refused with one line that names the problem and the fix. Code past
this module trusts a ``Task``.

Rules, in order (they are also in the README):

* **Target**: the column named by ``target``; else the first column named
  ``target``, ``class``, ``label`` or ``y`` (case-insensitive); else the last
  column. Rows whose target is missing are dropped with a warning.
* **Task kind** (``kind="auto"``): a target that is not numeric, or numeric
  with exactly two distinct values, is classification (binary for two classes,
  multiclass otherwise); an integer-valued numeric target with 3 to 20
  distinct values is multiclass; any other numeric target is regression.
  Pass ``kind`` (CLI ``--task``) to override.
* **Feature columns**: each is typed as numeric, categorical, boolean or
  datetime (expanded to parts inside the model). Dropped with a warning: all
  missing, constant, identifier-like (strings of which over 90% are distinct,
  or integers that count up), and free text (long multi-word strings).
  A text column whose values are at least 95% numbers is numeric; the rest
  of its values become missing, with a warning. Infinite numbers are treated
  as missing, with a warning.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from autometa.errors import DataError, OptionError, message

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "TASK_KINDS",
    "AutoMetaWarning",
    "Column",
    "ColumnKind",
    "Task",
    "TaskKind",
    "make_task",
    "read_table",
]

TaskKind = Literal["binary", "multiclass", "regression"]
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime"]
TASK_KINDS: tuple[str, ...] = ("binary", "multiclass", "regression")

TARGET_NAMES = ("target", "class", "label", "y")
MAX_MULTICLASS_INT_LEVELS = 20
NUMERIC_SHARE = 0.95
# placeholders for a missing value in a column of numbers (UCI and OpenML exports write "?")
MISSING_MARKS = frozenset({"?", "-", "--", ".", "na", "n/a", "nan", "null", "none", "missing"})
TRUE_WORDS = frozenset({"true", "yes", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "f", "n"})
NEAR_UNIQUE = 0.9  # a text column with more distinct values than this share of its rows is dropped
ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid|guid|rownames?|index)($|[_\W])", re.IGNORECASE)
PARQUET_MAGIC = b"PAR1"
BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\x1f\x8b", b"SQLite")
# read through: the table inside (a zip archive only where it holds one file); bz2's "BZh", its
# block size and the first block's (or the end's) mark, so that a text file beginning "BZh" stays text
COMPRESSED = {re.compile(rb"\x1f\x8b"): "gzip", re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"): "bz2",
              re.compile(rb"\xfd7zXZ\x00"): "xz", re.compile(rb"PK\x03\x04"): "zip"}
# http://, s3://, ... (also as a Path, which writes "https:/"): what autometa does not fetch; not a
# Windows drive ("C:/")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")
DECIMAL_COMMA = r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?"  # a number with a decimal comma, as a European CSV writes it


class AutoMetaWarning(UserWarning):
    """Something in the data was changed or dropped; the message says what."""


@dataclass(frozen=True)
class Column:
    """A feature column and the type autometa gives it."""

    name: str
    kind: ColumnKind


@dataclass(frozen=True, eq=False)
class Task:
    """Validated supervised data: features as read, target, kind and column types.

    ``X`` holds the kept feature columns as they came (strings stay strings):
    the model's own first step coerces them, so training and prediction take
    the same path from raw columns.
    """

    X: pd.DataFrame
    y: np.ndarray
    kind: TaskKind
    target: str
    columns: tuple[Column, ...]
    name: str = "data"
    dropped: tuple[tuple[str, str], ...] = ()
    classes: tuple[object, ...] = ()
    digest: str = field(default="")

    @property
    def n_rows(self) -> int:
        return len(self.X)

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"

    def encoded_y(self) -> np.ndarray:
        """Class indices (0..K-1, in ``classes`` order) for classification, values otherwise."""
        import numpy as np

        if not self.is_classification:
            return self.y
        return np.searchsorted(np.asarray(self.classes, dtype=self.y.dtype), self.y)

    def describe(self) -> str:
        """One line for logs: name, shape, kind and target."""
        extra = f", {len(self.classes)} classes" if self.classes else ""
        return (
            f"{self.name}: {self.n_rows} rows x {len(self.columns)} features, "
            f"{self.kind}{extra}, target '{self.target}'"
        )


def _warn(text: str) -> None:
    warnings.warn(text, AutoMetaWarning, stacklevel=3)


# --------------------------------------------------------------------------- reading files


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (delimiter and encoding sniffed) or Parquet file.

    Args:
        path: The file. Parquet is recognised by its magic bytes or a
            ``.parquet``/``.pq`` suffix; anything else is read as delimited text. A file
            compressed with gzip, bz2 or xz, or a zip archive of one file, is read through.

    Returns:
        The table, columns as named in the file.

    Raises:
        DataError: The file is missing, empty, binary, a damaged archive, has no data rows
            or has duplicate column names.

    Example:
        >>> df = read_table("examples/titanic.csv")  # doctest: +SKIP
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        if url := URL.match(str(path)):  # shown as given: a Path writes "https:/" of "https://"
            rest = str(path)[url.end():]
            given = f"{url.group()}{'' if rest.startswith('/') else '/'}{rest}"
            raise DataError(message(f"'{given}' is a URL; autometa reads local files only, nothing from the network",
                                    "download the file and pass its local path"))
        raise DataError(message(f"file '{p}' not found", "check the path and the working directory"))
    if p.is_dir():
        raise DataError(message(f"'{p}' is a directory", "pass a CSV or Parquet file"))
    with p.open("rb") as fh:
        head = fh.read(65536)
    data = _unpacked(p, head)  # a compressed file's contents (None: not compressed)
    if data is not None:
        head = data[:65536]
    if not head.strip():
        raise DataError(message(f"file '{p}' is empty", "pass a file with a header row and data rows"))

    def source() -> Any:
        return p if data is None else io.BytesIO(data)

    if head.startswith(PARQUET_MAGIC) or (data is None and p.suffix.lower() in (".parquet", ".pq")):
        try:
            df = pd.read_parquet(source())
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataError(
                message(f"file '{p}' is not a readable Parquet file ({type(exc).__name__})",
                        "re-export it as Parquet or CSV")
            ) from exc
        _check_columns(list(map(str, df.columns)), p)
        df.columns = [str(c) for c in df.columns]
        return _check_rows(df, p)
    encoding = _sniff_encoding(p, head, data)
    if head.startswith(BINARY_SIGNATURES) or (b"\x00" in head and not encoding.startswith("utf-16")):
        raise DataError(
            message(f"file '{p}' is binary, not delimited text",
                    "autometa reads CSV (any delimiter, also gzip-, bz2-, xz- or zip-compressed) or Parquet: "
                    "export the table to one of them")
        )
    sample = head.decode(encoding, errors="replace")
    delimiter = _sniff_delimiter(sample)
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    _check_columns([h.strip() for h in header], p)
    try:
        df = pd.read_csv(source(), sep=delimiter, encoding=encoding, low_memory=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(message(f"file '{p}' has no columns", "pass a CSV with a header row")) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            message(f"file '{p}' could not be parsed as delimited text ({first})",
                    "check that every row has the same number of fields, or export it as Parquet")
        ) from exc
    if delimiter != "," and _decimal_commas(df):  # European numbers: "3,14" with ';' between fields
        df = pd.read_csv(source(), sep=delimiter, encoding=encoding, low_memory=False, skipinitialspace=True,
                         decimal=",")
    df.columns = [str(c).strip() for c in df.columns]
    return _check_rows(df, p)


def _decimal_commas(df: pd.DataFrame) -> bool:
    """Whether some text column holds only numbers written with a decimal comma ("-3,14")."""
    for name in df.columns:
        if not _textual(df[name]):
            continue
        values = df[name].dropna().astype(str).str.strip()
        if len(values) and values.str.fullmatch(DECIMAL_COMMA).all() and values.str.contains(",").any():
            return True
    return False


def _textual(s: pd.Series) -> bool:
    """Whether a column holds text: object dtype, or pandas 3's string dtype."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    return bool(is_object_dtype(s) or is_string_dtype(s))


def _unpacked(path: Path, head: bytes) -> bytes | None:
    """The file inside a gzip, bz2 or xz file, or inside a zip archive of one file (``head``: the
    file's first bytes; None where it is not compressed).

    Raises:
        DataError: A damaged file, a zip archive of several files, or an Excel workbook."""
    import bz2
    import gzip
    import lzma
    import zipfile
    import zlib

    kind = next((name for magic, name in COMPRESSED.items() if magic.match(head)), None)
    if kind is None:
        return None
    try:
        if kind != "zip":
            opener: Any = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
            with opener(path, "rb") as fh:
                return bytes(fh.read())
        with zipfile.ZipFile(path) as archive:
            names = [m.filename for m in archive.infolist()  # not the folders, nor macOS's extras
                     if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                     and not Path(m.filename).name.startswith(".")]
            if "xl/workbook.xml" in names:
                raise DataError(message(f"file '{path}' is an Excel workbook",
                                        "save the sheet as CSV (File > Save As > CSV) and pass that file"))
            if len(names) != 1:
                raise DataError(message(f"file '{path}' is a zip archive of {len(names)} files",
                                        "pass the table itself, or a zip archive that holds only the table"))
            return archive.read(names[0])
    except (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(message(f"file '{path}' is a damaged {kind} file ({exc})",
                                "compress the table again, or pass it uncompressed")) from exc


def _sniff_encoding(path: Path, head: bytes, data: bytes | None = None) -> str:
    """The text encoding of ``path`` (``data``: its contents, where already read)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    data = path.read_bytes() if data is None else data
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        encoding = "cp1252"
    except UnicodeDecodeError:
        encoding = "latin-1"
    _warn(f"file '{path.name}' is not UTF-8; read it as {encoding} (save it as UTF-8 to be sure)")
    return encoding


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith("\n"):
        lines = lines[:-1]  # the last line may be cut by the sample
    text = "\n".join(lines[:50])
    try:
        return csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"} if lines else {}
        best = max(counts, key=lambda d: counts[d], default=",")
        return best if counts.get(best) else ","


def _check_columns(names: Sequence[str], path: Path | None) -> None:
    seen: dict[str, int] = {}
    where = f" in '{path}'" if path else ""
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(
                message(f"duplicate column name '{name}'{where} (columns {seen[name] + 1} and {i + 1})",
                        "rename one of them so every column name is unique")
            )
        seen[name] = i


def _check_rows(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if df.shape[1] == 0:
        raise DataError(message(f"file '{path}' has no columns", "pass a table with a header row"))
    if df.shape[0] == 0:
        raise DataError(
            message(f"file '{path}' has a header but no data rows", "pass a file with data rows")
        )
    return df


# --------------------------------------------------------------------------- building a task


def make_task(
    df: pd.DataFrame,
    target: str | None = None,
    *,
    kind: str = "auto",
    name: str = "data",
) -> Task:
    """Validate a table and build the supervised ``Task`` that autometa trains on.

    Args:
        df: The table, target column included.
        target: Target column; ``None`` applies the rules in the module docstring.
        kind: ``"auto"``, ``"binary"``, ``"multiclass"``, ``"classification"`` or
            ``"regression"``.
        name: A name for logs, the MLflow experiment and meta_db.

    Returns:
        The validated task.

    Raises:
        DataError: The table cannot be learned from; the message says why and what to do.
        OptionError: ``kind`` is not one of the allowed values.

    Example:
        >>> import pandas as pd
        >>> t = make_task(pd.DataFrame({"a": range(10), "b": [0, 1] * 5, "y": [0, 1] * 5}))
        >>> t.kind, t.target
        ('binary', 'y')
    """
    import numpy as np
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise DataError(message(f"expected a pandas DataFrame, got {type(df).__name__}",
                                "pass a DataFrame or a file path"))
    allowed = ("auto", "classification", *TASK_KINDS)
    if kind not in allowed:
        raise OptionError(message(f"task kind must be one of {', '.join(allowed)}; got '{kind}'",
                                  "pass one of those to --task"))
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    _check_columns(list(df.columns), None)
    if df.shape[0] < 2:
        raise DataError(message(f"the table has {df.shape[0]} samples (rows)",
                                "pass a table with at least 2 rows; more than 50 to learn anything"))

    target = _choose_target(list(df.columns), target)
    y_raw = df.pop(target)
    if df.shape[1] == 0:
        raise DataError(message(f"the table has only the target column '{target}'",
                                "add feature columns"))

    y_num = None
    if _textual(y_raw):  # "?" marks a missing target in UCI and OpenML exports
        y_raw = y_raw.mask(y_raw.astype(str).str.strip() == "?")
        y_num = pd.to_numeric(y_raw, errors="coerce")
    missing = y_raw.isna().to_numpy()
    if y_num is not None and y_num.notna().sum() == y_raw.notna().sum():
        y_raw = y_num  # numbers stored as text
    if pd.api.types.is_numeric_dtype(y_raw) and not pd.api.types.is_bool_dtype(y_raw):
        values = y_raw.to_numpy(dtype="float64", na_value=np.nan)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise DataError(message(f"target '{target}' has {n_inf} infinite values",
                                    "replace them with finite numbers or drop those rows"))
    if missing.all():
        raise DataError(message(f"target '{target}' has no values", "choose another --target"))
    if missing.any():
        _warn(f"dropped {int(missing.sum())} rows whose target '{target}' is missing")
        df = df.loc[~missing]
        y_raw = y_raw.loc[~missing]
    df = df.reset_index(drop=True)
    y_raw = y_raw.reset_index(drop=True)

    task_kind = _infer_kind(y_raw, kind, target)
    classes: tuple[object, ...] = ()
    if task_kind == "regression":
        y = pd.to_numeric(y_raw, errors="coerce").to_numpy(dtype="float64")
        if np.isnan(y).any():
            raise DataError(message(f"target '{target}' mixes numbers and text",
                                    "clean the column or pass --task classification"))
        if np.unique(y).size < 2:
            raise DataError(message(f"target '{target}' is constant ({y[0]!r})",
                                    "choose a target that varies"))
    else:
        y = _class_labels(y_raw)
        labels, counts = np.unique(y, return_counts=True)
        if kind == "auto" and labels.size > 200 and labels.size > 0.5 * len(y):
            raise DataError(message(
                f"target '{target}' has {labels.size} classes in {len(y)} rows and looks like an identifier",
                "choose another --target, or pass --task regression if it is a number"))
        rare = labels[counts < 2]
        if len(rare):
            keep = ~np.isin(y, rare)
            _warn(f"dropped {int((~keep).sum())} rows of {len(rare)} classes of '{target}' "
                  f"seen only once (e.g. {_plain(rare[0])!r}); a class needs 2 rows to be validated")
            df, y = df.loc[keep].reset_index(drop=True), y[keep]
            labels = np.unique(y)
        if labels.size == 0:
            raise DataError(message(f"every class of target '{target}' has a single row (a class needs 2 rows "
                                    "to be validated)", "choose another --target, or add rows"))
        if labels.size < 2:
            raise DataError(message(f"target '{target}' has only one class ({_plain(labels[0])!r})",
                                    "choose a target with at least two classes"))
        task_kind = "binary" if labels.size == 2 else "multiclass"
        classes = tuple(labels.tolist())

    columns, dropped = _type_columns(df)
    if not columns:
        reasons = "; ".join(f"'{c}' {why}" for c, why in dropped) or "none"
        raise DataError(message(f"no usable feature columns (dropped: {reasons})",
                                "add informative feature columns"))
    X = df[[c.name for c in columns]]
    digest = _digest(X, y)
    return Task(X=X, y=y, kind=task_kind, target=target, columns=tuple(columns), name=name,
                dropped=tuple(dropped), classes=classes, digest=digest)


def _choose_target(columns: list[str], target: str | None) -> str:
    if target is not None:
        if target in columns:
            return target
        lowered = {c.lower(): c for c in columns}
        if target.lower() in lowered:
            return lowered[target.lower()]
        close = difflib.get_close_matches(target, columns, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else (
            f"columns are: {', '.join(columns[:10])}{' ...' if len(columns) > 10 else ''}")
        raise DataError(message(f"target column '{target}' not found", f"pass --target; {hint}"))
    for wanted in TARGET_NAMES:
        for c in columns:
            if c.lower() == wanted:
                _warn(f"no --target given: using column '{c}' as the target")
                return c
    _warn(f"no --target given and no column named target/class/label/y: "
          f"using the last column '{columns[-1]}' as the target")
    return columns[-1]


def _infer_kind(y: pd.Series, kind: str, target: str) -> TaskKind:
    import numpy as np
    import pandas as pd

    if kind == "binary":
        return "binary"
    if kind in ("multiclass", "classification"):
        return "multiclass"  # refined by the class count
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if kind == "regression":
        if not numeric:
            raise DataError(message(f"target '{target}' is not numeric, so it cannot be regressed",
                                    "pass --task classification or choose a numeric target"))
        return "regression"
    if not numeric:
        return "multiclass"
    values = y.to_numpy(dtype="float64")
    n_distinct = np.unique(values).size
    if n_distinct <= 2:
        return "binary"
    integer = bool(np.all(np.mod(values, 1) == 0))
    if integer and n_distinct <= MAX_MULTICLASS_INT_LEVELS:
        return "multiclass"
    return "regression"


def _class_labels(y: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        values = y.to_numpy(dtype="float64")
        if np.all(np.mod(values, 1) == 0):
            return values.astype("int64")
        return values
    return y.astype(str).to_numpy(dtype=object)


def _type_columns(df: pd.DataFrame) -> tuple[list[Column], list[tuple[str, str]]]:
    columns: list[Column] = []
    dropped: list[tuple[str, str]] = []
    for name in df.columns:
        kind, why = _column_kind(name, df[name])
        if kind is None:
            dropped.append((name, why))
            _warn(f"dropped column '{name}': {why}")
        else:
            columns.append(Column(name, kind))
    return columns, dropped


def _column_kind(name: str, s: pd.Series) -> tuple[ColumnKind | None, str]:
    import numpy as np
    import pandas as pd

    values = s.dropna()
    n = len(s)
    if values.empty:
        return None, "all values missing"
    if pd.api.types.is_bool_dtype(s):
        return ("boolean", "") if values.nunique() > 1 or values.size < n else (None, "constant")
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", ""
    if pd.api.types.is_numeric_dtype(s):
        floats = values.to_numpy(dtype="float64")
        n_inf = int(np.isinf(floats).sum())
        if n_inf:
            _warn(f"column '{name}' has {n_inf} infinite values; they are treated as missing")
        finite = floats[np.isfinite(floats)]
        if finite.size == 0:
            return None, "no finite values"
        distinct = np.unique(finite).size
        if distinct == 1 and finite.size == n:
            return None, "constant"
        if _integer_identifier(name, finite, n):
            return None, "identifier-like (distinct integers that count up)"
        return "numeric", ""
    text = values.astype(str).str.strip()
    # each distinct string is parsed once, weighed by its rows (a 300,000-row column of a few
    # thousand levels: milliseconds instead of a second)
    counts = text.value_counts(sort=False)  # in order of first appearance
    levels, rows = counts.index.to_series(index=None).astype(str), counts.to_numpy()
    lower = levels.str.lower()
    distinct = lower.nunique()
    if distinct == 1 and values.size == n:
        return None, "constant"
    if set(lower) <= TRUE_WORDS | FALSE_WORDS and distinct == 2:
        return "boolean", ""
    numbers = pd.to_numeric(levels, errors="coerce")
    parsed, marked = int(rows[numbers.notna().to_numpy()].sum()), lower.isin(MISSING_MARKS).to_numpy()
    if parsed == len(text) or (parsed >= NUMERIC_SHARE * int(rows[~marked].sum()) and parsed > 0):
        bad = (numbers.isna().to_numpy() & ~marked)
        if bad.any():
            _warn(f"column '{name}' is numeric but {int(rows[bad].sum())} values are not numbers "
                  f"(e.g. {levels[bad].iloc[0]!r}); they are treated as missing")
        return ("numeric", "") if numbers.nunique() > 1 or len(text) < n else (None, "constant")
    if _looks_like_dates(text):
        return "datetime", ""
    if distinct > 0.5 * len(text):
        words = np.average(levels.str.count(r"\s+").to_numpy() + 1, weights=rows)
        if words >= 4 and np.average(levels.str.len().to_numpy(), weights=rows) >= 25:
            return None, "free text (long multi-word strings)"
    if distinct == len(text) and len(text) >= 20:
        return None, "identifier-like (every value distinct)"
    # a level seen once says nothing about new rows, and every fold's encoder would store them all
    # (movies' 56,007 titles in 58,788 rows: a 166 MB model, 25 s to write)
    if distinct > NEAR_UNIQUE * len(text) and len(text) >= 50:
        return None, "identifier-like (nearly every value distinct)"
    return "categorical", ""


def _integer_identifier(name: str, finite: np.ndarray, n: int) -> bool:
    import numpy as np

    if finite.size < 20 or finite.size != n or not np.all(np.mod(finite, 1) == 0):
        return False
    if np.unique(finite).size != finite.size:
        return False
    if ID_NAME.search(name):
        return True
    steps = np.diff(finite)
    return bool(np.all(steps == 1) or np.all(steps == -1))


DATE_HINT = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?.*)?$")


def _looks_like_dates(text: pd.Series) -> bool:
    import pandas as pd

    sample = text.iloc[:200]
    if sample.str.match(DATE_HINT).mean() < NUMERIC_SHARE:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= NUMERIC_SHARE)


def _digest(X: pd.DataFrame, y: np.ndarray) -> str:
    import pandas as pd

    h = hashlib.sha256()
    h.update(",".join(X.columns).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(pd.util.hash_array(y.astype(str)).tobytes())
    return h.hexdigest()[:32]


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages: 3, not np.int64(3))."""
    return value.item() if hasattr(value, "item") else value
