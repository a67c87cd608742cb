"""Rates of deliberate problems in generated data; light, so that `--help` need not load the generator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anomalies:
    """Rates of deliberate problems, as fractions of rows (files for late_files)."""

    bad_rows: float = 0.001
    duplicates: float = 0.002
    conflicts: float = 0.0005
    late_files: float = 0.01
    early_returns: float = 0.2  # of cancellations: the order's file arrives days after the cancel


MEANING = {
    "bad_rows": "share of rows broken on purpose (SCHEMA exceptions)",
    "duplicates": "share of order lines sent again unchanged",
    "conflicts": "share of order lines sent again with another value (ORDER_CONFLICT)",
    "late_files": "share of daily files that arrive in a later folder",
    "early_returns": "share of cancellations whose order file arrives days after them",
}
