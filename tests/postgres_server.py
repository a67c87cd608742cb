"""A throwaway PostgreSQL server for tests that need the real database (the CRM's loading scripts).

One server per test session, on a free port of 127.0.0.1 with trust authentication, its data in a
temporary folder; stopped and removed at the end whatever happens. PostgreSQL refuses to run as
root, so under root (containers, CI) the server runs as Debian's `postgres` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {searched}: "
    "install Debian's `postgresql` package (apt-get install -y postgresql; CI's .ci/run does it)"
)
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start: the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `url` connects as the superuser `postgres` to the database `postgres`."""

    bindir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def server_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: `pg_config --bindir` (libpq's pg_config may
    point there without the server installed), else Debian's folders, the newest version first."""
    candidates = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=lambda p: int(p.parent.name), reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / program, os.X_OK) for program in SERVER_PROGRAMS):
            return bindir
    raise PostgresUnavailable(INSTALL_HINT.format(searched=" or ".join(sorted({str(c) for c in candidates}))))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_user() -> str | None:
    """The system user to run the server as: None for the current one, `postgres` under root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root, and PostgreSQL refuses root: no `postgres` system user to run it as "
            "(Debian's `postgresql` package creates it)"
        ) from None
    return "postgres"


def run_as(user: str | None, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run(prefix + command, cwd=cwd, capture_output=True, text=True, timeout=120)


def postmaster_pid(data: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    return None


def running(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, waiting for init to reap it) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop(bindir: Path, user: str | None, base: Path) -> None:
    """Stop the server started in `base` (pg_ctl; the postmaster's own pid if pg_ctl fails)."""
    data = base / "data"
    pid = postmaster_pid(data)
    if pid is None:
        return
    run_as(user, [str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30"], base)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if wait_gone(pid, 5):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    wait_gone(pid, 5)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh server; on leaving, stop it and delete its folder, even after an error."""
    bindir, user = server_bindir(), server_user()
    base = Path(tempfile.mkdtemp(prefix="perfone-postgres-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    try:
        sockets.mkdir(mode=0o700)
        if user:
            entry = pwd.getpwnam(user)
            for folder in (base, sockets):
                os.chown(folder, entry.pw_uid, entry.pw_gid)
        init = run_as(
            user,
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-locale", "--no-sync"],
            base,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed in {base}:\n{init.stdout}{init.stderr}")
        port = free_port()
        settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{sockets}'"}
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        start = run_as(
            user, [str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60"], base
        )
        if start.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed:\n{start.stdout}{start.stderr}{server_log}")
        yield PostgresServer(bindir=bindir, port=port)
    finally:
        try:
            stop(bindir, user, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The connection string of the session's throwaway server (superuser, database `postgres`)."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_postgres()).url
        except PostgresUnavailable as problem:
            message = str(problem)
        else:
            yield url
            return
    pytest.fail(message, pytrace=False)
