"""Tracking: the only module that imports mlflow.

``MlflowTracker`` writes one parent run per fit and one child run per trial,
through an explicit ``MlflowClient`` (no global active run is left behind).
``NullTracker`` does nothing, for fits with tracking turned off. The model
verbs ``save_model`` / ``load_model`` also live here, since an autometa model
is an MLflow model (scikit-learn and pyfunc flavours).

Where runs go: the ``tracking_uri`` given, else ``MLFLOW_TRACKING_URI``, else
MLflow's own default (``sqlite:///mlflow.db`` in the working directory, where
``mlflow ui`` finds it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from autometa.data import AutoMetaWarning
from autometa.skops_io import import_skops, linear_dumps, untrusted_types
from autometa.trust import check_trusted

if TYPE_CHECKING:
    import pandas as pd

    from autometa.records import TrialRecord

__all__ = ["DatasetRef", "MlflowTracker", "NullTracker", "Tracker", "check_store", "list_fits", "load_model",
           "read_fits", "save_model"]

MAX_PARAM_LENGTH = 6000
SQL_STORES = ("sqlite", "postgresql", "mysql", "mssql")  # URI schemes MLflow's SQLAlchemy store serves
SCHEMA_CELLS = 100_000  # the cells of the table that MLflow's dataset schema is inferred from (``_dataset_input``)


@dataclass(frozen=True)
class DatasetRef:
    """The data a fit trained on, as MLflow's dataset tracking shows it (schema, digest, source)."""

    frame: pd.DataFrame
    name: str
    digest: str
    target: str
    source: str | None = None  # the file it was read from


class Tracker(Protocol):
    """Receives a fit's story: its start, each trial, its end."""

    location: str
    run_id: str | None

    def start_fit(self, *, experiment: str, run_name: str, params: Mapping[str, Any],
                  tags: Mapping[str, str], metrics: Mapping[str, float] | None = None,
                  dataset: DatasetRef | None = None) -> str | None:
        """Open the parent run; returns its id (None when not tracking)."""

    def log_trial(self, record: TrialRecord, metric: str, tags: Mapping[str, str] | None = None) -> None:
        """Record one finished trial as a child run (``tags`` added to its own)."""

    def finish_fit(self, *, metrics: Mapping[str, float], artifacts: Mapping[str, Path],
                   model: Any = None, input_example: Any = None, status: str = "FINISHED",
                   tags: Mapping[str, str] | None = None, model_dir: Path | None = None) -> None:
        """Close the parent run with its results; ``model_dir``: where ``model`` was already saved
        (``save_model``), logged from there instead of being serialized again."""


class NullTracker:
    """A tracker that records nothing (tracking turned off)."""

    location = "(tracking off)"
    run_id: str | None = None

    def start_fit(self, *, experiment: str, run_name: str, params: Mapping[str, Any],
                  tags: Mapping[str, str], metrics: Mapping[str, float] | None = None,
                  dataset: DatasetRef | None = None) -> str | None:
        return None

    def log_trial(self, record: TrialRecord, metric: str, tags: Mapping[str, str] | None = None) -> None:
        return None

    def finish_fit(self, *, metrics: Mapping[str, float], artifacts: Mapping[str, Path],
                   model: Any = None, input_example: Any = None, status: str = "FINISHED",
                   tags: Mapping[str, str] | None = None, model_dir: Path | None = None) -> None:
        return None


def resolve_uri(tracking_uri: str | None) -> str:
    """The tracking URI a fit uses (see the module docstring)."""
    import mlflow

    if tracking_uri:
        return tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()


