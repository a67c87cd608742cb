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
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_home_template(tmp_path_factory) -> Path:
    """A Prefect home whose database is already migrated: a command-line run given a copy of it
    starts its temporary server in about 3 s instead of 10 (what a data directory's second night
    costs, its .prefect/ kept)."""
    import subprocess

    home = tmp_path_factory.mktemp("prefect-home-template")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = str(Path(sys.executable).with_name("prefect"))
    subprocess.run([prefect, "server", "database", "upgrade", "-y"], env=env, check=True, capture_output=True,
                   timeout=300)
    return home


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
