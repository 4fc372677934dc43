"""MetaDB: the database of past task runs. The only module that imports sqlalchemy.

SQLite file by default, any SQLAlchemy URL (``postgresql+psycopg://...``) by
``url``. The tables are documented in ``meta_db/README.md``. Every write is
one transaction: a crash leaves the database as it was before the write.
The schema version lives in ``meta_info``; opening a database whose version
differs from ``SCHEMA_VERSION`` raises a one-line error instead of guessing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from autometa.errors import DataError, OptionError, message

__all__ = ["ORIGINS", "SCHEMA_VERSION", "CurveRow", "InitRow", "MetaDB", "RunRow", "TaskRow", "default_user_db",
           "package_versions"]

SCHEMA_VERSION = 1
PG_SCHEMA = "autometa_meta_db"  # on PostgreSQL the tables live in this schema
ORIGINS = ("corpus", "user")
STATUSES = ("ok", "failed", "timeout", "pruned")

metadata = sa.MetaData()
meta_info = sa.Table(
    "meta_info", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("group_key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_features", sa.Integer, nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("metafeatures", sa.Text, nullable=False),
    sa.Column("metafeatures_version", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
configurations = sa.Table(
    "configurations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("learner", sa.String(64), nullable=False),
    sa.Column("space_version", sa.Integer, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("slot", sa.String(64), nullable=True),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id"), nullable=False, index=True),
    sa.Column("config_id", sa.Integer, sa.ForeignKey("configurations.id"), nullable=False, index=True),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("fold_scores", sa.Text, nullable=False),
    sa.Column("fidelity", sa.Integer, nullable=True),
    sa.Column("fit_seconds", sa.Float, nullable=False),
    sa.Column("predict_seconds", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("cv", sa.String(32), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("task_id", "config_id", "origin", "seed", "metric", "created_at", name="uq_run"),
)
# learning curves: a configuration's validation score on the first fold at fractions of its fidelity
# (what a fidelity schedule is chosen from). A table added after schema version 1: opening an older
# database creates it, and older autometa versions ignore it.
curves = sa.Table(
    "curves", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id"), nullable=False, index=True),
    sa.Column("config_id", sa.Integer, sa.ForeignKey("configurations.id"), nullable=False, index=True),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("fidelity", sa.Integer, nullable=False),
    sa.Column("fraction", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("task_id", "config_id", "fidelity", "seed", "origin", name="uq_curve"),
)
initializations = sa.Table(
    "initializations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("architecture", sa.Text, nullable=False),
    sa.Column("weights", sa.LargeBinary, nullable=False),  # safetensors bytes, never pickle
    sa.Column("source_tasks", sa.Text, nullable=False),
    sa.Column("validation_curve", sa.Text, nullable=False),
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
curricula = sa.Table(
    "curricula", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("ordering", sa.String(32), nullable=False),
    sa.Column("pacing", sa.Text, nullable=False),
    sa.Column("lr_schedule", sa.String(32), nullable=False),
    sa.Column("fidelity_schedule", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class TaskRow:
    """A task as stored: identity, provenance, size and meta-features."""

    digest: str
    name: str
    source: str
    group_key: str
    kind: str
    n_rows: int
    n_features: int
    target: str
    metafeatures: dict[str, float]
    metafeatures_version: int
    origin: str


@dataclass(frozen=True)
class RunRow:
    """One evaluation of a configuration on a task."""

    task_digest: str
    learner: str
    space_version: int
    params: dict[str, Any]
    metric: str
    direction: str
    score: float | None
    fold_scores: tuple[float, ...]
    fit_seconds: float
    status: str
    origin: str
    cv: str
    seed: int = 0
    fidelity: int | None = None
    predict_seconds: float | None = None
    error: str | None = None
    slot: str | None = None


@dataclass(frozen=True)
class CurveRow:
    """A configuration's validation score (first fold) at one stage of its fidelity, and the
    seconds its fit had taken by then. ``score`` is None where the fit failed before this stage."""

    task_digest: str
    learner: str
    space_version: int
    params: dict[str, Any]
    slot: str | None
    metric: str
    direction: str
    fidelity: int
    fraction: float
    score: float | None
    seconds: float
    origin: str = "corpus"
    seed: int = 0


@dataclass(frozen=True)
class InitRow:
    """A meta-learned initialization as stored: the weights as safetensors bytes (never pickle),
    the architecture, the method, the tasks it was learned from and its validation curve."""

    name: str
    method: str
    architecture: dict[str, Any]
    weights: bytes
    source_tasks: dict[str, Any]
    validation_curve: list[dict[str, Any]]
    created_at: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _check_name_free(conn: sa.Connection, name: str) -> None:
    if conn.execute(sa.select(initializations.c.id).where(initializations.c.name == name)).first():
        raise OptionError(message(f"an initialization named '{name}' exists already",
                                  "pass another --name, or --replace to overwrite it"))


def _init_row(row: Any) -> InitRow:
    return InitRow(name=row.name, method=row.method, architecture=json.loads(row.architecture),
                   weights=bytes(row.weights), source_tasks=json.loads(row.source_tasks),
                   validation_curve=json.loads(row.validation_curve), created_at=row.created_at)


def package_versions() -> dict[str, str]:
    """Versions that shaped a run's outcome, stored with every run."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("autometa", "scikit-learn", "lightgbm", "optuna", "numpy", "pandas", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def default_user_db() -> Path:
    """``$AUTOMETA_META_DB`` if set, else ``$XDG_DATA_HOME/autometa/meta_db.sqlite``."""
    import os

    env = os.environ.get("AUTOMETA_META_DB")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "autometa" / "meta_db.sqlite"