class MlflowTracker:
    """Writes a fit to an MLflow tracking store.

    Args:
        tracking_uri: The store; see ``resolve_uri``.
        register: Also register the fit's final model under this name in the store's model
            registry (a new version each fit).

    When the store cannot be reached (a server down, a file store it cannot
    write), the fit goes on: a warning is printed once, and what could not be
    written waits in memory and is written, in order, as soon as the store
    answers again, at the latest when the fit ends. Only if the store is still
    unreachable then are those runs lost (the fit's model and leaderboard are
    saved in its output folder either way).
    """

    def __init__(self, tracking_uri: str | None = None, *, register: str | None = None) -> None:
        self.uri = resolve_uri(tracking_uri)
        self.register = register
        self._opening: _Opening | None = None
        if self.uri.partition(":")[0].partition("+")[0] in SQL_STORES:
            # MLflow's SQL store module takes 0.6 s to import: imported with mlflow, before the fit
            # and its time budget start, rather than at the fit's first write
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

            # and a new database's tables take it a second to create: on a thread, while the fit
            # sets up and its first trials train; the writes wait for it (``_write``)
            self._opening = _Opening(self.uri)
        if self.uri.startswith("http"):  # a down server: fail in seconds, not after minutes of retries
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
            # MLflow prints two "View run" lines per finished run to a server (and fetches the run
            # to do it): that would flood the progress display and break `--json` output
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self._client: Any = None
        self.location = self.uri
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._warned = False
        self._pending: list[Callable[[], None]] = []
        self._retry_at = 0.0

    @property
    def client(self) -> Any:
        if self._client is None:
            opening, self._opening = self._opening, None
            if opening is not None:  # (what opening its store raised is the first write's: ``flush``)
                self._client = opening.result()
            else:
                from mlflow import MlflowClient

                self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    retry_seconds = 30.0  # after a failure, writes wait this long before the store is tried again

    def _write(self, step: Callable[[], None], *, now: bool = False) -> None:
        """Run ``step`` after the steps still waiting; if the store fails, keep it for later."""
        self._pending.append(step)
        if now or (time.monotonic() >= self._retry_at and not (self._opening and self._opening.busy())):
            self.flush()

    def flush(self) -> bool:
        """Write what waits, in order; returns whether everything is written."""
        from mlflow.exceptions import MlflowException

        while self._pending:
            try:
                self._pending[0]()
            except (MlflowException, OSError) as exc:
                self._client = None  # a new client (and store) on the next try
                self._retry_at = time.monotonic() + self.retry_seconds
                if not self._warned:
                    warnings.warn(f"MLflow store {self.uri} unreachable ({type(exc).__name__}: {str(exc)[:150]}); "
                                  "the fit goes on and its runs are written when the store answers again",
                                  AutoMetaWarning, stacklevel=3)
                    self._warned = True
                return False
            self._pending.pop(0)
        return True

    def start_fit(self, *, experiment: str, run_name: str, params: Mapping[str, Any],
                  tags: Mapping[str, str], metrics: Mapping[str, float] | None = None,
                  dataset: DatasetRef | None = None) -> str | None:
        def step() -> None:
            exp = self.client.get_experiment_by_name(experiment)
            self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(experiment)
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
            self.run_id = run.info.run_id
            self._log(self.run_id, params=params, metrics=metrics or {})
            if dataset is not None:
                self.client.log_inputs(self.run_id, datasets=[_dataset_input(dataset)])

        self._write(step)
        return self.run_id

    def _log(self, run_id: str, *, params: Mapping[str, Any] = (),  # type: ignore[assignment]
             metrics: Mapping[str, float] = (), steps: Mapping[str, Mapping[int, float]] = (),  # type: ignore[assignment]
             tags: Mapping[str, str] = ()) -> None:  # type: ignore[assignment]
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ps = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in dict(params).items()]
        ms = [Metric(k, float(v), now, 0) for k, v in dict(metrics).items()]
        for key, series in dict(steps).items():
            ms += [Metric(key, float(v), now, int(s)) for s, v in series.items()]
        ts = [RunTag(k, str(v)) for k, v in dict(tags).items()]
        for i in range(0, max(len(ps), len(ms), len(ts), 1), 100):  # MLflow's batch limits
            self.client.log_batch(run_id, metrics=ms[i:i + 1000], params=ps[i:i + 100], tags=ts[i:i + 100])

    def log_trial(self, record: TrialRecord, metric: str, tags: Mapping[str, str] | None = None) -> None:
        end = int(time.time() * 1000)
        extra = dict(tags or {})

        def step() -> None:
            if self.run_id is None or self.experiment_id is None:
                return
            run = self.client.create_run(
                self.experiment_id,
                run_name=f"trial-{record.number}",
                start_time=end - int(record.duration * 1000),
                tags={"mlflow.parentRunId": self.run_id, "autometa.learner": record.config.learner,
                      "autometa.state": record.state, "autometa.source": record.source,
                      "autometa.trial": str(record.number)},
            )
            metrics: dict[str, float] = {"duration_s": record.duration}
            if record.value is not None:
                metrics[metric] = record.value
            metrics.update({f"{metric}_fold{i}": s for i, s in enumerate(record.fold_scores)})
            params: dict[str, Any] = {"learner": record.config.learner, **record.config.params}
            tags = {"autometa.error": record.error} if record.error else {}
            tags.update(extra)
            if record.fidelity is not None:
                metrics["fidelity"] = record.fidelity
            self._log(run.info.run_id, params=params, metrics=metrics, tags=tags,
                      steps={f"{metric}_intermediate": record.intermediate})
            self.client.set_terminated(run.info.run_id, "FAILED" if record.state == "failed" else "FINISHED",
                                       end_time=end)

        self._write(step)

    def finish_fit(self, *, metrics: Mapping[str, float], artifacts: Mapping[str, Path],
                   model: Any = None, input_example: Any = None, status: str = "FINISHED",
                   tags: Mapping[str, str] | None = None, model_dir: Path | None = None) -> None:
        def step() -> None:
            if self.run_id is None:
                return
            self._log(self.run_id, metrics=metrics, tags=tags or {})
            for folder, path in artifacts.items():  # a file, or a folder's files
                log = self.client.log_artifacts if Path(path).is_dir() else self.client.log_artifact
                log(self.run_id, str(path), artifact_path=folder or None)
            if model is not None:
                import mlflow

                mlflow.set_tracking_uri(self.uri)
                with mlflow.start_run(run_id=self.run_id):
                    if model_dir is not None and (Path(model_dir) / "MLmodel").is_file():
                        _log_saved(Path(model_dir), self.register)
                    else:
                        _log_model(model, input_example, self.register)
            self.client.set_terminated(self.run_id, status)

        self._write(step, now=True)
        if self._pending:  # the artifacts are temporary files: this is the last chance
            self._pending.clear()
            warnings.warn(f"MLflow store {self.uri} still unreachable at the end of the fit: its runs were not "
                          "recorded there (the model and leaderboard are in the output folder)",
                          AutoMetaWarning, stacklevel=2)

    def run_url(self) -> str | None:
        """A link to the parent run in the MLflow UI when the store is a server."""
        if self.run_id is None or not self.uri.startswith("http"):
            return None
        return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"


