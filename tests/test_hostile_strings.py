"""Strings a shop system lets through stay inert in everything people open, and exact where machines read.

Every id column that reaches a report carries a formula, a DDE command or markup: customer, order,
return and adjustment ids, promo codes and adjustment reasons. Two nights run; the second has a
late row for a hostile customer (a restatement), an overdraft and operational balances that
disagree (the largest differences, with their statements).
"""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows.nightly import nightly

pytestmark = pytest.mark.usefixtures("prefect_harness")

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "<script>alert(1)</script>",
           '"><img src=x onerror=alert(1)>', "-2+3"]
CUSTOMERS = HOSTILE
FORMULA = ("=", "+", "-", "@")


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema={c: pl.String for c in rows[0]}).write_csv(path)


def order(order_id: str, customer: str, paid: str, price: str, redeemed: str = "0", promo: str = "") -> dict:
    return {"order_id": order_id, "line_no": "1", "customer_id": customer, "channel": "boutique", "paid_at": paid,
            "delivered_at": "", "currency": "RUB", "sku": order_id, "quantity": "1", "unit_price": price,
            "discount": "0.00", "points_redeemed": redeemed, "promo_code": promo}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("hostile") / "data"
    inbox = data / "inbox"
    write(inbox / "2026-03-01/customers.csv",
          [{"customer_id": c, "registered_at": "2026-01-01T10:00:00+03:00", "birth_date": ""} for c in CUSTOMERS])
    write(inbox / "2026-03-01/orders.csv", [
        order(f"{c}#order", c, "2026-03-01T12:00:00+03:00", "10000.00", promo=HOSTILE[(n + 1) % len(HOSTILE)])
        for n, c in enumerate(CUSTOMERS)])
    write(inbox / "2026-03-02/adjustments.csv", [
        {"adjustment_id": f"{c}#adjustment", "customer_id": c, "created_at": "2026-03-02T10:00:00+03:00",
         "points": "-100", "reason": HOSTILE[(n + 2) % len(HOSTILE)]} for n, c in enumerate(CUSTOMERS)])
    write(inbox / "2026-03-03/returns.csv", [  # late: returned on 03-01, restates 03-02
        {"return_id": f"{c}#return", "order_id": f"{c}#order", "line_no": "1", "kind": "return", "quantity": "1",
         "returned_at": "2026-03-01T18:00:00+03:00"} for c in CUSTOMERS[:2]])
    write(inbox / "2026-03-03/balances.csv", [
        {"customer_id": c, "available_points": "7", "pending_points": "0"} for c in [*CUSTOMERS, "=1+1"]])
    for day in ("2026-03-02", "2026-03-03"):
        out = Path(nightly(dt.date.fromisoformat(day), data))
    return out


def test_the_page_runs_no_script_and_shows_every_hostile_string_as_text(published):
    from browser import Browser

    with Browser() as browser:
        record = browser.load(published / "reconciliation.html")
        scripts = browser.evaluate("document.scripts.length")
        images = browser.evaluate("document.images.length")
        text = browser.evaluate("Array.from(document.querySelectorAll('details')).map(d => d.open = true).length "
                                "&& document.body.innerText")
    assert record.errors() == [] and record.dialogs == []
    assert record.requests == [(published / "reconciliation.html").resolve().as_uri()]
    assert (scripts, images) == (0, 0)
    for hostile in HOSTILE:
        assert hostile in text, hostile


def test_the_workbook_holds_them_as_text_never_as_formulas(published):
    import openpyxl

    book = openpyxl.load_workbook(published / "reconciliation.xlsx")
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if c.data_type == "s"}
    for hostile in HOSTILE:
        assert any(hostile in t for t in texts), hostile


@pytest.mark.parametrize("name", ["exceptions.csv", "restatements.csv"])
def test_the_csvs_people_open_start_no_cell_with_a_formula(published, name):
    table = pl.read_csv(published / name)
    assert table.height > 0
    text = [name for name, dtype in table.schema.items() if dtype == pl.String]
    cells = [cell for column in text for cell in table[column].drop_nulls()]
    assert not [cell for cell in cells if cell.startswith(FORMULA)]
    assert any(cell.startswith("'=HYPERLINK(") for cell in cells)


def test_machine_files_keep_the_values_exact(published):
    balances = pl.read_csv(published / "balances.csv", infer_schema=False)
    assert sorted(balances["customer_id"]) == sorted(CUSTOMERS)
    exceptions = pl.read_parquet(published / "exceptions.parquet")
    assert "=1+1" in exceptions["customer_id"].to_list()
    assert set(pl.read_csv(published / "restatements.csv", infer_schema=False)["customer_id"]) == {
        f"'{c}" if c.startswith(FORMULA) else c for c in CUSTOMERS[:2]}
