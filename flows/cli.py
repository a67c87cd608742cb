"""`perfone-loyalty`: the nightly job and its backfill, explain and generate from the command line (docs/interfaces.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from transforms.partition import BUCKETS as MAX_PARTS


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="perfone-loyalty", description=__doc__)
    top.add_argument("-v", "--verbose", action="store_true", help="show Prefect's run logs")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the nightly job for business date D")
    run.add_argument("--date", type=_date, help="business date D (default: yesterday in Moscow)")
    run.add_argument("--data-dir", type=Path, help="data directory (default: the bundled sample in data/)")
    run.add_argument("--partitions", type=int, help="customer parts, two computed at a time (default: one per 1M order rows; at most 256)")
    fill = commands.add_parser("backfill", help="the nightly job for each date from --start to --end")
    fill.add_argument("--start", type=_date, required=True)
    fill.add_argument("--end", type=_date, required=True)
    fill.add_argument("--data-dir", type=Path)
    fill.add_argument("--partitions", type=int)
    explain = commands.add_parser(
        "explain", help="a customer's statement from a published day: each lot, and each movement with the "
                        "balance of each bucket after it")
    explain.add_argument("--customer", required=True, help="the customer id, exactly as in balances.csv")
    explain.add_argument("--date", type=_date, help="a published business date D (default: the latest published)")
    explain.add_argument("--data-dir", type=Path, help="data directory (default: the bundled sample in data/)")
    explain.add_argument("--format", choices=["text", "csv", "json"], default="text",
                         help="text for people (default), csv or json for machines")
    gen = commands.add_parser("generate", help="write synthetic inbox folders of a fashion retailer")
    gen.add_argument("--customers", type=int, required=True)
    gen.add_argument("--start", type=_date, required=True)
    gen.add_argument("--end", type=_date, required=True)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--data-dir", type=Path, required=True, help="a new or empty data directory")
    gen.add_argument("--format", choices=["csv", "parquet"], default="csv")
    gen.add_argument("--chunk", type=int, default=25_000, help="customers generated at once (memory)")
    gen.add_argument("--no-operational-balances", action="store_true",
                     help="skip the operational balances file of the last day (saves one engine run)")
    for name, default in vars(_anomaly_defaults()).items():
        gen.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, help="anomaly rate")
    return top


def _anomaly_defaults():
    from synthetic.retail import Anomalies

    return Anomalies()


def _generate(args) -> int:
    from synthetic.retail import Anomalies, Plan, generate
    from transforms.rules import default_rules

    if args.customers < 1 or args.chunk < 1 or args.end < args.start:
        print("perfone-loyalty: generate needs --customers >= 1, --chunk >= 1 and --end >= --start", file=sys.stderr)
        return 2
    anomalies = Anomalies(**{name: getattr(args, name) for name in vars(Anomalies())})
    plan = Plan(args.customers, args.start, args.end, args.seed, anomalies, args.chunk,
                operational_balances=not args.no_operational_balances)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = generate(args.data_dir, plan, default_rules(), args.format)
    except FileExistsError as problem:
        print(f"perfone-loyalty: {problem}", file=sys.stderr)
        return 1
    print(f"generated {args.data_dir / 'inbox'}: {summary['folders']} folders, rows {summary['rows']}")
    return 0


def _prepare_environment(data_dir: Path, verbose: bool) -> None:
    """Prefect settings must be in place before it is imported."""
    os.environ.setdefault("PREFECT_HOME", str(data_dir / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "CRITICAL")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _explain(args, data_dir: Path) -> int:
    from flows.explain import NotFound, customer_statement, published_folder
    from reports.statement import render
    from transforms.rules import default_rules

    try:
        found = customer_statement(published_folder(data_dir, args.date), args.customer)
    except NotFound as problem:
        print(f"perfone-loyalty: {problem}", file=sys.stderr)
        return 2
    sys.stdout.write(render(found, default_rules(), args.format))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    project_data = Path(__file__).resolve().parents[1] / "data"
    data_dir = (args.data_dir or project_data).resolve()
    if not data_dir.is_dir():
        print(f"perfone-loyalty: data directory {data_dir} does not exist", file=sys.stderr)
        return 2
    if args.command == "explain":
        return _explain(args, data_dir)
    if getattr(args, "partitions", None) is not None and not 1 <= args.partitions <= MAX_PARTS:
        print(f"perfone-loyalty: --partitions must be from 1 to {MAX_PARTS}", file=sys.stderr)
        return 2
    if args.command == "backfill" and args.end < args.start:
        print("perfone-loyalty: --end is before --start", file=sys.stderr)
        return 2
    _prepare_environment(data_dir, args.verbose)
    try:
        from flows.nightly import backfill, nightly

        if args.command == "run":
            published = [nightly(args.date, data_dir, args.partitions)]
        else:
            published = backfill(args.start, args.end, data_dir, args.partitions)
    except KeyboardInterrupt:
        print("perfone-loyalty: interrupted; nothing more was published", file=sys.stderr)
        return 130
    except BaseException as problem:  # a pyo3 panic is not an Exception; SystemExit never reaches here
        reason = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        print(f"perfone-loyalty: not published: {reason}", file=sys.stderr)
        return 1
    for folder in published:
        print(f"published {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