class _Opening:
    """An MLflow client whose store opens on a thread: MLflow creates a new SQL database's
    tables, and migrates an old one's, on the client's creation (a second for a new SQLite file).
    ``result`` waits for it and returns the client, or raises what opening the store raised."""

    def __init__(self, uri: str) -> None:
        self._client: Any = None
        self._error: BaseException | None = None
        # not a daemon: an interrupted fit's exit waits for the tables rather than leave them half made
        self._thread = threading.Thread(target=self._open, args=(uri,), name="autometa-mlflow-store")
        self._thread.start()

    def _open(self, uri: str) -> None:
        try:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=uri)
        except BaseException as exc:  # raised again by ``result``, in the caller's thread
            self._error = exc

    def busy(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client


FIT_RUNS = "tags.`autometa.kind` = 'fit'"  # a fit's parent run


def _experiments(client: Any, experiment: str | None) -> dict[str, str]:
    """Experiment ids to names: all of them, or the one called ``experiment``.

    Raises:
        DataError: No experiment has that name.
    """
    from autometa.errors import DataError, message

    if experiment is None:
        return {e.experiment_id: e.name for e in client.search_experiments()}
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise DataError(message(f"no MLflow experiment named '{experiment}'", "check --experiment"))
    return {exp.experiment_id: exp.name}


def _search_runs(client: Any, ids: list[str], filter_string: str, *, order_by: list[str] | None = None,
                 limit: int | None = None) -> list[Any]:
    """Every run matching ``filter_string`` (page by page), or the first ``limit``."""
    out: list[Any] = []
    token = None
    while ids:
        page = client.search_runs(ids, filter_string=filter_string, order_by=order_by,
                                  max_results=min(limit or 1000, 1000), page_token=token)
        out.extend(page)
        token = page.token
        if not token or (limit is not None and len(out) >= limit):
            break
    return out[:limit] if limit is not None else out


def read_fits(tracking_uri: str | None = None, experiment: str | None = None) -> list[dict[str, Any]]:
    """Past autometa fits in a tracking store: each parent run with its trial runs.

    Returns:
        One dict per fit: ``run_id``, ``status``, ``params``, ``metrics`` and ``trials``
        (each with ``params``, ``metrics`` and ``tags``), as MLflow stores them (values are strings).
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=resolve_uri(tracking_uri))
    ids = list(_experiments(client, experiment))
    fits = []
    for parent in _search_runs(client, ids, FIT_RUNS):
        children = _search_runs(client, ids, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        fits.append({"run_id": parent.info.run_id, "status": parent.info.status,
                     "params": dict(parent.data.params), "metrics": dict(parent.data.metrics),
                     "trials": [{"params": dict(c.data.params), "metrics": dict(c.data.metrics),
                                 "tags": dict(c.data.tags)} for c in children]})
    return fits


def check_store(tracking_uri: str | None) -> str:
    """The store's URI, after checking that a local store exists (reading a missing SQLite file
    would create an empty one and show nothing).

    Raises:
        DataError: A ``sqlite:///`` or ``file:`` store that does not exist.
    """
    from autometa.errors import DataError, message

    uri = resolve_uri(tracking_uri)
    local = None
    if uri.startswith("sqlite:///"):
        local = Path(uri[len("sqlite:///"):])
    elif uri.startswith("file:") or "://" not in uri:
        local = Path(uri.removeprefix("file://").removeprefix("file:"))
    if local is not None and str(local) not in ("", ":memory:") and not local.exists():
        raise DataError(message(f"no MLflow store at '{uri}' (nothing was tracked there yet)",
                                "run 'autometa fit DATA' first, or pass --tracking-uri with the store fits wrote to"))
    return uri


def list_fits(tracking_uri: str | None = None, experiment: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
    """Past autometa fits in a store, newest first: one dict per fit with ``run_id``, ``experiment``,
    ``experiment_id``, ``dataset``, ``started`` (ISO time, UTC), ``status``, ``metric``, ``best_score``,
    ``ensemble_score``, ``n_trials`` and ``run_name``.

    Raises:
        DataError: No such store, or no such experiment.
    """
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    from autometa.errors import AutoMetaError, DataError, message

    uri = check_store(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        experiments = _experiments(client, experiment)
        runs = _search_runs(client, list(experiments), FIT_RUNS, order_by=["attributes.start_time DESC"],
                            limit=limit)
    except AutoMetaError:
        raise
    except Exception as exc:  # not an MLflow store, or one that cannot be read
        raise DataError(message(f"cannot read the MLflow store at '{uri}' ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:120]})",
                                "pass --tracking-uri with the store 'autometa fit' wrote to")) from exc
    fits: list[dict[str, Any]] = []
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        metric = params.get("metric", "")
        fits.append({
            "run_id": run.info.run_id, "experiment": experiments.get(run.info.experiment_id, ""),
            "experiment_id": run.info.experiment_id,
            "dataset": params.get("dataset", run.data.tags.get("autometa.dataset", "")),
            "started": datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(timespec="seconds"),
            "status": run.info.status, "metric": metric, "best_score": metrics.get(f"best_{metric}"),
            "ensemble_score": metrics.get(f"ensemble_{metric}"),
            "n_trials": int(metrics["n_trials"]) if "n_trials" in metrics else None,
            "run_name": run.info.run_name,
        })
    return fits


def _requirements(types: list[str]) -> list[str]:
    """The model's pip requirements: the core, plus CatBoost or XGBoost when it holds their models."""
    from importlib import import_module
    from importlib.metadata import version

    pkgs = ["scikit-learn", "lightgbm", "pandas", "numpy", "skops"]
    out = [f"{p}=={version(p)}" for p in pkgs]
    # by module version: the installed distribution may be xgboost-cpu
    return out + [f"{p}=={import_module(p).__version__}" for p in ("catboost", "xgboost")
                  if any(t.startswith(f"{p}.") for t in types)]


