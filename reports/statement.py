"""A customer's statement as text (people), CSV or JSON (machines): `perfone-loyalty explain`."""

from __future__ import annotations

import json

import polars as pl

from transforms.rules import Rules
from transforms.statement import Statement

FORMATS = ("text", "csv", "json")

def _origin() -> pl.Expr:
    """What created a lot, in words (the lot id names the order or adjustment after its prefix)."""
    kind = pl.col("lot_kind")
    return (
        pl.when(kind == "earn").then(pl.format("cashback on order {}", pl.col("lot_id").str.strip_prefix("earn:")))
        .when(kind == "adjust").then(pl.format("adjustment {}", pl.col("lot_id").str.strip_prefix("adjust:")))
        .when(kind == "restore").then(pl.lit("points paid on a returned line, given back"))
        .otherwise(pl.lit("birthday points"))
    )


def _lots_text(lots: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The lots with their times on the program's clock, their origin and terms, as text."""
    return lots.with_columns(
        *[pl.col(c).dt.convert_time_zone(rules.timezone).dt.strftime("%Y-%m-%d %H:%M").fill_null("-")
          for c in ("created_at", "matures_at", "expires_at")],
        _origin().alias("origin"),
        pl.when(pl.col("cashback_pct").is_not_null())
        .then(pl.format("{}% of {} RUB", "cashback_pct", pl.col("base").cast(pl.String)))
        .otherwise(pl.lit("-")).alias("terms"),
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *rows]]


def as_text(found: Statement, rules: Rules) -> str:
    b = found.balance
    lines = [
        f"Customer {found.customer_id} as of {b['as_of']}: available {b['available_points']}, "
        f"pending {b['pending_points']}, debt {b['debt_points']}; tier {b['tier']} ({b['cashback_pct']}%), "
        f"lifetime spend {b['lifetime_spend']} RUB",
        "",
        f"Lots ({found.lots.height}); times are Moscow time",
    ]
    lots = _lots_text(found.lots, rules)
    lines += _table(
        ["lot", "created", "from", "terms", "matures", "expires", "issued", "left", "bucket"],
        [[r["lot_id"], r["created_at"], r["origin"], r["terms"], r["matures_at"], r["expires_at"],
          r["issued_points"], r["remaining_points"], r["bucket"] if r["remaining_points"] else "-"]
         for r in lots.iter_rows(named=True)],
    )
    lines += ["", f"Movements ({found.movements.height}), each with the balances after it"]
    moves = found.movements.with_columns(
        pl.col("instant").dt.convert_time_zone(rules.timezone).dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("lot_id").fill_null("-"),
    )
    lines += _table(
        ["when", "kind", "bucket", "points", "lot", "source", "pending", "available", "debt"],
        [[r["instant"], r["kind"], r["bucket"], f"{r['points']:+d}", r["lot_id"],
          f"{r['source_kind']} {r['source_id']}", r["pending_balance"], r["available_balance"], r["debt_balance"]]
         for r in moves.iter_rows(named=True)],
    )
    return "\n".join(lines) + "\n"


def as_csv(found: Statement) -> str:
    """The movements with the running balances and each movement's lot terms, one row each."""
    lots = found.lots.select(
        "lot_id", "lot_kind", pl.col("created_at").alias("lot_created_at"), "matures_at", "expires_at",
        "cashback_pct", "issued_points", "remaining_points",
    )
    moves = found.movements.with_row_index("sequence", offset=1).join(lots, on="lot_id", how="left",
                                                                      maintain_order="left")
    return moves.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z")


def as_json(found: Statement) -> str:
    def rows(frame: pl.DataFrame) -> list[dict]:
        return json.loads(frame.write_json())

    document = {
        "customer_id": found.customer_id,
        "balance": json.loads(pl.DataFrame([found.balance]).write_json())[0],
        "lots": rows(found.lots),
        "movements": rows(found.movements),
    }
    return json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n"


def render(found: Statement, rules: Rules, form: str) -> str:
    return {"text": lambda: as_text(found, rules), "csv": lambda: as_csv(found), "json": lambda: as_json(found)}[form]()