def _url_of(location: str | Path) -> str:
    text = str(location)
    if text == ":memory:":
        return "sqlite://"
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


class MetaDB:
    """The meta-database at a URL or file path.

    Args:
        location: SQLAlchemy URL, or a file path for SQLite (created if missing).

    Raises:
        OptionError: The URL is malformed or its driver is not installed.
        DataError: The file is not a database, is locked, or has another schema version.

    Example:
        >>> db = MetaDB(":memory:")  # doctest: +SKIP
    """

    def __init__(self, location: str | Path) -> None:
        self.url = _url_of(location)
        self.has_curves = True  # False: an older database this process cannot add the table to
        try:
            engine_args: dict[str, Any] = {}
            if self.url.startswith("sqlite"):
                engine_args["connect_args"] = {"timeout": 30}
            self.engine = sa.create_engine(self.url, **engine_args)
            self.schema: str | None = None
            if self.engine.dialect.name == "postgresql":
                # its own schema, so that Optuna's and MLflow's tables ("runs"!) can share the database
                self.schema = PG_SCHEMA
                self.engine = self.engine.execution_options(schema_translate_map={None: PG_SCHEMA})
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise OptionError(message(f"cannot use meta_db URL '{self._safe_url()}' ({type(exc).__name__}: {exc})",
                                      "pass a SQLAlchemy URL such as sqlite:///path.db or a file path")) from exc
        self._prepare()

    def _safe_url(self) -> str:
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:
            return "<malformed URL>"

    def _error(self, exc: Exception) -> DataError:
        first = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        if "locked" in first:
            fix = "wait for the other autometa process to finish, or use another --meta-db"
        elif "not a database" in first or "malformed" in first:
            fix = "the file is corrupt: move it away and autometa starts a new one (or pass another --meta-db)"
        else:
            fix = "check the URL, that the server runs, and the credentials"
        return DataError(message(f"meta_db '{self._safe_url()}' cannot be used ({first})", fix))

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, DatabaseError, sqlite3.DatabaseError) as exc:
            raise self._error(exc) from exc

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: gone with this process, so nothing learnt from it outlives it."""
        url = self.engine.url
        return self.engine.dialect.name == "sqlite" and (not url.database or url.database == ":memory:")

    def _sqlite_file(self) -> Path | None:
        if self.engine.dialect.name != "sqlite":
            return None
        url = self.engine.url
        if not url.database or url.database == ":memory:" or url.query.get("uri"):
            return None  # in memory, or a file: URI whose options (mode=ro, ...) are the user's
        return Path(url.database)

    def _create_file(self, path: Path) -> None:
        """Create a new SQLite file whole: SQLite's CREATE TABLE commits on its own, so the tables
        and the schema version are written to a side file that is then linked into place. Another
        process never opens a half-made database, and a creation stopped halfway leaves none."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder should be, no permission
            raise self._error(exc) from exc
        side = path.with_name(f".{path.name}.{os.getpid()}.creating")
        try:
            engine = sa.create_engine(f"sqlite:///{side}")
            try:
                with engine.begin() as conn:
                    self._create_tables(conn)
            finally:
                engine.dispose()
            try:
                os.link(side, path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError:  # a file system without hard links
                if not path.exists():
                    os.replace(side, path)
        except (OperationalError, DatabaseError, sqlite3.DatabaseError, OSError) as exc:
            raise self._error(exc) from exc
        finally:
            side.unlink(missing_ok=True)

    @staticmethod
    def _create_tables(conn: sa.Connection) -> None:
        metadata.create_all(conn)
        conn.execute(meta_info.insert(), [{"key": "schema_version", "value": str(SCHEMA_VERSION)},
                                          {"key": "created_at", "value": _now()}])

    def _prepare(self) -> None:
        path = self._sqlite_file()
        if path is not None and not path.exists():
            self._create_file(path)
        with self._tx() as conn:
            if self.schema is not None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            names = set(sa.inspect(conn).get_table_names(schema=self.schema))
            if "meta_info" not in names:
                if names & {"tasks", "runs", "configurations"}:
                    raise DataError(message(f"meta_db '{self._safe_url()}' has autometa tables but no schema version",
                                            "export what you need and start a new database"))
                self._create_tables(conn)  # in one transaction on PostgreSQL; SQLite's new files come whole
                return
            row = conn.execute(sa.select(meta_info.c.value).where(meta_info.c.key == "schema_version")).first()
            found = int(row[0]) if row else 0
        if found == SCHEMA_VERSION and "curves" not in names:
            self._add_curves_table()
        if found < SCHEMA_VERSION:
            raise DataError(message(
                f"meta_db '{self._safe_url()}' has schema version {found}, older than this autometa's {SCHEMA_VERSION}",
                "export it with an older autometa ('autometa meta-db export') and import it into a new database"))
        if found > SCHEMA_VERSION:
            raise DataError(message(
                f"meta_db '{self._safe_url()}' has schema version {found}, newer than this autometa's {SCHEMA_VERSION}",
                "upgrade autometa, or pass another --meta-db"))

    def _add_curves_table(self) -> None:
        """Create the ``curves`` table, added after schema version 1, in an older database. A
        database this process may not write to (a read-only file or role) goes on without it."""
        try:
            with self.engine.begin() as conn:
                curves.create(conn, checkfirst=True)
        except (OperationalError, DatabaseError, sqlite3.DatabaseError):
            with self._tx() as conn:  # another process may have created it meanwhile
                self.has_curves = "curves" in sa.inspect(conn).get_table_names(schema=self.schema)

    # ------------------------------------------------------------------ writing

    def add_task(self, task: TaskRow) -> int:
        """Insert a task (or return the id of the task with the same digest)."""
        with self._tx() as conn:
            return self._task_id(conn, task)

    def _task_id(self, conn: sa.Connection, task: TaskRow) -> int:
        found = conn.execute(sa.select(tasks.c.id).where(tasks.c.digest == task.digest)).first()
        if found:
            return int(found[0])
        values = {**task.__dict__, "metafeatures": json.dumps(task.metafeatures, sort_keys=True),
                  "created_at": _now()}
        return _new_id(conn.execute(tasks.insert().values(**values)))

    def _config_id(self, conn: sa.Connection, learner: str, space_version: int, params: Mapping[str, Any],
                   slot: str | None) -> int:
        from autometa.spaces import Config

        config = Config(learner, dict(params))
        digest = f"{config.digest}-v{space_version}" + (f"-{slot}" if slot else "")
        found = conn.execute(sa.select(configurations.c.id).where(configurations.c.digest == digest)).first()
        if found:
            return int(found[0])
        return _new_id(conn.execute(configurations.insert().values(
            digest=digest, learner=learner, space_version=space_version,
            params=json.dumps(config.params, sort_keys=True), slot=slot)))

    def _task_ids(self, conn: sa.Connection, digests: Sequence[str], task: TaskRow | None,
                  what: str) -> dict[str, int]:
        """Task ids by digest: ``task`` inserted if given, every other digest must be known already."""
        task_ids: dict[str, int] = {}
        if task is not None:
            task_ids[task.digest] = self._task_id(conn, task)
        for digest in digests:
            if digest not in task_ids:
                found = conn.execute(sa.select(tasks.c.id).where(tasks.c.digest == digest)).first()
                if not found:
                    raise DataError(message(f"{what} refers to unknown task {digest}", "add the task first"))
                task_ids[digest] = int(found[0])
        return task_ids

    def add_runs(self, rows: Sequence[RunRow], task: TaskRow | None = None) -> int:
        """Insert runs in one transaction (with their task, if given); returns how many."""
        versions = json.dumps(package_versions(), sort_keys=True)
        for r in rows:
            if r.status not in STATUSES or r.origin not in ORIGINS:
                raise OptionError(message(f"run status '{r.status}' / origin '{r.origin}' not allowed",
                                          f"use one of {STATUSES} / {ORIGINS}"))
        with self._tx() as conn:
            task_ids = self._task_ids(conn, [r.task_digest for r in rows], task, "run")
            for r in rows:
                config_id = self._config_id(conn, r.learner, r.space_version, r.params, r.slot)
                conn.execute(runs.insert().values(
                    task_id=task_ids[r.task_digest], config_id=config_id, metric=r.metric, direction=r.direction,
                    score=r.score, fold_scores=json.dumps(list(r.fold_scores)), fidelity=r.fidelity,
                    fit_seconds=r.fit_seconds, predict_seconds=r.predict_seconds, status=r.status,
                    error=r.error, cv=r.cv, seed=r.seed, origin=r.origin, versions=versions, created_at=_now()))
        return len(rows)

    def add_curves(self, rows: Sequence[CurveRow], task: TaskRow | None = None) -> int:
        """Insert learning-curve points in one transaction (with their task, if given)."""
        if not self.has_curves:
            raise DataError(message(f"meta_db '{self._safe_url()}' has no curves table and cannot be given one",
                                    "open it with write access once, or use another --meta-db"))
        with self._tx() as conn:
            task_ids = self._task_ids(conn, [r.task_digest for r in rows], task, "curve")
            batch = []
            for r in rows:
                batch.append({"task_id": task_ids[r.task_digest],
                              "config_id": self._config_id(conn, r.learner, r.space_version, r.params, r.slot),
                              "metric": r.metric, "direction": r.direction, "fidelity": r.fidelity,
                              "fraction": r.fraction, "score": r.score, "seconds": r.seconds, "seed": r.seed,
                              "origin": r.origin, "created_at": _now()})
            if batch:
                conn.execute(curves.insert(), batch)
        return len(rows)

    def curve_pairs(self, origin: str = "corpus") -> set[tuple[str, str | None]]:
        """(task digest, configuration slot) pairs that already have a learning curve."""
        if not self.has_curves:
            return set()
        q = (sa.select(tasks.c.digest, configurations.c.slot).distinct()
             .select_from(curves.join(tasks).join(configurations)).where(curves.c.origin == origin))
        with self._tx() as conn:
            return {(r[0], r[1]) for r in conn.execute(q)}

    def curves_frame(self) -> Any:
        """Learning-curve points joined with their task and configuration."""
        import pandas as pd

        if not self.has_curves:
            return pd.DataFrame(columns=[*curves.columns.keys(), "task_digest", "kind", "group_key", "learner",
                                         "params", "slot"])
        q = (sa.select(curves, tasks.c.digest.label("task_digest"), tasks.c.kind, tasks.c.group_key,
                       configurations.c.learner, configurations.c.params, configurations.c.slot)
             .select_from(curves.join(tasks).join(configurations)))
        with self._tx() as conn:
            return pd.read_sql(q, conn)

    def add_initialization(self, row: InitRow, *, replace: bool = False) -> None:
        """Store an initialization under its name.

        Raises:
            OptionError: The name is taken and ``replace`` is False.
        """
        with self._tx() as conn:
            if not replace:
                _check_name_free(conn, row.name)
            conn.execute(initializations.delete().where(initializations.c.name == row.name))
            conn.execute(initializations.insert().values(
                name=row.name, method=row.method, architecture=json.dumps(row.architecture, sort_keys=True),
                weights=row.weights, source_tasks=json.dumps(row.source_tasks, sort_keys=True),
                validation_curve=json.dumps(row.validation_curve),
                versions=json.dumps(package_versions(), sort_keys=True), created_at=_now()))

    def check_initialization_name(self, name: str, *, replace: bool = False) -> None:
        """Raise ``OptionError`` when ``name`` is taken and would not be replaced (before long work)."""
        if not replace:
            with self._tx() as conn:
                _check_name_free(conn, name)

    def get_initialization(self, name: str) -> InitRow:
        """The initialization called ``name``.

        Raises:
            DataError: There is none.
        """
        with self._tx() as conn:
            row = conn.execute(sa.select(initializations).where(initializations.c.name == name)).first()
        if row is None:
            with self._tx() as conn:
                names = conn.execute(sa.select(initializations.c.name).order_by(initializations.c.id)).scalars()
                known = ", ".join(names) or "none yet"
            raise DataError(message(f"no initialization named '{name}' in the meta-database (stored: {known})",
                                    "learn one with: autometa meta-train DATA --group-by COL --name NAME"))
        return _init_row(row)

    def initializations(self) -> list[InitRow]:
        """Every stored initialization, oldest first (weights included)."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(initializations).order_by(initializations.c.id)).all()
        return [_init_row(r) for r in rows]

    def get_info(self, key: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(meta_info.c.value).where(meta_info.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_info(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(meta_info.delete().where(meta_info.c.key == key))
            conn.execute(meta_info.insert().values(key=key, value=value))

    # ------------------------------------------------------------------ reading

    def state(self) -> tuple[int, int | None, int, int | None, int | None]:
        """Task count, highest task id, run count, highest run id, highest curve id: rows are only
        ever added, so a database whose state has no smaller number than an earlier one's grew
        from it."""
        with self._tx() as conn:
            n_tasks, top_task = conn.execute(sa.select(sa.func.count(), sa.func.max(tasks.c.id))).one()
            n_runs, top_run = conn.execute(sa.select(sa.func.count(), sa.func.max(runs.c.id))).one()
            n_curves = conn.execute(sa.select(sa.func.max(curves.c.id))).scalar_one() if self.has_curves else None
        return n_tasks, top_task, n_runs, top_run, n_curves

    def fingerprint(self) -> str:
        """Changes whenever a task, run or curve is added: what a cache of anything learnt from the database
        is keyed by."""
        n_tasks, top_task, n_runs, top_run, n_curves = self.state()
        return f"{self._safe_url()}|{n_tasks}:{top_task}|{n_runs}:{top_run}|{n_curves}"

    def task_digests(self, origin: str | None = None) -> set[str]:
        q = sa.select(tasks.c.digest)
        if origin:
            q = q.where(tasks.c.origin == origin)
        with self._tx() as conn:
            return {r[0] for r in conn.execute(q)}

    def done_pairs(self, origin: str = "corpus") -> set[tuple[str, str | None]]:
        """(task digest, configuration slot) pairs that already have a run of this origin."""
        q = (sa.select(tasks.c.digest, configurations.c.slot)
             .select_from(runs.join(tasks).join(configurations)).where(runs.c.origin == origin))
        with self._tx() as conn:
            return {(r[0], r[1]) for r in conn.execute(q)}

    def frame(self, table: str) -> Any:
        """A table as a pandas DataFrame (``tasks``, ``configurations``, ``runs``, ``curves``)."""
        import pandas as pd

        if table == "curves" and not self.has_curves:
            return pd.DataFrame(columns=list(curves.columns.keys()))
        with self._tx() as conn:
            return pd.read_sql(sa.select(metadata.tables[table]), conn)

    def runs_frame(self) -> Any:
        """Runs joined with their task and configuration, one row per run."""
        import pandas as pd

        q = (sa.select(runs, tasks.c.digest.label("task_digest"), tasks.c.name.label("task_name"),
                       tasks.c.kind, tasks.c.group_key, configurations.c.learner, configurations.c.params,
                       configurations.c.slot, configurations.c.space_version)
             .select_from(runs.join(tasks).join(configurations)))
        with self._tx() as conn:
            return pd.read_sql(q, conn)

    def stats(self) -> dict[str, Any]:
        """Counts for ``autometa meta-db stats``."""
        with self._tx() as conn:
            n_tasks = conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one()
            by_kind: dict[str, int] = dict(
                conn.execute(sa.select(tasks.c.kind, sa.func.count()).group_by(tasks.c.kind)).all())
            n_configs = conn.execute(sa.select(sa.func.count()).select_from(configurations)).scalar_one()
            n_runs = conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one()
            by_origin: dict[str, int] = dict(
                conn.execute(sa.select(runs.c.origin, sa.func.count()).group_by(runs.c.origin)).all())
            by_learner: dict[str, int] = dict(conn.execute(
                sa.select(configurations.c.learner, sa.func.count())
                .select_from(runs.join(configurations)).group_by(configurations.c.learner)).all())
            by_status: dict[str, int] = dict(
                conn.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)).all())
            pairs = conn.execute(sa.select(sa.func.count()).select_from(
                sa.select(runs.c.task_id, runs.c.config_id).where(runs.c.status == "ok")
                .where(runs.c.origin == "corpus").distinct().subquery())).scalar_one()
            corpus_tasks = conn.execute(sa.select(sa.func.count(sa.distinct(runs.c.task_id)))
                                        .where(runs.c.origin == "corpus")).scalar_one()
            corpus_configs = conn.execute(sa.select(sa.func.count(sa.distinct(configurations.c.slot)))
                                          .where(configurations.c.slot.is_not(None))).scalar_one()
        cells = corpus_tasks * corpus_configs
        return {"url": self._safe_url(), "schema_version": SCHEMA_VERSION, "tasks": n_tasks,
                "tasks_by_kind": by_kind, "configurations": n_configs, "runs": n_runs,
                "runs_by_origin": by_origin, "runs_by_status": by_status, "learners": by_learner,
                "fill_ratio": (pairs / cells) if cells else 0.0}

    # ------------------------------------------------------------------ export / import

    def export(self, folder: str | Path) -> list[Path]:
        """Write tasks, configurations, runs and curves as Parquet files in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for name in ("tasks", "configurations", "runs", "curves"):
            path = folder / f"{name}.parquet"
            self.frame(name).to_parquet(path, index=False)
            out.append(path)
        return out

    def import_folder(self, folder: str | Path, *, origins: Iterable[str] = ORIGINS) -> int:
        """Import Parquet files written by ``export``; returns the number of runs added.

        Tasks and configurations are matched by digest; runs already present
        (same task, configuration, origin, seed, metric and time) are skipped, and so are
        curve points already present. ``curves.parquet`` is optional (older exports lack it).
        Everything happens in one transaction.

        Raises:
            DataError: A file is missing or has wrong columns or types.
        """
        import pandas as pd

        folder = Path(folder)
        frames = {}
        for table in (tasks, configurations, runs, curves):
            path = folder / f"{table.name}.parquet"
            if table is curves and not path.is_file():
                continue
            if not path.is_file():
                raise DataError(message(f"'{path}' not found", "pass a folder written by 'autometa meta-db export'"))
            try:
                df = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several unrelated types
                raise DataError(message(f"'{path}' is not a readable Parquet file", "re-export it")) from exc
            expected = [c.name for c in table.columns]
            missing = [c for c in expected if c not in df.columns]
            if missing:
                raise DataError(message(f"'{path.name}' lacks column(s) {', '.join(missing)}",
                                        "pass files written by 'autometa meta-db export' of this schema"))
            frames[table.name] = _checked_types(df[expected], table, path.name)
        allowed = set(origins)
        with self._tx() as conn:
            task_map: dict[int, int] = {}
            for row in frames["tasks"].to_dict("records"):
                old = int(row.pop("id"))
                found = conn.execute(sa.select(tasks.c.id).where(tasks.c.digest == row["digest"])).first()
                task_map[old] = int(found[0]) if found else _new_id(conn.execute(tasks.insert().values(**row)))
            config_map: dict[int, int] = {}
            for row in frames["configurations"].to_dict("records"):
                old = int(row.pop("id"))
                found = conn.execute(sa.select(configurations.c.id)
                                     .where(configurations.c.digest == row["digest"])).first()
                config_map[old] = int(found[0]) if found else _new_id(
                    conn.execute(configurations.insert().values(**row)))
            added = _import_rows(conn, runs, frames["runs"], task_map, config_map, allowed,
                                 ("task_id", "config_id", "origin", "seed", "metric", "created_at"))
            if "curves" in frames:
                _import_rows(conn, curves, frames["curves"], task_map, config_map, allowed,
                             ("task_id", "config_id", "fidelity", "seed", "origin"))
        return added


def _import_rows(conn: sa.Connection, table: sa.Table, frame: Any, task_map: dict[int, int],
                 config_map: dict[int, int], allowed: set[str], unique: tuple[str, ...]) -> int:
    """Insert an exported table's rows (runs or curves) with their task and configuration ids
    remapped, skipping other origins and rows whose ``unique`` columns are present; returns how many."""
    existing = {tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in unique)))}
    batch = []
    for row in frame.to_dict("records"):
        row.pop("id")
        if row["origin"] not in allowed:
            continue
        row["task_id"], row["config_id"] = task_map[int(row["task_id"])], config_map[int(row["config_id"])]
        key = tuple(row[c] for c in unique)
        if key not in existing:
            existing.add(key)
            batch.append({k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()})
    if batch:
        conn.execute(table.insert(), batch)
    return len(batch)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _checked_types(df: Any, table: sa.Table, name: str) -> Any:
    import pandas as pd

    for col in table.columns:
        values = df[col.name]
        if isinstance(col.type, (sa.Integer, sa.Float)):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            if bad.any() or (not col.nullable and values.isna().any()):
                raise DataError(message(f"'{name}' column '{col.name}' must hold numbers"
                                        f"{'' if col.nullable else ' without gaps'}",
                                        "pass files written by 'autometa meta-db export'"))
        elif isinstance(col.type, (sa.String, sa.Text)) and not col.nullable and values.isna().any():
            raise DataError(message(f"'{name}' column '{col.name}' has missing values",
                                    "pass files written by 'autometa meta-db export'"))
    return df