def _trusted_types(model: Any) -> list[str]:
    """The types skops must trust to load ``model``, refused unless all are on the allowlist.

    Listing them costs a serialization: the model's own, kept for its save (``_dumped_once``),
    which then writes those bytes instead of serializing it again (a 60 s fit's regression stack
    of 153 MB: 2.7 s for the listing alone, when it serialized a copy of the stack cut to one fold
    of each bag).
    """
    sio = import_skops()

    with linear_dumps():
        data = sio.dumps(model)
    types = check_trusted(untrusted_types(data), "the model")
    with contextlib.suppress(TypeError):  # not weak-referenceable: its save serializes it again
        _DUMPED[model] = data
    return types


_DUMPED: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()  # models' skops bytes, until saved


@contextlib.contextmanager
def _dumped_once() -> Iterator[None]:
    """Inside, skops' ``dump`` of a model that ``_trusted_types`` serialized writes those bytes
    (once: they are let go) instead of serializing it again; any other object is dumped."""
    sio: Any = import_skops()
    dump = sio.dump

    def reuse(obj: Any, file: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            data = _DUMPED.pop(obj, None)
        except TypeError:  # not weak-referenceable
            data = None
        if data is None:
            return dump(obj, file, *args, **kwargs)
        if hasattr(file, "write"):
            file.write(data)
        else:
            Path(file).write_bytes(data)
        return None

    sio.dump = reuse
    try:
        yield
    finally:
        sio.dump = dump


def _signature(model: Any, input_example: Any) -> Any:
    from mlflow.models import infer_signature

    example = input_example.copy()
    for c in example.columns:  # numbers as double so prediction data with gaps still passes
        if example[c].dtype.kind in "iub":
            example[c] = example[c].astype("float64")
        elif example[c].dtype.kind != "f":
            example[c] = example[c].astype(str).where(example[c].notna(), "")
    return infer_signature(example, _output_example(model, input_example)), example


def _output_example(model: Any, input_example: Any) -> Any:
    """What ``model.predict`` returns on the input example, for the signature's output type.

    A classifier predicts labels of its ``classes_`` (scikit-learn's contract, and the
    ensembles'): taken from there, since predicting even five rows runs every fold model of a
    stack's bags (3.2 s of a 60 s fit's write on a ten-class table). autometa's bags and
    ensembles of regressors predict one value per row of their ``values_dtype`` (0.8 s of a 60 s
    fit's write, predicted). Any other regressor predicts."""
    import numpy as np

    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes):
        return np.asarray(classes)[np.zeros(len(input_example), dtype=int)]
    dtype = getattr(model, "values_dtype", None)
    if dtype is not None:
        return np.zeros(len(input_example), dtype=dtype)
    return model.predict(input_example)


