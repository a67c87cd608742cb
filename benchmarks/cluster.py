"""One nightly run with its parts on a local Dask cluster, measured.

    python -m benchmarks.cluster DATA_DIR DATE [--workers 2] [--partitions K]

Starts a LocalCluster of `--workers` processes of one thread each (no network beyond this
machine), runs `perfone-loyalty run --cluster` on DATA_DIR for DATE, and prints one JSON object:
the run's wall time and timings from its manifest, the peak RSS of the driver (the command's own
process, as the benchmark measures it) and of the busiest worker, sampled every 0.2 s. A re-run of a day already staged measures the parts, not
staging."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def main() -> None:
    from distributed import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("date")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(args.data_dir / ".prefect")
    command = [sys.executable, "-m", "flows.cli", "run", "--date", args.date, "--data-dir", str(args.data_dir)]
    if args.partitions:
        command += ["--partitions", str(args.partitions)]
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=None) as cluster:
        workers = [psutil.Process(w.process.process.pid) for w in cluster.workers.values()]
        started = time.perf_counter()
        run = subprocess.Popen([*command, "--cluster", cluster.scheduler_address], cwd=PROJECT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        driver = psutil.Process(run.pid)
        peak_driver = peak_worker = 0
        while run.poll() is None:
            peak_driver = max(peak_driver, _rss(driver))
            peak_worker = max([peak_worker, *(_rss(w) for w in workers)])
            time.sleep(0.2)
        wall = time.perf_counter() - started
        out, err = run.communicate()
    if run.returncode != 0:
        raise SystemExit(f"the run failed (exit {run.returncode}): {err.strip().splitlines()[-1:] or out}")
    manifest = json.loads((args.data_dir / "out" / args.date / "manifest.json").read_text())
    print(json.dumps({
        "workers": args.workers, "wall": round(wall, 1), "partitions": manifest["partitions"],
        "phases": manifest["timings_seconds"], "steps": manifest["recompute_steps_seconds"],
        "peak_driver_gib": round(peak_driver / 2**30, 2), "peak_worker_gib": round(peak_worker / 2**30, 2),
    }))


if __name__ == "__main__":
    main()
