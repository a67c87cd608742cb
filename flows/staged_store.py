"""The staged order lines and returns, sharded by customer on disk, read one part at a time.

The per-file cache (`staged_cache`) holds each inbox file's typed rows. Here those rows are
gathered into segments of about SEGMENT_ROWS rows, in arrival order: each segment is one parquet
file sorted by customer shard (`transforms.partition`) in row groups small enough that reading
one part's shard range skips the rest. Orders keep a map order -> shard, segment by segment,
so a line arriving later still goes to its order's shard.

A run reuses the segments whose files are the run's first files, in order, unchanged; the files
after them go into new segments (the last short segment is rebuilt with them, its own rows read
back from its file, so one day's files do not make a segment of their own and a night reads only
its new files' caches). If the order files before a point changed, the order map
may have changed from there, and every returns segment is rebuilt.

A part opens every segment it reads from, and each file costs a few milliseconds whatever it
holds for the part (Polars reads its footer): with one file per segment, a part's read would grow
with the whole history, and all parts' with its square. So MERGE_AT full segments of one level are
merged into one segment of the next level, written as files by shard range of about SEGMENT_ROWS
rows each: a part opens one or two files of a merged segment, and at most MERGE_AT - 1 segments of
each level stay unmerged (a binary counter in base MERGE_AT).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import polars as pl

from flows.durable import parquet_reads, write_durably, write_text_durably
from flows.staged_cache import StagedFile
from transforms.arrival import in_arrival_order
from transforms.partition import ORDER_MAP_SCHEMA, SHARDS, in_part, route_orders, route_returns, shard_range

SEGMENT_ROWS = 1_000_000
ROW_GROUP_ROWS = 8_192
MERGE_AT = 8
"""Full segments of one level merged into one of the next (at L, 60M order lines: 7 merged
segments and a few of one file instead of 60 files for every part to open)."""
SHARDED_KINDS = ("orders", "returns")


@dataclass(frozen=True)
class Segment:
    files: tuple[tuple[str, str], ...]
    """(inbox path, sha256) of each file whose rows it holds, in arrival order"""
    pieces: tuple[tuple[int, int, str], ...]
    """(first shard, shard after the last, file) of the files its rows are in, sorted by shard: one
    file of every shard for a segment made from inbox files, files by shard range once merged"""
    rows: int
    order_map: str | None = None
    """orders: the map rows of orders first seen in this segment"""
    level: int = 0
    """0: made from inbox files; n + 1: merged from MERGE_AT segments of level n"""

    def paths(self, low: int = 0, high: int = SHARDS) -> list[str]:
        """The files holding its rows of shards [low, high)."""
        return [path for first, after, path in self.pieces if first < high and after > low]


def _files(staged: list[StagedFile]) -> tuple[tuple[str, str], ...]:
    return tuple((f.file.relative, f.sha256) for f in staged)


def _mergeable(segments: list[Segment]) -> int | None:
    """Where the first run of MERGE_AT segments of one level starts, the last segment left out."""
    for at in range(len(segments) - MERGE_AT):
        if len({s.level for s in segments[at:at + MERGE_AT]}) == 1:
            return at
    return None


def _shard_ranges(counts: pl.DataFrame, rows: int) -> list[tuple[int, int]]:
    """[low, high) ranges covering every shard, cut where about `rows` rows have been counted
    (`counts`: rows per shard); a shard is never split."""
    lows = (counts.sort("shard")
            .with_columns(((pl.col("len").cum_sum() - pl.col("len")) // rows).alias("piece"))
            .group_by("piece").agg(pl.col("shard").min()).sort("piece").get_column("shard").to_list())
    lows = [0, *lows[1:]] if lows else [0]
    return list(zip(lows, [*lows[1:], SHARDS]))


def _reusable(segments: list[Segment], files: tuple[tuple[str, str], ...]) -> int:
    """How many leading segments hold exactly the leading files of the run."""
    at = 0
    for n, segment in enumerate(segments):
        if files[at:at + len(segment.files)] != segment.files:
            return n
        at += len(segment.files)
    return len(segments)


def _chunks(staged: list[StagedFile]) -> list[list[StagedFile]]:
    chunks, size = [[]], 0
    for f in staged:
        if chunks[-1] and size + f.rows_read > SEGMENT_ROWS:
            chunks.append([])
            size = 0
        chunks[-1].append(f)
        size += f.rows_read
    return [c for c in chunks if c]


class SegmentStore:
    def __init__(self, root: Path):
        self.root = root
        self.manifest = root / "segments.json"

    def _load(self) -> dict[str, list[Segment]]:
        """The saved segments, up to the first one whose files do not read back (the rest are
        rebuilt); none when the manifest itself does not read back."""
        try:
            saved = json.loads(self.manifest.read_text())
            segments = {kind: [Segment(tuple(map(tuple, s["files"])), tuple(map(tuple, s["pieces"])), s["rows"],
                                       s["order_map"], s["level"]) for s in saved.get(kind, [])]
                        for kind in SHARDED_KINDS}
        except (OSError, ValueError, KeyError, TypeError):
            return {kind: [] for kind in SHARDED_KINDS}
        for kind, kept in segments.items():
            whole = [all(parquet_reads(self.root / path) for path in s.paths())
                     and (s.order_map is None or parquet_reads(self.root / s.order_map)) for s in kept]
            segments[kind] = kept[:whole.index(False)] if False in whole else kept
        return segments

    def _read(self, staged: list[StagedFile], base: Segment | None = None) -> pl.DataFrame:
        """The rows of these files in arrival order. When they begin with `base`'s files, those
        rows are read back from the base segment's one file rather than from each file's cache
        (a short last segment of returns can hold every return file of years)."""
        frames = []
        if base is not None and _files(staged[:len(base.files)]) == base.files:
            frames.append(pl.read_parquet([self.root / path for path in base.paths()])
                          .drop("shard", "order_known", strict=False))
            staged = staged[len(base.files):]
        frames += [pl.read_parquet(f.accepted) for f in staged]
        return in_arrival_order(pl.concat(frames, how="vertical_relaxed"))

    def _write(self, kind: str, frame: pl.DataFrame) -> str:
        name = f"{kind}-{uuid.uuid4().hex[:12]}.parquet"
        write_durably(self.root / name, lambda path: frame.sort("shard", maintain_order=True).write_parquet(
            path, row_group_size=ROW_GROUP_ROWS, statistics=True, compression="lz4"))
        return name

    def _rebuild(self, old: list[Segment], staged: list[StagedFile], make) -> tuple[list[Segment], bool]:
        """Reuse the leading segments that still hold the leading files; build the rest with
        `make(files, segments before, base)`, `base` the short last segment they extend, if any.

        Returns (segments, whether only files were added after the old ones)."""
        files = _files(staged)
        keep = _reusable(old, files)
        appended = keep == len(old)
        base = None
        if keep and keep == len(old) and old[-1].rows < SEGMENT_ROWS and len(files) > sum(len(s.files) for s in old):
            keep -= 1  # the short last segment takes the new files
            base = old[-1]
        segments = old[:keep]
        done = sum(len(s.files) for s in segments)
        for n, chunk in enumerate(_chunks(staged[done:])):
            segments.append(make(chunk, segments, base if n == 0 else None))
        return segments, appended

    def update(self, staged: list[StagedFile]) -> Sharded:
        """Bring the segments up to the run's files (all staged, in arrival order)."""
        self.root.mkdir(parents=True, exist_ok=True)
        old = self._load()
        by_kind = {kind: [f for f in staged if f.file.kind == kind] for kind in SHARDED_KINDS}

        fresh: dict[str, pl.DataFrame] = {}  # the map rows of the segments built now: not read back

        def orders_segment(chunk: list[StagedFile], before: list[Segment], base: Segment | None) -> Segment:
            rows, first_seen = route_orders(self._read(chunk, base), self._order_map(before, fresh))
            order_map = f"map-{uuid.uuid4().hex[:12]}.parquet"
            write_durably(self.root / order_map, first_seen.write_parquet)
            fresh[order_map] = first_seen
            return Segment(_files(chunk), ((0, SHARDS, self._write("orders", rows)),), rows.height, order_map)

        orders, appended = self._rebuild(old["orders"], by_kind["orders"], orders_segment)
        orders = self._merged("orders", orders, fresh)
        order_map = self._order_map(orders, fresh)

        def returns_segment(chunk: list[StagedFile], before: list[Segment], base: Segment | None) -> Segment:
            rows = route_returns(self._read(chunk, base), order_map)
            return Segment(_files(chunk), ((0, SHARDS, self._write("returns", rows)),), rows.height)

        old_returns = old["returns"] if appended else []
        returns, _ = self._rebuild(old_returns, by_kind["returns"], returns_segment)
        returns = self._merged("returns", returns, fresh)
        segments = {"orders": orders, "returns": returns}
        write_text_durably(self.manifest, json.dumps({k: [asdict(s) for s in v] for k, v in segments.items()}))
        used = {path for v in segments.values() for s in v for path in s.paths()}
        used |= {s.order_map for s in orders} | {self.manifest.name}
        for stale in self.root.iterdir():
            if stale.name not in used:
                stale.unlink()
        return Sharded(self.root, segments, self._late_returns(returns, order_map))

    def _late_returns(self, segments: list[Segment], order_map: pl.LazyFrame) -> pl.DataFrame | None:
        """Returns staged before their order arrived, routed again now that more orders are known."""
        if not segments:
            return None
        late = pl.scan_parquet([self.root / path for s in segments for path in s.paths()]).filter(
            ~pl.col("order_known")).collect()
        return route_returns(late.drop("shard", "order_known"), order_map)

    def _merged(self, kind: str, segments: list[Segment], fresh: dict[str, pl.DataFrame]) -> list[Segment]:
        """The segments with every run of MERGE_AT full ones of one level merged into one of the
        next (the last segment, which may still take new files, is never merged)."""
        segments = list(segments)
        at = _mergeable(segments)
        while at is not None:
            segments[at:at + MERGE_AT] = [self._merge(kind, segments[at:at + MERGE_AT], fresh)]
            at = _mergeable(segments)
        return segments

    def _merge(self, kind: str, group: list[Segment], fresh: dict[str, pl.DataFrame]) -> Segment:
        """One segment of these, written a shard range at a time (memory: one piece of about
        SEGMENT_ROWS rows); orders' maps concatenated into one."""
        counts = pl.scan_parquet([self.root / path for s in group for path in s.paths()]).group_by("shard").len()
        pieces = []
        for low, high in _shard_ranges(counts.collect(), SEGMENT_ROWS):
            rows = pl.scan_parquet([self.root / path for s in group for path in s.paths(low, high)]).filter(
                pl.col("shard").is_between(low, high, closed="left")).collect()
            pieces.append((low, high, self._write(kind, rows)))
        order_map = None
        if kind == "orders":
            order_map = f"map-{uuid.uuid4().hex[:12]}.parquet"
            if all(s.order_map in fresh for s in group):  # a first load keeps its maps in memory, once
                fresh[order_map] = pl.concat([fresh.pop(s.order_map) for s in group])
                write_durably(self.root / order_map, fresh[order_map].write_parquet)
            else:  # streamed: a deep merge's map is most of the orders (3.4 GiB at 200M)
                maps = pl.concat([fresh[s.order_map].lazy() if s.order_map in fresh
                                  else pl.scan_parquet(self.root / s.order_map) for s in group])
                write_durably(self.root / order_map, maps.sink_parquet)
        return Segment(tuple(f for s in group for f in s.files), tuple(pieces), sum(s.rows for s in group),
                       order_map, group[0].level + 1)

    def _order_map(self, segments: list[Segment], fresh: dict[str, pl.DataFrame]) -> pl.LazyFrame:
        """The map of every order of these segments: lookups stream past it and hash only the
        orders looked up. The maps of segments built before this run are read from disk, so a
        night does not hold the whole map (18 bytes an order: 3.4 GiB at 200M orders); those
        built by this run (`fresh`, all of them on a first load) are kept in memory, so that a
        first load does not read every earlier map again for each new segment."""
        on_disk = [self.root / s.order_map for s in segments if s.order_map not in fresh]
        maps = [pl.scan_parquet(on_disk)] if on_disk else []
        maps += [fresh[s.order_map].lazy() for s in segments if s.order_map in fresh]
        return pl.concat(maps) if maps else pl.LazyFrame(schema=ORDER_MAP_SCHEMA)


