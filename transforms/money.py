"""Money at the edges: integer kopecks inside, Decimal(18, 2) RUB in outputs, exact both ways."""

from __future__ import annotations

import polars as pl

from schemas.formats import MONEY


def rub_text(kopecks: pl.Expr) -> pl.Expr:
    """'-1234.05' from -123405 kopecks, without any division."""
    magnitude = kopecks.abs()
    return pl.concat_str(
        pl.when(kopecks < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (magnitude // 100).cast(pl.String),
        pl.lit("."),
        (magnitude % 100).cast(pl.String).str.zfill(2),
    )


def rub(kopecks: pl.Expr) -> pl.Expr:
    """Decimal(18, 2) RUB from integer kopecks."""
    return rub_text(kopecks).cast(MONEY)
