"""The MLflow UI on loopback, against the store that ``autometa fit`` writes to.

``UiServer`` runs ``mlflow server`` as a child process (one worker, 127.0.0.1 only), waits until
it answers, and stops it with its whole process tree. mlflow is not imported here: the server is
its own process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from autometa.errors import DataError, OptionError, message

__all__ = ["HOST", "UiServer", "free_port", "runs_page"]

HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # seconds; the server takes ~20 s on an idle 2-core machine


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _check_port(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise OptionError(message(f"port {port} on {HOST} is in use ({exc.strerror})",
                                      "pass --port with a free port, or --port 0 for any free one")) from None


def runs_page(base: str, experiment_id: str | None, run_id: str | None = None) -> str:
    """The UI's address for an experiment's training runs (or one run); its default experiment
    page shows GenAI traces, not runs."""
    if experiment_id is None:
        return f"{base}/#/experiments"
    page = f"{base}/#/experiments/{experiment_id}/runs"
    return f"{page}/{run_id}" if run_id else page


class UiServer:
    """``mlflow server`` on ``127.0.0.1:port`` for ``tracking_uri``, as a context manager.

    Example:
        >>> with UiServer("sqlite:///mlflow.db", port=0) as ui:   # doctest: +SKIP
        ...     print(ui.url)
    """

    def __init__(self, tracking_uri: str, port: int = 5000, *, log: Path | None = None) -> None:
        if port < 0 or port > 65535:
            raise OptionError(message(f"--port {port} is not a TCP port", "pass a port between 1 and 65535, or 0"))
        self.uri = tracking_uri
        self.port = port or free_port()
        _check_port(self.port)
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> UiServer:
        """Start the server and wait until ``/health`` answers.

        Raises:
            DataError: The server exited or did not answer within ``timeout`` seconds.
        """
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(self.port),
               "--workers", "1", "--backend-store-uri", self.uri]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        sink = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
        try:
            self.process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        finally:
            if self.log:
                sink.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] if self.log else []
                raise DataError(message(f"the MLflow UI server exited (code {self.process.returncode}"
                                        + (f": {tail[0][:200]}" if tail else "") + ")",
                                        "check --tracking-uri and that mlflow is installed"))
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return self
            time.sleep(0.5)
        self.stop()
        raise DataError(message(f"the MLflow UI server did not answer within {timeout:.0f} s",
                                "retry; a busy machine starts it slower"))

    def wait(self) -> int:
        """Block until the server ends (Ctrl-C ends it); returns its exit code."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, grace: float = 15.0) -> None:
        """End the server and its worker processes (SIGTERM to its group, SIGKILL after ``grace`` s)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