HELD_DIR = "night"
"""Beside the segments: the night's per-customer frames (`Sharded.hold`), rewritten every night."""


@dataclass(frozen=True)
class Sharded:
    """The run's sharded order lines and returns, and the per-customer frames the night holds
    (`hold`); `part` reads one part of them."""

    root: Path
    segments: dict[str, list[Segment]]
    late_returns: pl.DataFrame | None
    """returns whose order was not known when their segment was built, with today's shard"""
    held: tuple[tuple[str, Path], ...] = ()
    """(name, file sorted by shard) of the frames `hold` wrote"""

    @property
    def night(self) -> Path:
        """The folder of the night's own files, beside the segments (one night runs at a time)."""
        folder = self.root.parent / HELD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def hold(self, frames: dict[str, pl.DataFrame]) -> Sharded:
        """These routed frames (with `shard`) written beside the segments, sorted by shard in row
        groups a part skips, so that no process keeps every customer's rows while the parts run
        (a Dask worker reads its part from the same path). Only this night reads them: they are
        not synced to disk."""
        held = dict(self.held)
        for name, frame in frames.items():
            held[name] = self.night / f"{name}.parquet"
            frame.sort("shard", maintain_order=True).write_parquet(
                held[name], row_group_size=ROW_GROUP_ROWS, statistics=True, compression="lz4")
        return replace(self, held=tuple(held.items()))

    @property
    def order_rows(self) -> int:
        return sum(s.rows for s in self.segments["orders"])

    def _scan(self, kind: str, part: int, parts: int) -> pl.LazyFrame:
        """The rows of a part's shards, from only the files that hold some."""
        low, high = shard_range(part, parts)
        return pl.scan_parquet([self.root / path for s in self.segments[kind] for path in s.paths(low, high)]
                               ).filter(in_part(part, parts))

    def part(self, part: int, parts: int, arrival: pl.Enum, empty: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
        """The order lines and returns of one part, in arrival order (source_file as `arrival`),
        and its rows of every held frame; `empty[kind]` stands in for a kind with no segment."""
        held = {name: pl.scan_parquet(path).filter(in_part(part, parts)).drop("shard").collect()
                for name, path in self.held}
        held = {name: frame.with_columns(pl.col("source_file").cast(arrival)) if "source_file" in frame.columns
                else frame for name, frame in held.items()}
        frames = {}
        if self.segments["orders"]:
            frames["orders"] = self._scan("orders", part, parts).collect()
        if self.segments["returns"]:
            frames["returns"] = pl.concat([
                self._scan("returns", part, parts).filter(pl.col("order_known")).collect(),
                self.late_returns.filter(in_part(part, parts)),
            ], how="vertical_relaxed")
        return held | {
            kind: in_arrival_order(frames[kind].drop("shard", "order_known", strict=False)
                                   .with_columns(pl.col("source_file").cast(arrival)))
            if kind in frames else empty[kind]
            for kind in SHARDED_KINDS
        }

