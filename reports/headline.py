"""The night's headline for the Prefect UI: a markdown artifact and the roll-forward as a table."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import polars as pl

from reports.model import FinanceReport

BREAKS_SHOWN = 20


def headline_markdown(report: FinanceReport) -> str:
    liability = report.liability.row(0, named=True)
    exceptions = report.exceptions_by_code
    errors = int(exceptions.filter(exceptions["severity"] == "error").get_column("rows").sum())
    mismatches = {code: (rows, points) for code, rows, points in report.variance_summary.iter_rows()}
    opening = f"published {report.opening_as_of}" if report.opening_as_of else "none: first run, from zero"
    lines = [
        f"# Loyalty reconciliation {report.as_of}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| liability (RUB) | {liability['closing']} |",
        f"| change since the opening | {liability['closing'] - liability['opening']:+d} |",
        f"| opening | {opening} |",
        f"| restatement of the opening | {liability['restatement']:+d} ({report.restated_customers} customers) |",
        f"| roll-forward ties | {'yes' if report.ties else 'NO'} |",
        f"| exceptions published | {int(exceptions.get_column('rows').sum())} ({errors} errors) |",
    ]
    if report.operational_reported:
        lines += [f"| {code} | {rows} rows, {points} points |" for code, (rows, points) in mismatches.items()]
    else:
        lines.append("| variance | no operational balances file that day |")
    return "\n".join(lines) + "\n"


def _inert(text: str) -> str:
    """Text shown as written in markdown: HTML escaped, markdown's special characters backslashed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", html.escape(text, quote=False))


def break_markdown(as_of: dt.date, breaks: pl.DataFrame, where: Path) -> str:
    """The headline of a night that did not publish: the roll-forward did not tie (messages escaped:
    they carry customer ids)."""
    lines = [f"# Loyalty reconciliation {as_of}: NOT PUBLISHED", "",
             f"The roll-forward does not tie ({breaks.height} ROLLFORWARD_BREAK rows, all in `{where}`):", ""]
    lines += [f"- {_inert(message)}" for message in breaks.get_column("message").head(BREAKS_SHOWN)]
    return "\n".join(lines) + "\n"
