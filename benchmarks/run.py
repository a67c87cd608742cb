"""The benchmark: `python -m benchmarks.run [--sizes S,M,L,50k]` writes BENCHMARKS.md.

For each size, on the same generated files: the floors (one DuckDB scan of every input file; the
last night's movements and lots written again as the flow writes them), the first load of the
history up to `--repeat` days before its end (an empty warehouse, validation included), then
`--repeat` nightly runs, each adding the next day's folder, as at 03:00; the full recompute
(manifest's recompute phase); the report's share of the night; peak memory of each (every
measurement is its own process under /usr/bin/time); and, where asked, the reference
implementation on the same staged history. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Size:
    name: str
    customers: int
    start: dt.date
    end: dt.date
    reference: bool


SIZES = {
    "S": Size("S", 10_000, dt.date(2025, 1, 1), dt.date(2025, 12, 31), True),
    "M": Size("M", 200_000, dt.date(2023, 1, 1), dt.date(2025, 12, 31), True),
    "L": Size("L", 2_000_000, dt.date(2023, 1, 1), dt.date(2025, 12, 31), False),
    "50k": Size("50k", 50_000, dt.date(2024, 1, 1), dt.date(2025, 12, 31), True),
}
"""50k: a mid-size shop, two years of daily folders (about 2 200 files): fixed costs dominate."""
ANALYSIS_MARK = "<!-- analysis: written by hand, kept when the tables above are rewritten -->"
TARGETS = """Targets (issue 9, medians on 2 cores / 24 GiB): L full recompute <= 60 s and <= 14x the floor;
L nightly with a new day <= 70 s before publishing; L first load <= 180 s; L peak memory <= 4 GiB;
50k customers / 2 years: nightly <= 3 s before publishing, <= 12 s as a whole process; M: the engine
>= 40x faster than the plain reference. The report adds at most 10% to the L nightly (issue 7)."""


def timed(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS GiB, stdout) of one process."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True,
                          env=env or os.environ.copy(), cwd=PROJECT)
    if done.returncode != 0:
        signal = f" (killed by signal {-done.returncode})" if done.returncode < 0 else ""
        raise RuntimeError(f"{' '.join(command)} failed{signal}:\n{done.stderr[-3000:]}\nexit {done.returncode}{signal}")
    wall, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 2**20, done.stdout


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def generate(size: Size, work: Path, fmt: str) -> Path:
    data = work / size.name / fmt
    marker = data / "generated.json"
    wanted = {"customers": size.customers, "start": str(size.start), "end": str(size.end), "format": fmt, "seed": 1}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    wall, rss, out = timed(python("-m", "flows.cli", "generate", "--customers", str(size.customers),
                                  "--start", str(size.start), "--end", str(size.end), "--seed", "1",
                                  "--data-dir", str(data), "--format", fmt))
    marker.write_text(json.dumps(wanted))
    (data / "generation.json").write_text(json.dumps({"seconds": wall, "peak_gib": rss, "output": out.strip()}))
    return data


def nightly(data: Path, day: dt.date) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(data / ".prefect")
    try:
        wall, rss, _ = timed(python("-m", "flows.cli", "run", "--date", str(day), "--data-dir", str(data)), env)
    except RuntimeError as failure:
        return {"failed": str(failure).strip().splitlines()[-1][-300:]}
    out = data / "out" / str(day)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall": wall, "peak_gib": rss, "phases": manifest["timings_seconds"],
            "steps": manifest["recompute_steps_seconds"], "partitions": manifest["partitions"],
            "peak_by_phase": manifest.get("peak_memory_gib"),
            "page_bytes": (out / "reconciliation.html").stat().st_size if (out / "reconciliation.html").exists() else None}


def median_run(runs: list[dict]) -> dict:
    """The run of median pipeline time; its peak memory is the highest of all runs."""
    ordered = sorted(runs, key=lambda r: r["phases"]["total_before_publish"])
    return dict(ordered[len(ordered) // 2], peak_gib=max(r["peak_gib"] for r in runs),
                recompute_median=statistics.median(r["phases"]["recompute"] for r in runs),
                wall_median=statistics.median(r["wall"] for r in runs))


def measure(size: Size, work: Path, fmt: str, repeat: int) -> dict:
    data = generate(size, work, fmt)
    for leftover in ("out", "warehouse.duckdb", ".prefect", ".staged"):
        path = data / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    result = {"size": size.name, "generation": json.loads((data / "generation.json").read_text())}
    result["input_gib"] = sum(p.stat().st_size for p in (data / "inbox").rglob("*") if p.is_file()) / 2**30
    wall, rss, out = timed(python("-m", "benchmarks.floor", str(data)))
    result["floor"] = {"wall": wall, "peak_gib": rss, **json.loads(out)}
    result["first_load"] = nightly(data, size.end - dt.timedelta(days=repeat))
    if "failed" not in result["first_load"]:
        runs = [nightly(data, size.end - dt.timedelta(days=repeat - 1 - n)) for n in range(repeat)]
        result["nightly_runs"] = runs
        result["nightly"] = median_run(runs) if all("failed" not in r for r in runs) else runs[0]
        if "failed" not in runs[-1]:
            result["written_floor"] = json.loads(
                timed(python("-m", "benchmarks.floor", "--written", str(data / "out" / str(size.end))))[2])
    if size.reference:
        wall, rss, out = timed(python("-m", "benchmarks.reference_run", str(data), str(size.end)))
        result["reference"] = {"wall": wall, "peak_gib": rss, **json.loads(out)}
    return result


def verdicts(results: list[dict]) -> list[tuple[str, str, bool]]:
    """Each target the results can speak to: (target, measured, met)."""
    by_size = {r["size"]: r for r in results if "nightly" in r and "failed" not in r["nightly"]}
    found = []
    if "L" in by_size:
        night, floor = by_size["L"]["nightly"], by_size["L"]["floor"]["seconds"]
        recompute = night.get("recompute_median", night["phases"]["recompute"])
        pipeline = night["phases"]["total_before_publish"]
        first = by_size["L"]["first_load"]["phases"]["total_before_publish"]
        peak = max(night["peak_gib"], by_size["L"]["first_load"]["peak_gib"])
        steps = night["steps"]
        share = (steps.get("finance", 0) / 2 + night["phases"].get("tie out", 0) + night["phases"]["report"]) / pipeline
        found += [
            ("L full recompute <= 60 s", f"{recompute:.1f} s", recompute <= 60),
            ("L full recompute <= 14x the floor", f"{recompute / floor:.0f}x ({floor:.1f} s floor)", recompute <= 14 * floor),
            ("L nightly with a new day <= 70 s", f"{pipeline:.1f} s pipeline, {night.get('wall_median', night['wall']):.1f} s wall",
             pipeline <= 70),
            ("L first load <= 180 s", f"{first:.1f} s pipeline", first <= 180),
            ("L peak memory <= 4 GiB", f"{peak:.2f} GiB (first load and nightly)", peak <= 4),
            ("the report adds <= 10% to the L nightly", f"{share:.1%}", share <= 0.10),
        ]
    if "50k" in by_size:
        night = by_size["50k"]["nightly"]
        pipeline, wall = night["phases"]["total_before_publish"], night.get("wall_median", night["wall"])
        found += [("50k nightly <= 3 s before publishing", f"{pipeline:.1f} s", pipeline <= 3),
                  ("50k nightly <= 12 s as a whole process", f"{wall:.1f} s", wall <= 12)]
    if "M" in by_size and "reference" in by_size["M"]:
        ref, night = by_size["M"]["reference"], by_size["M"]["nightly"]
        recompute = night.get("recompute_median", night["phases"]["recompute"])
        best = max(ref["reference_seconds"] / ref["engine_seconds"], ref["reference_seconds"] / recompute)
        found.append(("M engine >= 40x faster than the reference", f"{best:.0f}x", best >= 40))
    return found


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))) / 2**20
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("polars", "duckdb", "numba", "pandera", "prefect", "pyarrow"))
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB; Python {platform.python_version()}; {versions}"


def _written(result: dict) -> str:
    floor = result.get("written_floor")
    return f"{floor['seconds']:.1f}" if floor else "-"


def report(results: list[dict], command: str) -> str:
    lines = ["# Benchmarks", "", f"Command: `{command}`", "", f"Machine: {machine()}", "", TARGETS, "",
             "Times in seconds, memory in GiB (peak RSS of the measured process). `wall` of a nightly run includes",
             "Prefect's temporary server (8 to 14 s by machine); `pipeline` is the run's own time before publishing. The nightly",
             "run is measured `--repeat` times: medians of its times, the highest of its peaks. Engine vs reference:",
             "the reference's time over the engine's, first the whole history computed in memory as one part, then",
             "the nightly's full recompute (parts read from disk, two at a time). Floors: `scan` reads every input",
             "file once (DuckDB, both cores); `write` writes the last night's movements and lots once, part by part",
             "as the flow does (one core): what any engine must spend each night on the published files alone.", "",
             "| size | customers | order lines | input GiB | floor: scan / write | first load wall / pipeline | full recompute | "
             "nightly wall / pipeline | peak first / nightly | reference | engine vs reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines_count = r["floor"]["rows"].get("orders.csv", r["floor"]["rows"].get("orders.parquet", 0))
        ref = r.get("reference")
        if "failed" in r["first_load"]:
            lines.append(f"| {r['size']} | {SIZES[r['size']].customers:,} | {lines_count:,} rows | {r['input_gib']:.2f} | "
                         f"{r['floor']['seconds']:.1f} | did not complete: {r['first_load']['failed']} | - | - | - | - | - |")
            continue
        lines.append(
            f"| {r['size']} | {SIZES[r['size']].customers:,} | {lines_count:,} rows | {r['input_gib']:.2f} | "
            f"{r['floor']['seconds']:.1f} / {_written(r)} | "
            f"{r['first_load']['wall']:.1f} / {r['first_load']['phases']['total_before_publish']:.1f} | "
            f"{r['nightly'].get('recompute_median', r['nightly']['phases']['recompute']):.1f} | "
            f"{r['nightly'].get('wall_median', r['nightly']['wall']):.1f} / {r['nightly']['phases']['total_before_publish']:.1f} | "
            f"{r['first_load']['peak_gib']:.2f} / {r['nightly']['peak_gib']:.2f} | "
            + (f"{ref['reference_seconds']:.1f} | {ref['reference_seconds'] / ref['engine_seconds']:.0f}x / "
               f"{ref['reference_seconds'] / r['nightly'].get('recompute_median', r['nightly']['phases']['recompute']):.0f}x "
               f"({ref['customers_differing']} of {ref['customers']:,} customers differ) |" if ref else "- | - |")
        )
    lines += ["", "Phases of the nightly run (seconds; the steps from `read part` on are summed over the parts,",
              "two of which run at once, so they add up to more than the recompute). The finance report's share",
              "of the night: `finance` (per part, halved: two parts at once) + `tie out` + `report`, over the",
              "pipeline's time:", "",
              "| size | parts | stage | recompute | tie out | write balances | audit | report | read part | history | "
              "events | ledger | balances | finance | report share | page |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "nightly" not in r:
            continue
        p, s = r["nightly"]["phases"], r["nightly"]["steps"]
        share = (s.get("finance", 0) / 2 + p.get("tie out", 0) + p["report"]) / p["total_before_publish"]
        page = r["nightly"].get("page_bytes")
        lines.append(f"| {r['size']} | {r['nightly'].get('partitions', '-')} | {p['stage']:.1f} | {p['recompute']:.1f} | "
                     f"{p.get('tie out', 0):.1f} | {p.get('write balances', 0):.1f} | {p['audit']:.1f} | "
                     f"{p['report']:.1f} | {s.get('read', 0):.1f} | "
                     f"{s['history']:.1f} | {s['events']:.1f} | {s['ledger']:.1f} | {s['balances']:.1f} | "
                     f"{s.get('finance', 0):.1f} | {share:.1%} | "
                     + (f"{page / 2**20:.2f} MiB |" if page else "- |"))
    lines += ["", "Targets, checked on the figures above:", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {'met' if met else 'missed'} |" for target, measured, met in verdicts(results)]
    lines += ["", "Generation: " + "; ".join(
        f"{r['size']} {r['generation']['seconds']:.0f} s, peak {r['generation']['peak_gib']:.2f} GiB" for r in results), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--work", type=Path, default=PROJECT / "benchmarks" / "work")
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--output", type=Path, default=PROJECT / "BENCHMARKS.md")
    parser.add_argument("--repeat", type=int, default=3, help="nightly runs measured per size (median)")
    parser.add_argument("--keep", action="store_true", help="keep the other sizes' results from the last run")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the last results")
    args = parser.parse_args()
    saved = args.work / "results.json"
    earlier = {r["size"]: r for r in json.loads(saved.read_text())} if (args.keep or args.report_only) and saved.exists() else {}
    for name in [] if args.report_only else args.sizes.split(","):
        earlier[name] = measure(SIZES[name], args.work, args.format, args.repeat)
        saved.write_text(json.dumps(list(earlier.values()), indent=2, default=str))
        print(json.dumps(earlier[name], default=str), flush=True)
    results = [earlier[name] for name in SIZES if name in earlier]
    analysis = ""
    if args.output.exists() and ANALYSIS_MARK in args.output.read_text():
        analysis = args.output.read_text().split(ANALYSIS_MARK, 1)[1]
    measured = report(results, "python3 -m uv run python -m benchmarks.run " + " ".join(sys.argv[1:]))
    args.output.write_text(measured + "\n" + ANALYSIS_MARK + analysis)


if __name__ == "__main__":
    main()
