import os
import sys
import tempfile
from pathlib import Path

# Prefect reads its settings at import: keep its home out of the user's, and the network out.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="perfone-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden on purpose")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory) -> Path:
    """A Prefect server for flows run in the test process. Its database is migrated once a worker
    (20-30 s on a slow machine), and a copy of it, fresh, is the Prefect home of command-line runs
    (`prefect_home_template`): one migration a worker instead of two."""
    import contextlib
    import sqlite3

    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        database = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1]
        home = tmp_path_factory.mktemp("prefect-home-template")
        with contextlib.closing(sqlite3.connect(database)) as live, \
                contextlib.closing(sqlite3.connect(home / "prefect.db")) as copy:
            live.backup(copy)
        yield home


@pytest.fixture(scope="session")
def prefect_home_template(prefect_harness) -> Path:
    """A Prefect home whose database is already migrated: a command-line run given a copy of it
    starts its temporary server without migrating (10-20 s less), as a data directory's second
    night does, its .prefect/ kept."""
    return prefect_harness


@pytest.fixture
def cli_env(prefect_home_template, tmp_path):
    """The environment of a command-line run: none of the test session's Prefect settings, and a
    private copy of the migrated Prefect home. `cli_env(**extra)` adds variables."""
    import shutil

    home = tmp_path / "prefect-home"
    shutil.copytree(prefect_home_template, home)
    base = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}, "PREFECT_HOME": str(home)}
    return lambda **extra: {**base, **extra}


@pytest.fixture
def sample_copy(tmp_path):
    """sample_copy(name): a fresh copy of the bundled sample's inputs (inbox and sources.toml) in
    tmp_path/name/data, a data directory of its own."""
    import shutil

    from flows.nightly import DEFAULT_DATA_DIR

    def copy(name: str = "sample") -> Path:
        target = tmp_path / name / "data"
        shutil.copytree(DEFAULT_DATA_DIR / "inbox", target / "inbox")
        shutil.copy(DEFAULT_DATA_DIR / "sources.toml", target / "sources.toml")
        return target

    return copy
