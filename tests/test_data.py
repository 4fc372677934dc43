"""Reading files and building tasks: the rules, and every kind of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autometa.data import AutoMetaWarning, make_task, read_table
from autometa.errors import DataError, OptionError
from tests.conftest import workbook_zip

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


def test_reads_semicolon_csv_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [1.5, 2.5, 3.5], "c": ["a", "b", "c"]})
    (tmp_path / "semi.csv").write_text("x;c\n1,5;a\n2,5;b\n3,5;c\n", encoding="utf-8")
    assert read_table(tmp_path / "semi.csv").columns.tolist() == ["x", "c"]
    assert read_table(tmp_path / "semi.csv")["x"].tolist() == [1.5, 2.5, 3.5]  # decimal commas
    (tmp_path / "words.csv").write_text("x;c\n1;a,b\n2;5,5\n", encoding="utf-8")
    assert read_table(tmp_path / "words.csv")["c"].tolist() == ["a,b", "5,5"]  # text with commas stays text
    (tmp_path / "tab.tsv").write_text("x\tc\n1.5\ta\n2.5\tb\n", encoding="utf-8")
    assert read_table(tmp_path / "tab.tsv")["x"].tolist() == [1.5, 2.5]
    df.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), df)


@pytest.mark.parametrize("dtype", [object, "str"])
def test_numbers_stored_as_text_make_a_regression_target(dtype: object) -> None:
    y = pd.Series([f"{v}.5" for v in range(30)], dtype=dtype)  # pandas 3 reads text as "str", not object
    task = make_task(pd.DataFrame({"x": np.arange(30.0) % 7, "y": y}), target="y")
    assert task.kind == "regression"
    assert task.y[:2].tolist() == [0.5, 1.5]


def test_question_marks_are_missing_values_in_numbers_and_in_the_target(recwarn: pytest.WarningsRecorder) -> None:
    rng = np.random.default_rng(0)
    a = [f"{v:.3f}" if i % 7 else "?" for i, v in enumerate(rng.normal(size=70))]  # a UCI/OpenML export
    y = ["yes", "no"] * 34 + ["?", "?"]
    task = make_task(pd.DataFrame({"a": a, "c": ["u", "v"] * 35, "y": y}), target="y")
    assert {c.name: c.kind for c in task.columns} == {"a": "numeric", "c": "categorical"}
    assert task.n_rows == 68 and sorted(map(str, task.classes)) == ["no", "yes"]
    assert not [w for w in recwarn if "not numbers" in str(w.message)]  # a marker is not a bad value
    mixed = make_task(pd.DataFrame({"a": [*a[:60], *"abcdefghij"], "y": ["yes", "no"] * 35}), target="y")
    assert mixed.columns[0].kind == "categorical"  # words, not markers, keep a column text


@pytest.mark.parametrize("packing", ["gzip", "bz2", "xz", "zip"])
def test_compressed_files_are_read_through(tmp_path: Path, packing: str) -> None:
    import bz2
    import gzip
    import lzma
    import zipfile

    text = b"x;c\n1,5;a\n2,5;b\n3,5;c\n"  # the same sniffing as plain text: ';', decimal commas
    path = tmp_path / f"t.csv.{packing}"
    if packing == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("t.csv", text)
            archive.writestr("__MACOSX/._t.csv", b"\x00")  # what macOS adds is not a second table
    else:
        path.write_bytes({"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[packing](text))
    df = read_table(path)
    assert df.columns.tolist() == ["x", "c"] and df["x"].tolist() == [1.5, 2.5, 3.5]


def test_text_that_begins_like_a_bz2_mark_stays_text(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("BZh9,x\n1,2\n")
    assert read_table(tmp_path / "plain.csv").columns.tolist() == ["BZh9", "x"]


def test_zip_archives_of_a_parquet_file_and_of_several_files(tmp_path: Path) -> None:
    import zipfile

    df = pd.DataFrame({"x": [1.5, 2.5], "c": ["a", "b"]})
    df.to_parquet(tmp_path / "t.parquet")
    with zipfile.ZipFile(tmp_path / "pq.zip", "w") as archive:
        archive.write(tmp_path / "t.parquet", "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "pq.zip"), df)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", "a\n1\n")
        archive.writestr("b.csv", "b\n1\n")
    with pytest.raises(DataError, match="zip archive of 2 files; pass the table itself"):
        read_table(tmp_path / "two.zip")
    (tmp_path / "book.xlsx").write_bytes(workbook_zip())
    with pytest.raises(DataError, match="Excel workbook; save the sheet as CSV"):
        read_table(tmp_path / "book.xlsx")


@pytest.mark.parametrize("url", ["https://example.com/data.csv", "s3://bucket/data.parquet"])
def test_a_url_is_refused_since_nothing_is_downloaded(url: str) -> None:
    for given in (url, Path(url)):  # the command line hands a Path, which writes "https:/"
        with pytest.raises(DataError, match=rf"'{re.escape(url)}' is a URL; autometa reads local files only.*; "
                                            "download the file"):
            read_table(given)


def test_non_utf8_text_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nJosé,Zürich\nRené,Köln\n".encode("cp1252"))
    with pytest.warns(AutoMetaWarning, match="not UTF-8"):
        df = read_table(path)
    assert df["city"].tolist() == ["Zürich", "Köln"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "not found"),
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"a,b,target\n", "no data rows"),
        (b"a,b,a\n1,2,3\n4,5,6\n", "duplicate column name 'a'"),
        (b"PK\x03\x04\x14\x00not-really-a-zip", "damaged zip"),
        (b"\x1f\x8b\x08\x00cut-short", "damaged gzip"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"PAR1 not really parquet", "not a readable Parquet"),
        (b'a,b\n1,"unterminated\n', "could not be parsed"),
    ],
)
def test_bad_files_raise_one_line(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_table(path)
    assert "\n" not in str(info.value)
    assert ";" in str(info.value)  # problem; fix


def test_target_rules(binary_frame: pd.DataFrame) -> None:
    assert make_task(binary_frame).target == "target"
    renamed = binary_frame.rename(columns={"target": "outcome"})
    with pytest.warns(AutoMetaWarning, match="last column 'outcome'"):
        assert make_task(renamed).target == "outcome"
    assert make_task(binary_frame, "TARGET").target == "target"  # case-insensitive


def test_absent_target_suggests_close_names(binary_frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="did you mean 'target'"):
        make_task(binary_frame, "targte")


@pytest.mark.parametrize(
    ("y", "kind"),
    [
        (["a", "b"] * 20, "binary"),
        ([0, 1] * 20, "binary"),
        ([1, 2, 3, 4] * 10, "multiclass"),
        (list(np.linspace(0, 1, 40)), "regression"),
        (list(range(40)), "regression"),
        (["x", "y", "z", "w"] * 10, "multiclass"),
    ],
)
def test_task_kind_inference(y: list[object], kind: str) -> None:
    df = pd.DataFrame({"f": np.random.default_rng(0).normal(size=40), "y": y})
    assert make_task(df, "y").kind == kind


def test_task_override_and_bad_kind() -> None:
    df = pd.DataFrame({"f": np.arange(40.0) % 7, "y": [1, 2, 3, 4] * 10})
    assert make_task(df, "y", kind="regression").kind == "regression"
    with pytest.raises(OptionError, match="task kind must be one of"):
        make_task(df, "y", kind="ranking")
    text = pd.DataFrame({"f": np.arange(40.0), "y": ["a", "b"] * 20})
    with pytest.raises(DataError, match="cannot be regressed"):
        make_task(text, "y", kind="regression")


def test_column_typing_and_drops() -> None:
    n = 60
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "id": np.arange(n),
        "name": [f"person number {i} from town {i % 7}" for i in range(n)],
        "code": [f"C{i:04d}" for i in range(n)],
        "empty": [np.nan] * n,
        "const": [3] * n,
        "num_text": [str(v) for v in rng.normal(size=n - 2)] + ["oops", "?"],  # a bad value, a marker
        "when": pd.date_range("2021-01-01", periods=n).strftime("%Y-%m-%d"),
        "flag": ["True", "False"] * (n // 2),
        "cat": rng.choice(["a", "b"], size=n),
        "y": rng.choice(["p", "q"], size=n),
    })
    with pytest.warns(AutoMetaWarning) as caught:
        task = make_task(df, "y")
    kinds = {c.name: c.kind for c in task.columns}
    assert kinds == {"num_text": "numeric", "when": "datetime", "flag": "boolean", "cat": "categorical"}
    dropped = dict(task.dropped)
    assert set(dropped) == {"id", "name", "code", "empty", "const"}
    assert "free text" in dropped["name"] and "identifier" in dropped["id"]
    assert any("not numbers" in str(w.message) for w in caught)


def test_a_text_column_of_nearly_all_distinct_values_is_dropped_whatever_its_name() -> None:
    """Titles, names, addresses: over 90% distinct levels teach a model nothing about new rows."""
    rng = np.random.default_rng(0)
    n = 400
    titles = [f"Title {i}" for i in range(n)]
    titles[:20] = ["Hamlet"] * 20  # 95% distinct
    df = pd.DataFrame({"title": titles, "city": rng.choice([f"c{i}" for i in range(150)], n),
                       "f": rng.normal(size=n), "y": rng.normal(size=n)})
    with pytest.warns(AutoMetaWarning, match="title"):
        task = make_task(df, "y")
    assert dict(task.dropped) == {"title": "identifier-like (nearly every value distinct)"}
    assert {c.name: c.kind for c in task.columns} == {"city": "categorical", "f": "numeric"}  # 150 levels: kept
    few = make_task(df.iloc[18:63], "y")  # 44 distinct titles in 45 rows: too few rows to say
    assert [c.name for c in few.columns] == ["title", "city", "f"]


def test_missing_target_rows_dropped_with_warning(binary_frame: pd.DataFrame) -> None:
    binary_frame.loc[:9, "target"] = None
    with pytest.warns(AutoMetaWarning, match="dropped 10 rows whose target"):
        task = make_task(binary_frame)
    assert task.n_rows == len(binary_frame) - 10


def test_infinite_features_are_missing_and_infinite_target_refused() -> None:
    df = pd.DataFrame({"f": [1.0, np.inf, 3.0, -np.inf] * 10, "g": np.arange(40) % 3, "y": [0.5, 1.5] * 20})
    with pytest.warns(AutoMetaWarning, match="infinite values"):
        make_task(df, "y")
    df.loc[0, "y"] = np.inf
    with pytest.raises(DataError, match="infinite"):
        make_task(df, "y")


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"f": range(10), "y": [1] * 10}), "only one class"),
        (pd.DataFrame({"f": range(10), "y": ["a"] * 10}), "only one class"),
        (pd.DataFrame({"f": range(10), "y": [2.5] * 10}), "only one class"),
        (pd.DataFrame({"f": range(10), "y": [np.nan] * 10}), "no values"),
        (pd.DataFrame({"f": [np.nan] * 10, "g": [np.nan] * 10, "y": [0, 1] * 5}), "no usable feature"),
        (pd.DataFrame({"y": [0, 1] * 5}), "only the target"),
        (pd.DataFrame({"f": [1.0], "y": [1]}), "1 samples"),
        (pd.DataFrame({"f": np.arange(300.0) % 9, "y": [f"u{i}" for i in range(300)]}), "identifier"),
    ],
)
def test_unlearnable_tables(frame: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        make_task(frame, "y")
    assert "\n" not in str(info.value)


def test_duplicate_names_in_dataframe() -> None:
    df = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=["a", "a", "y"])
    with pytest.raises(DataError, match="duplicate column name 'a'"):
        make_task(df, "y")


def test_high_cardinality_categorical_is_kept_and_capped() -> None:
    from autometa.preprocess import MAX_ONEHOT_LEVELS, make_preprocessor

    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"city": [f"c{v}" for v in rng.integers(0, 1500, n)], "x": rng.normal(size=n),
                       "y": rng.choice([0, 1], n)})
    task = make_task(df, "y")
    assert {c.name: c.kind for c in task.columns}["city"] == "categorical"
    encoded = make_preprocessor(task.columns, "onehot").fit_transform(task.X)
    assert encoded.shape[1] <= 2 + MAX_ONEHOT_LEVELS


def test_rare_classes_dropped() -> None:
    df = pd.DataFrame({"f": np.random.default_rng(0).normal(size=21), "y": ["a"] * 10 + ["b"] * 10 + ["c"]})
    with pytest.warns(AutoMetaWarning, match="seen only once"):
        task = make_task(df, "y")
    assert task.classes == ("a", "b") and task.kind == "binary"


def test_digest_is_stable_and_content_based(binary_frame: pd.DataFrame) -> None:
    a, b = make_task(binary_frame), make_task(binary_frame.copy())
    assert a.digest == b.digest
    changed = binary_frame.copy()
    changed.loc[0, "b"] = 42.0
    assert make_task(changed).digest != a.digest
