"""The customer parts computed on a Dask cluster (two worker processes on this machine) publish
exactly the bytes of the single-machine run."""

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from flows.nightly import DEFAULT_DATA_DIR

DAY = "2026-03-31"
OUTPUTS = ("balances.csv", "balances.parquet", "balances_delta.csv", "exceptions.csv", "exceptions.parquet",
           "movements.parquet", "lots.parquet", "rollforward.csv", "restatements.csv", "restatements.parquet")


def test_parts_on_a_local_dask_cluster_publish_the_bytes_of_a_single_machine_run(tmp_path, cli_env, prefect_harness):
    """The cluster's run from the command line (`--cluster`), the single machine's in this process."""
    from distributed import LocalCluster

    from flows.nightly import nightly

    def copy(name: str) -> Path:
        data_dir = tmp_path / name
        shutil.copytree(DEFAULT_DATA_DIR / "inbox", data_dir / "inbox")
        shutil.copy(DEFAULT_DATA_DIR / "sources.toml", data_dir / "sources.toml")
        return data_dir

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        data_dir = copy("cluster")
        done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--date", DAY, "--data-dir", str(data_dir),
                               "--partitions", "8", "--cluster", cluster.scheduler_address],
                              capture_output=True, text=True, env=cli_env(), timeout=300)
        assert done.returncode == 0, done.stderr
        on_cluster = data_dir / "out" / DAY
        workers = len(cluster.workers)
    here = Path(nightly(dt.date.fromisoformat(DAY), copy("here"), partitions=8))
    assert workers == 2
    for name in OUTPUTS:
        assert (on_cluster / name).read_bytes() == (here / name).read_bytes(), name