_KWARGS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _model_kwargs(model: Any, input_example: Any) -> dict[str, Any]:
    """MLflow's save arguments for a model, computed once per model (a fit both saves the model
    to its output folder and logs it to MLflow: serializing to list its types costs a dump)."""
    try:
        return _KWARGS[model]
    except (KeyError, TypeError):
        pass
    signature, example = _signature(model, input_example)
    types = _trusted_types(model)
    kwargs = {"serialization_format": "skops", "skops_trusted_types": types,
              "signature": signature, "input_example": example, "pip_requirements": _requirements(types)}
    with contextlib.suppress(TypeError):  # not weak-referenceable: computed again next time
        _KWARGS[model] = kwargs
    return kwargs


@contextlib.contextmanager
def _pinned_requirements() -> Iterator[None]:
    """Skip MLflow's check of a model's pip requirements against the installed packages while it
    is saved. ``_requirements`` pins each one to the installed version, so the check cannot find
    a mismatch, and its first call maps every installed distribution to its modules (0.5 s,
    inside the fit's time budget). Where MLflow no longer has the check, nothing is changed."""
    import mlflow.utils.environment as environment

    check = getattr(environment, "warn_dependency_requirement_mismatches", None)
    if check is None:
        yield
        return
    environment.warn_dependency_requirement_mismatches = lambda model_requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


