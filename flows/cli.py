"""`perfone-loyalty`: the nightly job, its backfill, a customer's statement and synthetic data
from the command line (docs/interfaces.md)."""

from __future__ import annotations

import flows.allocator  # noqa: F401  (first: it sets up Polars' allocator before Polars loads)

import argparse
import datetime as dt
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from flows.lock import unwritable
from synthetic.anomalies import MEANING, Anomalies
from transforms.partition import SHARDS as MAX_PARTS

PROGRAM = "perfone-loyalty"
EXIT_CODES = """exit codes:
  0    published (run, backfill), or printed (explain, generate)
  1    not published: one line on stderr says which file or check stopped it; nothing was published
  2    the command line is wrong (an option, a date, a data directory), or explain found no such
       customer or published day
  3    another run holds the data directory (after --wait seconds)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM): nothing more was published, the run is
       recorded as failed"""
EARLIEST = dt.date(2000, 1, 1)
YEARS_AHEAD = 10
"""Business dates a run accepts: from EARLIEST to this many years after today."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the run like Ctrl-C does, so that it records what happened."""


def _date(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None
    latest = dt.date.today() + dt.timedelta(days=365 * YEARS_AHEAD)
    if not EARLIEST <= day <= latest:
        raise argparse.ArgumentTypeError(f"{text} is outside the dates a run accepts ({EARLIEST} .. {latest})")
    return day


def _parts(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= MAX_PARTS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_PARTS}, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a number of seconds >= 0, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """A wrong command line is said in one line, like every other failure."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show Prefect's run logs on stderr")
    top = OneLineParser(prog=PROGRAM, description=__doc__, epilog=EXIT_CODES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("-v", "--verbose", action="store_true", help="show Prefect's run logs on stderr")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, epilog=EXIT_CODES, parents=[verbose],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    def data_dir(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", type=Path, metavar="DIR",
                         help="data directory: inbox/ in, out/ and the state files (default: the bundled sample in data/)")

    def running(sub: argparse.ArgumentParser) -> None:
        data_dir(sub)
        sub.add_argument("--partitions", type=_parts, metavar="K",
                         help=f"customer parts, two computed at a time (default: one per 500 000 order rows, rounded up to fill the rounds of two; 1 to {MAX_PARTS})")
        sub.add_argument("--wait", type=_seconds, default=0, metavar="SECONDS",
                         help="if another run holds the data directory, wait up to this long for it (default: 0, "
                              "exit 3 at once)")
        sub.add_argument("--cluster", metavar="ADDRESS",
                         help="compute the customer parts on this Dask scheduler (tcp://host:8786), whose workers "
                              "must see the data directory's path (default: two at a time on this machine)")

    run = command("run", "the nightly job for business date D: recompute from every inbox folder <= D, publish out/D/")
    run.add_argument("--date", type=_date, metavar="D", help="business date YYYY-MM-DD (default: yesterday in Moscow)")
    running(run)
    fill = command("backfill", "the nightly job for each date from --start to --end, in order, each published "
                               "as it is done")
    fill.add_argument("--start", type=_date, required=True, metavar="D1", help="first business date, YYYY-MM-DD")
    fill.add_argument("--end", type=_date, required=True, metavar="D2", help="last business date, YYYY-MM-DD")
    running(fill)
    explain = command("explain", "a customer's statement from a published day: each lot, and each movement with "
                                 "the balance of each bucket after it")
    explain.add_argument("--customer", required=True, metavar="C", help="the customer id, exactly as in balances.csv")
    explain.add_argument("--date", type=_date, metavar="D", help="a published business date (default: the latest)")
    data_dir(explain)
    explain.add_argument("--format", choices=["text", "csv", "json"], default="text",
                         help="text for people (default), csv or json for machines")
    gen = command("generate", "write synthetic inbox folders of a fashion retailer (same arguments, same bytes)")
    gen.add_argument("--customers", type=int, required=True, metavar="N", help="number of customers")
    gen.add_argument("--start", type=_date, required=True, metavar="D1", help="first inbox folder, YYYY-MM-DD")
    gen.add_argument("--end", type=_date, required=True, metavar="D2", help="last inbox folder, YYYY-MM-DD")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    gen.add_argument("--data-dir", type=Path, required=True, metavar="DIR", help="a new or empty data directory")
    gen.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default: csv)")
    gen.add_argument("--chunk", type=int, default=25_000, metavar="N",
                     help="customers generated at once; memory grows with it (default: 25000)")
    gen.add_argument("--no-operational-balances", action="store_true",
                     help="skip the operational balances file of the last day (saves one engine run)")
    for name, default in vars(Anomalies()).items():
        gen.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, metavar="RATE",
                         help=f"{MEANING[name]} (default: {default})")
    return top


def _generate(args) -> int:
    from synthetic.retail import Plan, generate
    from transforms.rules import default_rules

    if args.customers < 1 or args.chunk < 1 or args.end < args.start:
        print(f"{PROGRAM}: generate needs --customers >= 1, --chunk >= 1 and --end >= --start", file=sys.stderr)
        return 2
    anomalies = Anomalies(**{name: getattr(args, name) for name in vars(Anomalies())})
    plan = Plan(args.customers, args.start, args.end, args.seed, anomalies, args.chunk,
                operational_balances=not args.no_operational_balances)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = generate(args.data_dir, plan, default_rules(), args.format)
    except FileExistsError as problem:
        print(f"{PROGRAM}: {problem}", file=sys.stderr)
        return 1
    print(f"generated {args.data_dir / 'inbox'}: {summary['folders']} folders, rows {summary['rows']}")
    return 0


def _explain(args, data_dir: Path) -> int:
    from flows.explain import NotFound, customer_statement, published_folder
    from reports.statement import render
    from transforms.rules import default_rules

    try:
        found = customer_statement(published_folder(data_dir, args.date), args.customer)
    except NotFound as problem:
        print(f"{PROGRAM}: {problem}", file=sys.stderr)
        return 2
    sys.stdout.write(render(found, default_rules(), args.format))
    return 0


def _prepare_environment(data_dir: Path, verbose: bool) -> None:
    """Prefect settings must be in place before it is imported. Without -v its console stays quiet
    whatever PREFECT_LOGGING_LEVEL says: a failure is one line, ours."""
    os.environ.setdefault("PREFECT_HOME", str(data_dir / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["PREFECT_LOGGING_LEVEL"] = os.environ.get("PREFECT_LOGGING_LEVEL", "INFO") if verbose else "CRITICAL"
    os.environ["PREFECT_LOGGING_SERVER_LEVEL"] = "CRITICAL"
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


def _nights(args, data_dir: Path) -> int:
    """run or backfill, inside the data directory's lock and a temporary Prefect server."""
    from flows.lock import DataDirBusy, holding
    from flows.prefect_server import temporary_server
    from flows.progress import ProgressHandler, tell

    days = [args.date] if args.command == "run" else [
        args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]
    progress = logging.getLogger("perfone.progress")
    handler = ProgressHandler()
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False
    published: list[str] = []
    current = days[0]
    what = f"{args.command} {days[0] or 'yesterday'}" + (f"..{days[-1]}" if len(days) > 1 else "")
    try:
        with holding(data_dir, what, args.wait, waiting=lambda line: print(f"{PROGRAM}: {line}", file=sys.stderr)):
            ahead = []  # the first night's inbox, staged while the server starts
            with temporary_server(meanwhile=lambda: ahead.append(
                    importlib.import_module("flows.nightly").stage_ahead(data_dir, days[0]))):
                from flows.nightly import nightly

                for n, current in enumerate(days, start=1):
                    published.append(nightly(current, data_dir, args.partitions, cluster=args.cluster,
                                             head_start=ahead.pop() if ahead else None))
                    print(f"published {published[-1]}", flush=True)
                    if len(days) > 1:
                        tell(f"{n} of {len(days)} nights published, the last {current}", n, len(days))
    except DataDirBusy as busy:
        print(f"{PROGRAM}: not started: {busy}", file=sys.stderr)
        return 3
    except (KeyboardInterrupt, Terminated) as stop:
        code, why = (130, "interrupted") if isinstance(stop, KeyboardInterrupt) else (143, "terminated (SIGTERM)")
        print(f"{PROGRAM}: not published: {why}{_so_far(published, current, len(days))}", file=sys.stderr)
        return code
    except BaseException as problem:  # a pyo3 panic is not an Exception; SystemExit never reaches here
        day = f"{current}: " if len(days) > 1 else ""
        print(f"{PROGRAM}: not published: {day}{_first_line(problem)}{_so_far(published, current, len(days))}",
              file=sys.stderr)
        return 1
    finally:
        handler.close()
        progress.removeHandler(handler)
    return 0


def _so_far(published: list[str], failed: dt.date | None, nights: int) -> str:
    if nights == 1:
        return ""
    done = [Path(p).name for p in published]
    return (f" (published {done[0]} .. {done[-1]} before {failed} failed)" if done
            else f" ({failed} failed; nothing of the backfill was published)")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    project_data = Path(__file__).resolve().parents[1] / "data"
    data_dir = (args.data_dir or project_data).resolve()
    if not data_dir.is_dir():
        print(f"{PROGRAM}: data directory {data_dir} does not exist", file=sys.stderr)
        return 2
    if args.command == "explain":
        return _explain(args, data_dir)
    if args.command == "backfill" and args.end < args.start:
        print(f"{PROGRAM}: --end is before --start", file=sys.stderr)
        return 2
    problem = unwritable(data_dir)
    if problem:
        print(f"{PROGRAM}: not published: {problem}", file=sys.stderr)
        return 2
    _prepare_environment(data_dir, getattr(args, "verbose", False))

    def terminate(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    return _nights(args, data_dir)


if __name__ == "__main__":
    sys.exit(main())
