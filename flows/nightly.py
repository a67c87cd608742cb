"""The nightly job for business date D as a Prefect flow: read, stage, recompute, tie out, audit,
report, publish.

The flow only orders the steps and does I/O; every rule lives in `transforms/`, every rendering
in `reports/`. Outputs are written, checked against `schemas/outputs`, and only then published,
all at once, together with the warehouse's record of the day (see `flows/warehouse.py`).
"""

from __future__ import annotations

import flows.allocator  # noqa: F401  (first: it sets up Polars' allocator before Polars loads)

import datetime as dt
import hashlib
import logging
import resource
import subprocess
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.durable import sha256_of
from flows.explain import read_statements
from flows.inbox import scan_inbox
from flows.lock import holding, unwritable
from flows.publish import (
    CsvAppender, ParquetAppender, chunks, in_key_range, partial_folder, publish_folder, settle_folders,
    sort_by_customer, with_next, write_failure,
)
from flows.staged_cache import (
    PROJECT_DIR, BrokenCacheEntry, StagedCache, StagedFile, arrival_enum, no_rows, staging_version,
)
from flows.staged_store import SHARDED_KINDS, SegmentStore, Sharded
from flows.warehouse import Publication, Warehouse
from reports.headline import break_markdown, headline_markdown
from reports.html import render_html
from reports.model import FinanceReport
from reports.spreadsheet import inert_text
from reports.statement import as_text
from reports.xlsx import write_xlsx
from schemas import outputs
from schemas.codes import EXCEPTION_SCHEMA
from schemas.outputs import MOVEMENT_SCHEMA
from transforms.calendar import yesterday
from transforms.checks import concat_exceptions, skipped_inputs
from transforms.delta import balances_delta
from transforms.finance import (
    CLOSING_COLUMNS, Figures, Opening, check_rollforward, closings_of, combine_figures, finance_report, restatements,
    rollforward,
)
from transforms.ledger import published_lots
from transforms.partition import SHARDS, route_by_customer, route_small_kinds
from transforms.reporting import reported_exceptions
from transforms.rules import Rules, default_rules
from transforms.snapshot import compute_snapshot
from transforms.variance import reported_on

DEFAULT_DATA_DIR = PROJECT_DIR / "data"


CODE_FILES = ("flows/*.py", "transforms/*.py", "transforms/sql/*.sql", "transforms/rules.toml", "schemas/*.py",
              "reports/*.py")
"""What computes the outputs: a change to any of them is a new code version, and a restatement is
put down to it. The staged cache is kept unless the code that stages changed (`STAGING_CODE`)."""


def code_version() -> str:
    """The package version, the commit, and a digest of the code files as they are on disk, so
    that an uncommitted change is a new version too."""
    digest = hashlib.sha256()
    for path in sorted(p for pattern in CODE_FILES for p in PROJECT_DIR.glob(pattern)):
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    version = f"{metadata.version('perfone-loyalty')}+{digest.hexdigest()[:10]}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{version}.{commit}"
    except (OSError, subprocess.SubprocessError):
        return version


