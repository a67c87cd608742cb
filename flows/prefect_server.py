"""The temporary Prefect API server of a command-line run, tied to the life of that run.

Without a server to talk to, Prefect starts one of its own in a child process, which outlives a
run killed with SIGKILL (about 215 MB each, left running). The command line starts the same
server itself instead, asking the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), and
points Prefect at it; a normal end stops it. Nothing of a run is left behind, however it ends.
Only the command line does this: a deployment's runs talk to the real server.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

STARTUP_SECONDS = 120
PR_SET_PDEATHSIG = 1


class PrefectServerError(RuntimeError):
    """The temporary server would not start; the message says why."""


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel sends it SIGKILL when the parent goes away."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prefect_package() -> Path:
    return Path(importlib.util.find_spec("prefect").submodule_search_locations[0])


@contextlib.contextmanager
def temporary_server(meanwhile: Callable[[], object] | None = None) -> Iterator[str]:
    """Run a Prefect API server for the block; PREFECT_API_URL points at it meanwhile.

    `meanwhile` runs while the server starts (the run's imports: a few seconds each, on two cores
    they overlap). PREFECT_API_URL is set before it, as Prefect reads its settings when imported."""
    if os.environ.get("PREFECT_API_URL"):
        if meanwhile is not None:
            meanwhile()
        yield os.environ["PREFECT_API_URL"]  # a real server is configured: use it
        return
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(_prefect_package().parent), "--factory",
               "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "error", "--lifespan", "on"]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    log = Path(os.environ.get("PREFECT_HOME", ".")) / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=output, preexec_fn=_die_with_parent)
    try:
        os.environ["PREFECT_API_URL"] = api
        if meanwhile is not None:
            meanwhile()
        _wait_until_healthy(server, api, log)
        yield api
    finally:
        _drain_prefect()
        os.environ.pop("PREFECT_API_URL", None)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


DRAIN_SECONDS = 10
WORKERS = (("prefect.logging.handlers", "APILogWorker"), ("prefect.events.worker", "EventsWorker"))
"""Prefect's background senders of logs and events: they must finish before the server goes, or
they retry against it at the interpreter's exit and the process hangs."""


def _drain_prefect() -> None:
    for module, name in WORKERS:
        worker = getattr(sys.modules.get(module), name, None)
        if worker is not None:
            worker.drain_all(timeout=DRAIN_SECONDS)


def _wait_until_healthy(server: subprocess.Popen, api: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            problem = log.read_text(errors="replace").strip().splitlines()
            raise PrefectServerError(f"the temporary Prefect server stopped at start (exit {server.returncode})"
                                     + (f": {problem[-1]}" if problem else ""))
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise PrefectServerError(f"the temporary Prefect server did not answer within {STARTUP_SECONDS} s")
