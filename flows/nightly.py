"""The nightly job for business date D as a Prefect flow: read, stage, recompute, audit, publish.

The flow only orders the steps and does I/O; every rule lives in `transforms/`. Outputs are
written, checked against `schemas/outputs`, and only then published, all at once.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import uuid
from importlib import metadata
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.inbox import inbox_files, load_dialects, read_raw
from flows.publish import publish_folder, sha256_of
from flows.warehouse import Warehouse
from schemas import outputs
from transforms.balances import BALANCE_COLUMNS
from transforms.calendar import yesterday
from transforms.reporting import reported_exceptions
from transforms.rules import Rules, default_rules
from transforms.snapshot import Snapshot, compute_snapshot, stage_all

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_DIR / "data"


def code_version() -> str:
    version = metadata.version("perfone-loyalty")
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{version}+{commit}"
    except (OSError, subprocess.SubprocessError):
        return version


@task(cache_policy=NO_CACHE)
def read_inbox(data_dir: Path, as_of: dt.date) -> tuple[list[dict], dict[str, list[pl.DataFrame]]]:
    """Every export file of folders <= D as raw text, and what was read from where."""
    dialects = load_dialects(data_dir)
    files, raw = [], {}
    for file in inbox_files(data_dir, as_of):
        frame = read_raw(file, dialects)
        raw.setdefault(file.kind, []).append(frame)
        files.append({"file": file.relative, "kind": file.kind, "folder": file.folder,
                      "sha256": sha256_of(file.path), "rows_read": frame.height})
    return files, raw


@task(cache_policy=NO_CACHE)
def stage(raw: dict[str, list[pl.DataFrame]]) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Every row checked against its export's contract: accepted rows, and SCHEMA rows."""
    return stage_all(raw)


@task(cache_policy=NO_CACHE)
def recompute(
    staged: dict[str, pl.DataFrame], rejected: pl.DataFrame, rules: Rules, as_of: dt.date, timings: dict
) -> tuple[Snapshot, pl.DataFrame]:
    """The snapshot as of D and every exception it holds (SCHEMA rows included)."""
    snapshot = compute_snapshot(staged, rules, as_of, timings)
    found = pl.concat([rejected.with_columns(pl.lit(as_of).alias("business_date")), snapshot.exceptions])
    return snapshot, found


@task(cache_policy=NO_CACHE)
def audit(balances: pl.DataFrame, movements: pl.DataFrame, exceptions: pl.DataFrame) -> None:
    """Outputs must meet their contracts; a failure here is a bug and stops the run."""
    outputs.BALANCES.validate(balances, lazy=True)
    outputs.MOVEMENTS.validate(movements, lazy=True)
    outputs.EXCEPTIONS.validate(exceptions, lazy=True)


def _input_manifest(files: list[dict], found: pl.DataFrame) -> list[dict]:
    rejected = dict(
        found.filter(pl.col("code") == "SCHEMA").group_by("source_file").len().iter_rows()
    )
    return [
        {**f, "rows_rejected": rejected.get(f["file"], 0), "rows_accepted": f["rows_read"] - rejected.get(f["file"], 0)}
        for f in files
    ]


@flow(name="perfone-loyalty-nightly")
def nightly(as_of: dt.date | None = None, data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Recompute the ledger as of D from every inbox folder <= D and publish `out/<D>/`."""
    log = get_run_logger()
    rules = default_rules()
    as_of = as_of or yesterday(rules)
    data_dir = Path(data_dir)
    run_id = uuid.uuid4().hex
    warehouse = Warehouse(data_dir)
    version = code_version()
    warehouse.start_run(run_id, as_of, rules.version, version)
    timings: dict[str, float] = {}
    started = lap = time.perf_counter()

    def clocked(name: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        timings[name] = round(now - lap, 3)
        lap = now

    try:
        files, raw = read_inbox(data_dir, as_of)
        clocked("read")
        staged, rejected = stage(raw)
        del raw  # every cell as text: the largest frames of the run, not needed past staging
        clocked("stage")
        compute_steps: dict[str, float] = {}
        snapshot, found = recompute(staged, rejected, rules, as_of, compute_steps)
        clocked("recompute")
        exceptions, remembered = reported_exceptions(found, warehouse.seen_exceptions(), as_of)
        balances = snapshot.balances.select(BALANCE_COLUMNS)
        clocked("report")
        audit(balances, snapshot.movements, exceptions)
        clocked("audit")
        manifest = {
            "run_id": run_id, "as_of": as_of, "code_version": version, "rules_version": rules.version,
            "inputs": _input_manifest(files, found), "timings_seconds": timings,
            "recompute_steps_seconds": compute_steps,
        }
        frames = {
            "balances.parquet": balances,
            "balances.csv": balances,
            "movements.parquet": snapshot.movements,
            "exceptions.parquet": exceptions,
            "exceptions.csv": exceptions,
        }
        timings["total_before_publish"] = round(time.perf_counter() - started, 3)
        out = publish_folder(data_dir / "out", as_of.isoformat(), frames, manifest)
        warehouse.remember_exceptions(remembered)
    except Exception as problem:
        warehouse.finish_run(run_id, "failed", str(problem).splitlines()[0] if str(problem) else type(problem).__name__)
        raise
    warehouse.finish_run(run_id, "published", out_dir=str(out))
    log.info("published %s: %d customers, %d movements, %d exceptions", out, balances.height,
             snapshot.movements.height, exceptions.height)
    return str(out)


@flow(name="perfone-loyalty-backfill")
def backfill(start: dt.date, end: dt.date, data_dir: Path = DEFAULT_DATA_DIR) -> list[str]:
    """The nightly job for every date from start to end, in order."""
    days = (end - start).days
    return [nightly(start + dt.timedelta(days=n), data_dir) for n in range(days + 1)]