def peak_memory_gib() -> float:
    """The highest resident memory of this process so far (on Linux, getrusage's kibibytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


ORDER_ROWS_PER_PART = 500_000
PARTS_AT_ONCE = 2
"""A part's working set grows with its order rows (about 0.65 GiB a part of 500 000); peak
memory with both numbers. Measured at M (6M order lines, the same night): parts of 1M rows peak at
3.2 GiB, of 500 000 at 1.8 GiB and take no longer; below 250 000 each part's fixed costs show.
Two parts at once use both cores of the nightly machine (the numba kernels release the GIL)."""
SMALL_KINDS = ("customers", "promotions", "adjustments", "balances")
"""Kinds staged from one gathered file each: promotions go whole to every part, the others are
routed to customer shards and held on disk beside the order lines and returns (`Sharded.hold`)."""


CODED = {"movements": ("business_date", "kind", "bucket", "source_kind"), "lots": ("lot_kind", "cashback_pct", "bucket")}
"""The columns of few distinct values in the files the parts append to (see ParquetAppender)."""


@task(name="stage inbox", task_run_name="stage inbox up to {as_of}", cache_policy=NO_CACHE)
def stage_inbox(data_dir: Path, as_of: dt.date
                ) -> tuple[list[StagedFile], pl.DataFrame, bool, Sharded, pl.DataFrame]:
    """Every export file of folders <= D staged (from the cache when seen before): (files,
    promotions, whether D's folder brought operational balances, every other kind routed to
    customer shards on disk, staging's exception rows)."""
    cache = StagedCache(data_dir, staging_version())
    found, skipped = scan_inbox(data_dir, as_of)
    files = cache.stage(found)
    try:
        small, rejected = cache.load(files, SMALL_KINDS)
    except BrokenCacheEntry as broken:  # staged again, once
        cache.forget(broken.files)
        files = cache.stage(found)
        small, rejected = cache.load(files, SMALL_KINDS)
    reported = reported_on(small["balances"], as_of)
    routed = route_small_kinds(small)
    sharded = SegmentStore(cache.root / "segments").update(files).hold(
        {kind: frame for kind, frame in routed.items() if "shard" in frame.columns})
    entries = pl.DataFrame([(s.relative, s.folder, s.reason) for s in skipped], orient="row",
                           schema={"source_file": pl.String, "folder": pl.Date, "reason": pl.String})
    return files, routed["promotions"], reported, sharded, concat_exceptions([rejected, skipped_inputs(entries)])


@dataclass(frozen=True)
class HeadStart:
    """What the command line staged of a night's inbox before the flow started (`stage_ahead`)."""

    seconds: float = 0.0
    """counted in the night's stage phase and its time before publishing"""
    files: tuple[str, ...] = ()
    """the inbox files it staged first: the manifest still says they were not staged before"""


def stage_ahead(data_dir: Path, as_of: dt.date | None) -> HeadStart:
    """Stage the inbox up to D (the per-file cache and the segments) before the flow starts: the
    command line does this while its Prefect server starts, about 4 s of waiting otherwise. The
    flow's `stage inbox` then finds every file staged and the segments current. Only a head start,
    under the same lock: whatever fails here, the flow meets again and reports."""
    started = time.perf_counter()
    try:
        cache = StagedCache(data_dir, staging_version())
        found, _ = scan_inbox(data_dir, as_of or yesterday(default_rules()))
        files = cache.stage(found)
        SegmentStore(cache.root / "segments").update(files)
    except Exception as problem:  # noqa: BLE001 - the flow stages again and reports it
        logging.getLogger(__name__).debug("staging ahead stopped: %s", problem)
        files = []
    return HeadStart(time.perf_counter() - started, tuple(f.file.relative for f in files if not f.cached))


class PartResult:
    """A part's frames, handed over once: Prefect keeps every task's return value until the flow
    ends, so the flow takes the frames out of it rather than let 60 parts' movements pile up."""

    def __init__(self, frames: dict[str, pl.DataFrame], figures: Figures, steps: dict):
        self._frames, self._figures = frames, figures
        self.steps = steps

    def take(self) -> tuple[dict[str, pl.DataFrame], Figures]:
        taken, self._frames, self._figures = (self._frames, self._figures), None, None
        return taken


@task(name="recompute part", task_run_name="recompute part {part} of {parts}", cache_policy=NO_CACHE)
def recompute(sharded: Sharded, promotions: pl.DataFrame, part: int, parts: int, arrival: pl.Enum,
              empty: dict[str, pl.DataFrame], rules: Rules, as_of: dt.date, operational_reported: bool,
              opening: Opening) -> PartResult:
    """The snapshot of one customer part as of D, its rows of every kind (but promotions, which
    every part reads whole) and `opening`'s closings read from the sharded store; its movements
    and lots audited (they are published part by part), and its finance figures. It depends on
    nothing else, so it runs as well on a Dask worker that sees the store's path.
    `operational_reported`: whether D's folder brought operational balances, which a part cannot
    tell from its own rows."""
    started = time.perf_counter()
    staged = sharded.part(part, parts, arrival, empty) | {"promotions": promotions}
    own = replace(opening, closings=staged.pop("closings"))
    steps = {"read": round(time.perf_counter() - started, 3)}
    snapshot = compute_snapshot(staged, rules, as_of, steps, operational_reported, own)
    lots = published_lots(snapshot.ledger, rules)
    audit.fn("MOVEMENTS", snapshot.movements)
    audit.fn("LOTS", lots)
    frames = {"balances": snapshot.balances, "movements": snapshot.movements, "lots": lots,
              "exceptions": snapshot.exceptions, "duplicates": snapshot.duplicates}
    return PartResult(frames, snapshot.figures, steps)


@task(name="audit", task_run_name="audit {name}", cache_policy=NO_CACHE)
def audit(name: str, frame: pl.DataFrame) -> None:
    """An output must meet its contract; a failure here is a bug and stops the run."""
    getattr(outputs, name).validate(frame, lazy=True)


@task(name="render report", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def render_report(report: FinanceReport, folder: Path) -> dict[str, dict]:
    """reconciliation.html and reconciliation.xlsx of the night, written into the folder."""
    (folder / "reconciliation.html").write_text(render_html(report), encoding="utf-8")
    write_xlsx(report, folder / "reconciliation.xlsx")
    return {name: {"rows": None, "sha256": sha256_of(folder / name)}
            for name in ("reconciliation.html", "reconciliation.xlsx")}


@task(name="write balances", task_run_name="write balances of {as_of}", cache_policy=NO_CACHE)
def write_balances(unsorted: Path, folder: Path, previous: Path | None, as_of: dt.date, night: Path
                   ) -> tuple[dict[str, dict], Path]:
    """balances.parquet, balances.csv and balances_delta.csv from the parts' balances, sorted out
    of core and written a chunk of customers at a time, each audited; and the closings to store,
    as a parquet file. A chunk stands for every customer from its first to the next chunk's
    first: the previous snapshot's rows in that range are what its delta compares against."""
    sorted_rows = night / "balances-sorted.parquet"
    sort_by_customer(unsorted, sorted_rows, night / "spill")
    balances = ParquetAppender(folder / "balances.parquet")
    balances_csv, delta_csv = CsvAppender(folder / "balances.csv"), CsvAppender(folder / "balances_delta.csv")
    closings = ParquetAppender(night / "published-closings.parquet")
    low = last = None  # this chunk's first customer (none for the first), the one before's last
    for chunk, following in with_next(chunks(sorted_rows)):
        high = following.get_column("customer_id")[0] if following is not None and following.height else None
        audit.fn("BALANCES", chunk)
        if last is not None and chunk.height and chunk.get_column("customer_id")[0] <= last:
            raise RuntimeError(f"balances: customer {chunk.get_column('customer_id')[0]} has more than one row")
        before = pl.scan_parquet(previous).filter(in_key_range(low, high)).collect() if previous else None
        delta = balances_delta(chunk, before, as_of)
        audit.fn("BALANCES_DELTA", delta)
        balances.append(chunk)
        balances_csv.append(chunk)
        delta_csv.append(delta)
        closings.append(closings_of(chunk))
        low, last = high, chunk.get_column("customer_id")[-1] if chunk.height else last
    written = {"balances.parquet": balances.close(pl.DataFrame(schema=outputs.BALANCE_SCHEMA)),
               "balances.csv": balances_csv.close(),
               "balances_delta.csv": delta_csv.close()}
    closings.close(pl.DataFrame(schema=CLOSING_COLUMNS))
    return written, closings.path


ROW_OUTCOMES = {"rejected": ("SCHEMA", "RETURN_EXCEEDS_QUANTITY"), "conflicts": ("ORDER_CONFLICT", "ROW_CONFLICT"),
                "parked": ("RETURN_UNKNOWN_ORDER",)}
"""Exception codes that each stand for one input row that was not applied, by outcome."""


@task(name="publish", task_run_name="publish {as_of}", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def publish(warehouse: Warehouse, publication: Publication, out_root: Path, as_of: dt.date,
            frames: dict[str, pl.DataFrame], manifest: dict, written: dict[str, dict]) -> Path:
    """The day's records staged in the warehouse, its folder swapped in, the records committed:
    I/O only, and safe to repeat (a retry restages the same run's records)."""
    warehouse.stage_publication(publication)
    out = publish_folder(out_root, as_of.isoformat(), frames, manifest, written)
    warehouse.commit_publication(publication.run_id, as_of)
    return out


def _input_manifest(files: list[StagedFile], found: pl.DataFrame, duplicates: pl.DataFrame) -> list[dict]:
    """Per input file: rows read = applied + duplicates + conflicts + parked + rejected."""
    def per_file(codes) -> dict:
        rows = found.filter(pl.col("code").is_in(codes) & pl.col("source_row").is_not_null())
        return dict(rows.group_by("source_file").agg(pl.col("source_row").n_unique()).iter_rows())

    counted = {outcome: per_file(codes) for outcome, codes in ROW_OUTCOMES.items()}
    counted["duplicates"] = dict(duplicates.group_by("source_file").agg(pl.col("duplicates").sum()).iter_rows())
    listed = []
    for f in files:
        rows = {f"rows_{outcome}": by_file.get(f.file.relative, 0) for outcome, by_file in counted.items()}
        listed.append({
            "file": f.file.relative, "kind": f.file.kind, "folder": f.file.folder, "sha256": f.sha256,
            "rows_read": f.rows_read, "rows_applied": f.rows_read - sum(rows.values()),
            "rows_accepted": f.rows_read - rows["rows_rejected"], **rows, "staged_before": f.cached,
        })
    return listed


def _previous_balances(out_root: Path, opening: Opening) -> Path | None:
    """The balances the CRM loaded last: those of the opening day, as published."""
    if opening.as_of is None:
        return None
    path = out_root / opening.as_of.isoformat() / "balances.parquet"
    return path if path.exists() else None


def _statements(folder: Path, rules: Rules):
    def written(customer_ids: list[str]) -> dict[str, str]:
        found = read_statements(folder, customer_ids)
        return {customer: as_text(found[customer], rules) for customer in found}
    return written


@flow(name="perfone-loyalty-nightly")
def nightly(as_of: dt.date | None = None, data_dir: Path = DEFAULT_DATA_DIR, partitions: int | None = None,
            wait_seconds: float = 0, cluster: str | None = None, head_start: HeadStart | None = None) -> str:
    """Recompute the ledger as of D from every inbox folder <= D and publish `out/<D>/`.

    `partitions`: customer parts (default: by size; at most 4096). `wait_seconds`: how long to wait
    for another run holding the data directory. `cluster`: a Dask scheduler's address
    (tcp://host:8786) to compute the parts on; none: two at a time here. `head_start`: what the
    command line staged of this night's inbox before the flow started (`stage_ahead`)."""
    data_dir = Path(data_dir)
    problem = unwritable(data_dir) if data_dir.is_dir() else f"data directory {data_dir} does not exist"
    if problem:
        raise RuntimeError(problem)
    with holding(data_dir, f"nightly {as_of or 'yesterday'}", wait_seconds):
        return _nightly(as_of, data_dir, partitions, cluster, head_start or HeadStart())


def part_runner(cluster: str | None):
    """Where the customer parts run: PARTS_AT_ONCE threads here, or the workers of the Dask
    scheduler at `cluster` (prefect-dask), which must see the data directory's path."""
    if not cluster:
        return ThreadPoolTaskRunner(max_workers=PARTS_AT_ONCE)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=cluster)


def part_count(order_rows: int, at_once: int, requested: int | None = None) -> int:
    """The parts of a night: as asked, or one per ORDER_ROWS_PER_PART staged order rows, rounded up to
    a multiple of the parts computed at once (3 parts on 2 cores take two rounds, the second on one
    core; 4 take the same two, each on both), at most SHARDS."""
    if requested:
        return min(SHARDS, requested)
    needed = max(1, -(-order_rows // ORDER_ROWS_PER_PART))
    return min(SHARDS, needed if needed == 1 else -(-needed // at_once) * at_once)


def parts_at_once(runner) -> int:
    """Parts in flight: two threads here; on a cluster, one per worker thread (at least two)."""
    client = getattr(runner, "_client", None)
    if client is None:
        return PARTS_AT_ONCE
    return max(PARTS_AT_ONCE, sum(client.nthreads().values()))


def _nightly(as_of: dt.date | None, data_dir: Path, partitions: int | None, cluster: str | None,
             head_start: HeadStart) -> str:
    log = get_run_logger()
    rules = default_rules()
    as_of = as_of or yesterday(rules)
    out_root = data_dir / "out"
    run_id = uuid.uuid4().hex
    warehouse = Warehouse(data_dir)
    version = code_version()
    for settled in [*settle_folders(out_root), *warehouse.recover(out_root), *warehouse.close_abandoned_runs()]:
        log.warning(settled)
    timings: dict[str, float] = {}
    peaks: dict[str, float] = {}
    started = lap = time.perf_counter() - head_start.seconds

    def clocked(name: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        timings[name] = round(now - lap, 3)
        peaks[name] = peak_memory_gib()
        lap = now

    warehouse.start_run(run_id, as_of, rules.version, version)
    try:
        files, promotions, reported, sharded, rejected = stage_inbox(data_dir, as_of)
        files = [replace(f, cached=False) if f.file.relative in head_start.files else f for f in files]
        opening = warehouse.opening(as_of, rules.version, version)
        sharded = sharded.hold({"closings": route_by_customer(opening.closings)})
        opening = replace(opening, closings=opening.closings.clear())  # the parts read theirs
        clocked("stage")
        arrival = arrival_enum(files)
        empty = {kind: no_rows(kind, arrival) for kind in SHARDED_KINDS}
        folder = partial_folder(out_root, as_of.isoformat())
        night = sharded.night
        appended = {name: ParquetAppender(folder / f"{name}.parquet", coded) for name, coded in CODED.items()}
        appended["balances"] = ParquetAppender(night / "balances-parts.parquet")  # in shard order
        compute_steps: dict[str, float] = {}
        figures, duplicates = [], []
        found = [rejected.with_columns(pl.lit(as_of).alias("business_date"))]

        def collect(result: PartResult) -> None:
            frames, part_figures = result.take()
            for name, appender in appended.items():
                appender.append(frames[name])
            found.append(frames["exceptions"])
            duplicates.append(frames["duplicates"])
            figures.append(part_figures)
            for step, seconds in result.steps.items():
                compute_steps[step] = round(compute_steps.get(step, 0.0) + seconds, 3)

        with part_runner(cluster) as runner:
            at_once = parts_at_once(runner)
            parts = part_count(sharded.order_rows, at_once, partitions)
            running = deque()
            # `at_once` computed side by side, collected in part order. quote(): Prefect would walk
            # the store's list of every staged file, part after part (0.05-0.1 s each), looking for
            # futures; prefect-dask hands the quote itself to its workers, so not there
            as_is = quote(sharded) if cluster is None else sharded
            for n in range(parts):
                running.append(runner.submit(recompute, parameters=dict(
                    sharded=as_is, promotions=promotions, part=n, parts=parts, arrival=arrival,
                    empty=empty, rules=rules, as_of=as_of, operational_reported=reported, opening=opening)))
                if len(running) == at_once:
                    collect(running.popleft().result())
            while running:
                collect(running.popleft().result())
        del sharded
        written = {
            "movements.parquet": appended["movements"].close(pl.DataFrame(schema=MOVEMENT_SCHEMA)),
            "lots.parquet": appended["lots"].close(pl.DataFrame(schema=outputs.LOT_SCHEMA)),
        }
        appended["balances"].close(pl.DataFrame(schema=outputs.BALANCE_SCHEMA))
        found = pl.concat(found)
        figures = combine_figures(figures)
        clocked("recompute")
        rows, breaks = rollforward(figures, opening)
        create_table_artifact(rows.to_dicts(), key="loyalty-rollforward", description=f"Roll-forward of {as_of}")
        if breaks.height:
            failed = write_failure(data_dir, as_of, breaks.with_columns(pl.lit(as_of).alias("business_date"))
                                   .select(list(EXCEPTION_SCHEMA)))
            log.error("the roll-forward of %s does not tie; the breaks are in %s", as_of, failed)
            create_markdown_artifact(break_markdown(as_of, breaks, failed), key="loyalty-reconciliation",
                                     description=f"Loyalty reconciliation of {as_of}: not published")
        check_rollforward(breaks, as_of)
        reported_since = warehouse.reported_since(as_of)
        exceptions = reported_exceptions(found, reported_since)
        previous = _previous_balances(out_root, opening)
        previous_day = opening.as_of if previous is not None else None
        restated = restatements(figures)
        rollforward_file = rows.with_columns(pl.lit(as_of).alias("as_of"),
                                             pl.lit(opening.as_of, pl.Date).alias("opening_as_of"))
        clocked("tie out")
        balance_files, closings = write_balances(appended["balances"].path, folder, previous, as_of, night)
        written |= balance_files
        clocked("write balances")
        for name, frame in (("EXCEPTIONS", exceptions), ("ROLLFORWARD", rollforward_file),
                            ("RESTATEMENTS", restated)):
            audit(name, frame)
        clocked("audit")
        report = finance_report(
            figures, opening, rows, exceptions, warehouse.liability_history(as_of), rules, as_of,
            {"run_id": run_id, "code_version": version}, reported, _statements(folder, rules),
        )
        written |= render_report(report, folder)
        clocked("report")
        manifest = {
            "run_id": run_id, "as_of": as_of, "code_version": version, "rules_version": rules.version,
            "partitions": parts, "opening_as_of": opening.as_of, "exceptions_reported_since": reported_since,
            "balances_delta_since": previous_day,
            "inputs": _input_manifest(files, found, pl.concat(duplicates)),
            "skipped": [{"path": path, "reason": message} for path, message in
                        found.filter(pl.col("code") == "SKIPPED_INPUT").select("source_file", "message").rows()],
            "timings_seconds": timings, "recompute_steps_seconds": compute_steps, "peak_memory_gib": peaks,
        }
        frames = {
            "exceptions.parquet": exceptions,
            "exceptions.csv": inert_text(exceptions),
            "rollforward.csv": rollforward_file,
            "restatements.csv": inert_text(restated),
            "restatements.parquet": restated,
        }
        timings["total_before_publish"] = round(time.perf_counter() - started, 3)
        publication = Publication(run_id, as_of, opening.as_of, rules.version, version, reported_since, closings)
        out = publish(warehouse, publication, out_root, as_of, frames, quote(manifest), written)  # quote: see the parts
    except BaseException as problem:  # a termination too: the run log says how the run ended
        warehouse.finish_run(run_id, "failed", _why(problem))
        raise
    warehouse.finish_run(run_id, "published", out_dir=str(out))
    create_markdown_artifact(headline_markdown(report), key="loyalty-reconciliation",
                             description=f"Loyalty reconciliation of {as_of}")
    log.info("published %s: %d customers, %d movements, %d exceptions, liability %d RUB", out,
             balance_files["balances.csv"]["rows"], appended["movements"].rows, exceptions.height,
             report.liability.get_column("closing").item())
    return str(out)


def _why(problem: BaseException) -> str:
    if isinstance(problem, KeyboardInterrupt):
        return "interrupted"
    if isinstance(problem, TerminationSignal) or type(problem).__name__ == "Terminated":
        return "terminated (SIGTERM)"
    return str(problem).splitlines()[0] if str(problem).strip() else type(problem).__name__


@flow(name="perfone-loyalty-backfill")
def backfill(
    start: dt.date, end: dt.date, data_dir: Path = DEFAULT_DATA_DIR, partitions: int | None = None,
    wait_seconds: float = 0, cluster: str | None = None,
) -> list[str]:
    """The nightly job for every date from start to end, in order, each published as it is done;
    the data directory is held for the whole backfill."""
    log = get_run_logger()
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    published = []
    with holding(Path(data_dir), f"backfill {start}..{end}", wait_seconds):
        for n, day in enumerate(days, start=1):
            published.append(nightly(day, data_dir, partitions, cluster=cluster))
            log.info("published %s (%d of %d)", published[-1], n, len(days))
    return published
