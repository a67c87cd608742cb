"""The nightly job for business date D as a Prefect flow: read, stage, recompute, audit, publish.

The flow only orders the steps and does I/O; every rule lives in `transforms/`. Outputs are
written, checked against `schemas/outputs`, and only then published, all at once.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import uuid
from collections import deque
from importlib import metadata
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.inbox import inbox_files, load_dialects
from flows.publish import ParquetAppender, partial_folder, publish_folder
from flows.staged_cache import StagedCache, StagedFile, arrival_enum, load_staged, no_rows
from flows.staged_store import BUCKETED_KINDS, Bucketed, SegmentStore
from flows.warehouse import Warehouse
from schemas import outputs
from schemas.outputs import MOVEMENT_SCHEMA
from transforms.balances import BALANCE_COLUMNS
from transforms.calendar import yesterday
from transforms.reporting import reported_exceptions
from transforms.rules import Rules, default_rules
from transforms.partition import BUCKETS, part_of_routed, route_small_kinds
from transforms.snapshot import compute_snapshot
from transforms.variance import reported_on

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


ORDER_ROWS_PER_PART = 1_000_000
PARTS_AT_ONCE = 2
"""A part's working set grows with its order rows; peak memory with both numbers. Two parts at
once use both cores of the nightly machine (the numba kernels release the GIL)."""
SMALL_KINDS = ("customers", "promotions", "adjustments", "balances")
"""Kinds held whole in memory; order lines and returns are read part by part."""


@task(cache_policy=NO_CACHE)
def stage_inbox(data_dir: Path, as_of: dt.date, version: str
                ) -> tuple[list[StagedFile], dict[str, pl.DataFrame], Bucketed, pl.DataFrame]:
    """Every export file of folders <= D staged (from the cache when seen before): the small
    kinds routed to customer buckets in memory, order lines and returns bucketed on disk."""
    dialects = load_dialects(data_dir)
    cache = StagedCache(data_dir, version)
    files = cache.stage(inbox_files(data_dir, as_of), dialects)
    small, rejected = load_staged(files, SMALL_KINDS)
    bucketed = SegmentStore(cache.root / "segments").update(files)
    return files, route_small_kinds(small), bucketed, rejected


class PartResult:
    """A part's frames, handed over once: Prefect keeps every task's return value until the flow
    ends, so the flow takes the frames out of it rather than let 60 parts' movements pile up."""

    def __init__(self, balances: pl.DataFrame, movements: pl.DataFrame, exceptions: pl.DataFrame, steps: dict):
        self._frames = (balances, movements, exceptions)
        self.steps = steps

    def take(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        frames, self._frames = self._frames, None
        return frames


@task(cache_policy=NO_CACHE)
def recompute(bucketed: Bucketed, small: dict[str, pl.DataFrame], part: int, parts: int, arrival: pl.Enum,
              empty: dict[str, pl.DataFrame], rules: Rules, as_of: dt.date, operational_reported: bool) -> PartResult:
    """The snapshot of one customer part as of D, its rows read from the bucketed store, its
    movements audited (they are published part by part). `operational_reported`: whether D's
    folder brought operational balances, which a part cannot tell from its own rows."""
    started = time.perf_counter()
    staged = bucketed.part(part, parts, arrival, empty) | part_of_routed(small, part, parts)
    steps = {"read": round(time.perf_counter() - started, 3)}
    snapshot = compute_snapshot(staged, rules, as_of, steps, operational_reported)
    audit.fn("MOVEMENTS", snapshot.movements)
    return PartResult(snapshot.balances, snapshot.movements, snapshot.exceptions, steps)


@task(cache_policy=NO_CACHE)
def audit(name: str, frame: pl.DataFrame) -> None:
    """An output must meet its contract; a failure here is a bug and stops the run."""
    getattr(outputs, name).validate(frame, lazy=True)


def _input_manifest(files: list[StagedFile], found: pl.DataFrame) -> list[dict]:
    rejected = dict(found.filter(pl.col("code") == "SCHEMA").group_by("source_file").len().iter_rows())
    return [
        {"file": f.file.relative, "kind": f.file.kind, "folder": f.file.folder, "sha256": f.sha256,
         "rows_read": f.rows_read, "rows_rejected": rejected.get(f.file.relative, 0),
         "rows_accepted": f.rows_read - rejected.get(f.file.relative, 0), "staged_before": f.cached}
        for f in files
    ]


@flow(name="perfone-loyalty-nightly", task_runner=ThreadPoolTaskRunner(max_workers=PARTS_AT_ONCE))
def nightly(as_of: dt.date | None = None, data_dir: Path = DEFAULT_DATA_DIR, partitions: int | None = None) -> str:
    """Recompute the ledger as of D from every inbox folder <= D and publish `out/<D>/`.

    `partitions`: customer parts, PARTS_AT_ONCE computed at a time (default: by size; at most 256)."""
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
        files, small, bucketed, rejected = stage_inbox(data_dir, as_of, version)
        clocked("stage")
        parts = min(BUCKETS, partitions or max(1, -(-bucketed.order_rows // ORDER_ROWS_PER_PART)))
        arrival = arrival_enum(files)
        empty = {kind: no_rows(kind, arrival) for kind in BUCKETED_KINDS}
        reported = reported_on(small["balances"], as_of)
        folder = partial_folder(data_dir / "out", as_of.isoformat())
        movements = ParquetAppender(folder / "movements.parquet")
        compute_steps: dict[str, float] = {}
        balances, found = [], [rejected.with_columns(pl.lit(as_of).alias("business_date"))]

        def collect(result: PartResult) -> None:
            part_balances, part_movements, part_exceptions = result.take()
            movements.append(part_movements)
            balances.append(part_balances)
            found.append(part_exceptions)
            for step, seconds in result.steps.items():
                compute_steps[step] = round(compute_steps.get(step, 0.0) + seconds, 3)

        running = deque()
        for n in range(parts):  # PARTS_AT_ONCE computed side by side, collected in part order
            running.append(recompute.submit(bucketed, small, n, parts, arrival, empty, rules, as_of, reported))
            if len(running) == PARTS_AT_ONCE:
                collect(running.popleft().result())
        while running:
            collect(running.popleft().result())
        del small, bucketed
        written = {"movements.parquet": movements.close(pl.DataFrame(schema=MOVEMENT_SCHEMA))}
        balances = pl.concat(balances).sort("customer_id").select(BALANCE_COLUMNS)
        found = pl.concat(found)
        clocked("recompute")
        exceptions, remembered = reported_exceptions(found, warehouse.seen_exceptions(), as_of)
        clocked("report")
        audit("BALANCES", balances)
        audit("EXCEPTIONS", exceptions)
        clocked("audit")
        manifest = {
            "run_id": run_id, "as_of": as_of, "code_version": version, "rules_version": rules.version,
            "partitions": parts, "inputs": _input_manifest(files, found), "timings_seconds": timings,
            "recompute_steps_seconds": compute_steps,
        }
        frames = {
            "balances.parquet": balances,
            "balances.csv": balances,
            "exceptions.parquet": exceptions,
            "exceptions.csv": exceptions,
        }
        timings["total_before_publish"] = round(time.perf_counter() - started, 3)
        out = publish_folder(data_dir / "out", as_of.isoformat(), frames, manifest, written)
        warehouse.remember_exceptions(remembered)
    except Exception as problem:
        warehouse.finish_run(run_id, "failed", str(problem).splitlines()[0] if str(problem) else type(problem).__name__)
        raise
    warehouse.finish_run(run_id, "published", out_dir=str(out))
    log.info("published %s: %d customers, %d movements, %d exceptions", out, balances.height,
             movements.rows, exceptions.height)
    return str(out)


@flow(name="perfone-loyalty-backfill")
def backfill(
    start: dt.date, end: dt.date, data_dir: Path = DEFAULT_DATA_DIR, partitions: int | None = None
) -> list[str]:
    """The nightly job for every date from start to end, in order."""
    days = (end - start).days
    return [nightly(start + dt.timedelta(days=n), data_dir, partitions) for n in range(days + 1)]