@contextlib.contextmanager
def _no_load_back() -> Iterator[None]:
    """Skip MLflow's reading back of the skops file it has just written, while a model is saved.

    ``mlflow.sklearn`` loads the whole file again (every object rebuilt) to check that its types
    are the trusted ones: 1.7 times the dump's seconds, on a bag of boosted models 55% of the
    write. ``_trusted_types`` has checked them already, on the same bytes, and ``load_model``
    checks them again. Only a load called by MLflow's own save
    function is skipped; where MLflow no longer has that function, nothing is changed."""
    import mlflow.sklearn

    sio: Any = import_skops()
    saver = getattr(mlflow.sklearn, "_save_model", None)
    if saver is None:
        yield
        return
    load = sio.load

    def unless_saving(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_code is saver.__code__:  # MLflow's check of what it just wrote
            return None
        return load(*args, **kwargs)

    sio.load = unless_saving
    try:
        yield
    finally:
        sio.load = load


@contextlib.contextmanager
def _saving() -> Iterator[None]:
    """The context in which MLflow saves or logs a model: skops' writer at linear cost
    (``skops_io.linear_dumps``), without MLflow's requirements check (``_pinned_requirements``),
    its read-back of the file (``_no_load_back``) or a second serialization of a model whose types
    were listed (``_dumped_once``)."""
    with linear_dumps(), _pinned_requirements(), _no_load_back(), _dumped_once():
        yield


def _log_model(model: Any, input_example: Any, register: str | None = None) -> None:
    import mlflow.sklearn

    kwargs = _model_kwargs(model, input_example)
    with _saving():
        mlflow.sklearn.log_model(model, name="model", registered_model_name=register, **kwargs)


class _SavedFolder:
    """An MLflow "flavor" that saves a model by copying a folder ``save_model`` already wrote:
    ``Model.log`` then records it as the run's logged model without serializing it again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.__name__ = "mlflow.sklearn"

    def save_model(self, path: str, mlflow_model: Any, **kwargs: Any) -> None:
        from mlflow.models import Model

        saved = Model.load(str(self.folder))
        shutil.copytree(self.folder, path, ignore=shutil.ignore_patterns("MLmodel"))
        for key in ("flavors", "signature", "saved_input_example_info", "model_size_bytes", "metadata"):
            value = getattr(saved, key, None)
            if value is not None:
                setattr(mlflow_model, key, value)
        mlflow_model.save(str(Path(path) / "MLmodel"))


def _log_saved(folder: Path, register: str | None = None) -> None:
    """Log the model that ``save_model`` wrote to ``folder`` (types checked when it was saved)."""
    from mlflow.models import Model

    Model.log(None, _SavedFolder(folder), name="model", registered_model_name=register,
              validate_serving_input=False)


def _dataset_input(ref: DatasetRef) -> Any:
    """MLflow's record of a training dataset: name, digest, schema, row count and source file.

    The schema is inferred from the first rows, as many as hold ``SCHEMA_CELLS`` cells and at most
    1,000 (MLflow checks each cell for a missing value: on the whole table it took 7 s for
    200,000 x 51, and on 1,000 rows of a 1,500-column table 3.2 s); the row and element counts are
    the whole table's.
    """
    import json

    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset, DatasetInput, InputTag

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow warns that a local path source is "not an artifact"
        rows = max(1, min(1000, SCHEMA_CELLS // ref.frame.shape[1]))  # (the frame holds the target)
        ds = from_pandas(ref.frame.head(rows), targets=ref.target, name=ref.name,
                         digest=ref.digest[:36] if ref.digest else None,
                         **({"source": ref.source} if ref.source else {}))
        sample = ds._to_mlflow_entity()
    profile = json.dumps({"num_rows": len(ref.frame), "num_elements": int(ref.frame.size)})
    entity = Dataset(name=sample.name, digest=sample.digest, source_type=sample.source_type, source=sample.source,
                     schema=sample.schema, profile=profile)
    return DatasetInput(dataset=entity, tags=[InputTag(key="mlflow.data.context", value="training")])


def save_model(model: Any, path: str | Path, input_example: Any) -> Path:
    """Save a fitted model as an MLflow model (scikit-learn and pyfunc flavours).

    The model is stored with skops, which loads only the types listed in the
    MLmodel file; ``load_model`` refuses a file that lists types outside
    autometa's allowlist (autometa, scikit-learn, LightGBM, NumPy, SciPy).
    """
    import mlflow.sklearn

    kwargs = _model_kwargs(model, input_example)
    with _saving():
        mlflow.sklearn.save_model(model, str(path), **kwargs)
    return Path(path)


def load_model(path: str | Path) -> Any:
    """Load a model saved by ``save_model``, after checking the types it needs.

    Raises:
        DataError: The MLmodel file asks to trust types outside the allowlist.
    """
    import mlflow.sklearn
    import yaml

    spec = yaml.safe_load((Path(path) / "MLmodel").read_text(encoding="utf-8")) or {}
    flavor = spec.get("flavors", {}).get("sklearn", {})
    check_trusted(list(flavor.get("skops_trusted_types") or []), f"the model in '{path}'")
    import_skops()  # before MLflow imports it (and torch with it)
    return mlflow.sklearn.load_model(str(path))
