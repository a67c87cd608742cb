"""The finance roll-forward (RULES 11) over real nightly runs: hand-computed tables, breaks, recovery.

The history (rates 5%, boutique orders mature 14 days after payment, 12-month expiry):
  C1  born 1990-03-04.  O1 paid 2025-03-05 12:00, 20 000.00 -> 1 000 pending, matures 2025-03-19,
      expires 2026-03-05 00:00.  O3 paid 2026-02-20 12:00, 4 000.00 -> 200 pending (matures
      2026-03-06).  R1 returns O3 whole at 2026-03-03 18:00 but arrives in the folder of 2026-03-05:
      it claws the 200 back and restates the closing of 2026-03-03.  Birthday 2026-03-04 00:00:
      10 000 available (a member since O1).
  C2  O2 paid 2026-03-02 10:00, 10 000.00 paying 3 000 points with none available: 3 000 debt
      (OVERDRAFT); earns 5% of 7 000 = 350 pending.  A1 +5 000 on 2026-03-03 15:00 repays the debt,
      2 000 stay available.
Nights run: 2026-03-02 (the first), 2026-03-03, then 2026-03-05 (2026-03-04 skipped).
"""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows.nightly import nightly
from transforms.finance import RollforwardBreak

pytestmark = pytest.mark.usefixtures("prefect_harness")

ORDERS = "order_id,line_no,customer_id,channel,paid_at,delivered_at,currency,sku,quantity,unit_price,discount,points_redeemed,promo_code\n"
INBOX = {
    "2025-03-05/customers.csv": "customer_id,registered_at,birth_date\n"
                                "C1,2025-01-01T10:00:00+03:00,1990-03-04\nC2,2025-01-01T10:00:00+03:00,\n",
    "2025-03-05/orders.csv": ORDERS + "O1,1,C1,boutique,2025-03-05T12:00:00+03:00,,RUB,S,1,20000.00,0.00,0,\n",
    "2026-02-20/orders.csv": ORDERS + "O3,1,C1,boutique,2026-02-20T12:00:00+03:00,,RUB,S,1,4000.00,0.00,0,\n",
    "2026-03-02/orders.csv": ORDERS + "O2,1,C2,boutique,2026-03-02T10:00:00+03:00,,RUB,S,1,10000.00,0.00,3000,\n",
    "2026-03-03/adjustments.csv": "adjustment_id,customer_id,created_at,points,reason\n"
                                  "A1,C2,2026-03-03T15:00:00+03:00,5000,goodwill\n",
    "2026-03-05/returns.csv": "return_id,order_id,line_no,kind,quantity,returned_at\n"
                              "R1,O3,1,return,1,2026-03-03T18:00:00+03:00\n",
}
KINDS = ["earn", "mature", "redeem", "expire", "clawback", "restore", "birthday", "adjust", "debt", "repay"]
EXCEPTION_COLUMNS = ["business_date", "severity", "code", "source_file", "source_row", "entity_id", "customer_id",
                     "message"]
COLUMNS = ["bucket", "opening", "restatement", *KINDS, "closing", "ties", "as_of", "opening_as_of"]


def row(bucket, opening, restatement, closing, **kinds):
    return [bucket, opening, restatement, *[kinds.get(k, 0) for k in KINDS], closing, True]


EXPECTED = {
    "2026-03-02": [  # the first run: from zero, every movement of the history
        row("pending", 0, 0, 550, earn=1550, mature=-1000),
        row("available", 0, 0, 1000, mature=1000),
        row("debt", 0, 0, 3000, debt=3000),
        row("liability", 0, 0, -1450, earn=1550, debt=-3000),
    ],
    "2026-03-03": [  # the adjustment repays the debt
        row("pending", 550, 0, 550),
        row("available", 1000, 0, 3000, adjust=5000, repay=-3000),
        row("debt", 3000, 0, 0, repay=-3000),
        row("liability", -1450, 0, 3550, adjust=5000),
    ],
    "2026-03-05": [  # two days: the birthday, O1's expiry; the late return restates 03-03
        row("pending", 550, -200, 350),
        row("available", 3000, 0, 12000, expire=-1000, birthday=10000),
        row("debt", 0, 0, 0),
        row("liability", 3550, -200, 12350, expire=-1000, birthday=10000),
    ],
}
OPENED = {"2026-03-02": None, "2026-03-03": "2026-03-02", "2026-03-05": "2026-03-03"}


def write_inbox(data_dir: Path) -> None:
    for name, text in INBOX.items():
        path = data_dir / "inbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Path:
    """The three nights run once, in order; tests only read them."""
    data_dir = tmp_path_factory.mktemp("finance") / "data"
    write_inbox(data_dir)
    for day in EXPECTED:
        nightly(dt.date.fromisoformat(day), data_dir)
    return data_dir


@pytest.fixture
def fresh(tmp_path) -> Path:
    data_dir = tmp_path / "data"
    write_inbox(data_dir)
    return data_dir


@pytest.mark.parametrize("day", list(EXPECTED))
def test_the_rollforward_equals_the_hand_computed_table(nights, day):
    table = pl.read_csv(nights / "out" / day / "rollforward.csv", infer_schema=False)
    assert table.columns == COLUMNS
    got = [[r[0], *map(int, r[1:-3]), r[-3] == "true"] for r in table.rows()]
    assert got == EXPECTED[day]
    assert set(table["as_of"]) == {day}
    assert set(table["opening_as_of"]) == {OPENED[day]}


def test_the_restatement_names_the_customer_and_the_late_row(nights):
    restated = pl.read_csv(nights / "out/2026-03-05/restatements.csv", infer_schema=False)
    assert restated.rows() == [("C1", "pending", "200", "0", "-200", "inbox/2026-03-05/returns.csv:1")]
    assert pl.read_csv(nights / "out/2026-03-03/restatements.csv").height == 0


def test_closings_are_stored_with_the_published_day(nights):
    with duckdb.connect(str(nights / "warehouse.duckdb"), read_only=True) as con:
        days = con.sql("SELECT as_of, state, pending, available, debt FROM publications ORDER BY as_of").fetchall()
        c2 = con.sql("SELECT c.pending, c.available, c.debt FROM closings c JOIN publications p USING (run_id) "
                     "WHERE p.as_of = DATE '2026-03-02' AND c.customer_id = 'C2'").fetchall()
    assert days == [
        (dt.date(2026, 3, 2), "committed", 550, 1000, 3000),
        (dt.date(2026, 3, 3), "committed", 550, 3000, 0),
        (dt.date(2026, 3, 5), "committed", 350, 12000, 0),
    ]
    assert c2 == [(350, 0, 3000)]


def test_the_page_opens_in_a_browser_and_its_figures_are_the_rollforward(nights):
    from browser import Browser

    out = nights / "out/2026-03-05"
    rollforward = {r["bucket"]: r for r in pl.read_csv(out / "rollforward.csv").iter_rows(named=True)}
    with Browser() as browser:
        record = browser.load(out / "reconciliation.html")
        cells = browser.evaluate(
            "Array.from(document.querySelectorAll('#rollforward tr[data-bucket] td[data-column]'))"
            ".map(td => [td.parentElement.dataset.bucket, td.dataset.column, td.dataset.value])")
        figures = browser.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('[data-figure]'))"
            ".map(e => [e.dataset.figure, e.dataset.value]))")
        shot = Path(__file__).parents[1] / "test-output" / "reconciliation-2026-03-05.png"
        browser.screenshot(shot)
    assert record.errors() == []
    assert record.requests == [(out / "reconciliation.html").resolve().as_uri()]
    numeric = [(b, c, int(v)) for b, c, v in cells if c != "ties"]
    assert numeric and all(rollforward[b][c] == v for b, c, v in numeric)
    assert len(numeric) == 4 * 13
    liability = rollforward["liability"]
    assert int(figures["liability-closing"]) == liability["closing"] == 12350
    assert int(figures["liability-change"]) == liability["closing"] - liability["opening"] == 8800
    assert figures["ties"] == "1"
    print(f"screenshot: {shot}")


def test_the_workbook_holds_the_published_figures_as_numbers(nights):
    import openpyxl

    out = nights / "out/2026-03-05"
    book = openpyxl.load_workbook(out / "reconciliation.xlsx")
    sheet = book["Движение баллов"]
    head = [c.value for c in sheet[1]]
    rows = {r[1].value: r for r in sheet.iter_rows(min_row=2)}
    closing = head.index("Конец")
    balances = pl.read_parquet(out / "balances.parquet")
    for bucket, column in (("pending", "pending_points"), ("available", "available_points"), ("debt", "debt_points")):
        cell = rows[bucket][closing]
        assert (cell.value, cell.number_format) == (balances[column].sum(), "#,##0")
    liability = rows["liability"][closing]
    assert liability.value == 12350 and liability.number_format == '#,##0.00 "₽"'
    tiers = book["Обязательство по уровням"]
    total = [c.value for c in tiers[tiers.max_row]]
    assert total[0] == "Итого" and total[4] == 12350
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref


def test_a_damaged_stored_opening_breaks_the_rollforward_and_publishes_nothing(fresh, cli_env):
    for day in ("2026-03-02", "2026-03-03"):
        nightly(dt.date.fromisoformat(day), fresh)
    yesterday = {p.name: p.read_bytes() for p in (fresh / "out/2026-03-03").iterdir()}
    with duckdb.connect(str(fresh / "warehouse.duckdb")) as con:  # C2 had no late data: nothing explains it
        con.execute("UPDATE closings SET available = available + 7 WHERE customer_id = 'C2' AND run_id = "
                    "(SELECT run_id FROM publications WHERE as_of = DATE '2026-03-03')")
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--date", "2026-03-05", "--data-dir", str(fresh)],
                          capture_output=True, text=True, env=cli_env(), timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "perfone-loyalty: not published: ROLLFORWARD_BREAK on 2026-03-05: available: the stored closing of "
        "2026-03-03 is 3000 in total, but its customers add up to 3007 (7 more) (and 1 more)"]
    assert not (fresh / "out/2026-03-05").exists()
    assert {p.name: p.read_bytes() for p in (fresh / "out/2026-03-03").iterdir()} == yesterday
    breaks = pl.read_csv(fresh / "failed/2026-03-05/exceptions.csv")
    assert breaks.columns == EXCEPTION_COLUMNS
    assert breaks["code"].to_list() == ["ROLLFORWARD_BREAK", "ROLLFORWARD_BREAK"]
    assert breaks["entity_id"].to_list() == ["total", "C2"]
    assert "published as 2007 and is recomputed as 2000 (7 less)" in breaks["message"][1]
    with duckdb.connect(str(fresh / "warehouse.duckdb")) as con:  # the damage undone, the night publishes
        con.execute("UPDATE closings SET available = available - 7 WHERE customer_id = 'C2'")
    nightly(dt.date(2026, 3, 5), fresh)
    assert not (fresh / "failed/2026-03-05").exists()


def test_a_damaged_movement_breaks_the_rollforward(fresh, monkeypatch):
    from transforms import ledger, ledger_kernel as k

    walk = ledger.walk

    def damaged(*args):
        result = walk(*args)
        mv = result[0]
        first_available = int((mv[:, k.M_BUCKET] == k.B_AVAILABLE).argmax())
        mv[first_available, k.M_POINTS] += 1
        return result

    monkeypatch.setattr(ledger, "walk", damaged)
    with pytest.raises(RollforwardBreak, match=r"^ROLLFORWARD_BREAK on 2026-03-02: available: opening 0 \+ restatement "
                                                 r"0 \+ movements 1001 = 1001 != closing 1000 \(1 too much in the "
                                                 r"movements\) \(and 2 more\)$"):
        nightly(dt.date(2026, 3, 2), fresh)
    assert not (fresh / "out/2026-03-02").exists()
    breaks = pl.read_csv(fresh / "failed/2026-03-02/exceptions.csv")
    assert breaks.select("entity_id", "message").rows()[1:] == [
        ("total", "liability: opening 0 + restatement 0 + movements -1449 = -1449 != closing -1450 "
                  "(1 too much in the movements)"),
        ("C1", "customer C1, available: opening recomputed 0 + movements 1001 = 1001, but its lots hold 1000 "
               "(1 too much in the movements)"),
    ]


class Killed(BaseException):
    """Stands in for a kill: no except clause of the flow catches it."""


def test_a_day_swapped_in_but_not_recorded_is_recorded_by_the_next_run(fresh, monkeypatch):
    from flows.warehouse import Warehouse

    def dies(self, run_id, as_of):
        raise Killed("between the folder swap and the warehouse commit")

    with monkeypatch.context() as patched:
        patched.setattr(Warehouse, "commit_publication", dies)
        with pytest.raises(Killed):
            nightly(dt.date(2026, 3, 2), fresh)
    assert (fresh / "out/2026-03-02/rollforward.csv").exists()
    out = Path(nightly(dt.date(2026, 3, 3), fresh))  # recovers 03-02 first: it is the opening
    opening = pl.read_csv(out / "rollforward.csv")["opening"].to_list()
    assert opening == [550, 1000, 3000, -1450]


def test_a_staged_day_whose_folder_never_appeared_is_dropped(fresh, monkeypatch):
    import flows.nightly

    def dies(*args, **kwargs):
        raise Killed("before the folder swap")

    with monkeypatch.context() as patched:
        patched.setattr(flows.nightly, "publish_folder", dies)
        with pytest.raises(Killed):
            nightly(dt.date(2026, 3, 2), fresh)
    out = Path(nightly(dt.date(2026, 3, 3), fresh))  # no opening: 03-02 was never published
    assert pl.read_csv(out / "rollforward.csv")["opening"].to_list() == [0, 0, 0, 0]
    with duckdb.connect(str(fresh / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql("SELECT as_of, state FROM publications").fetchall() == [(dt.date(2026, 3, 3), "committed")]


def explain(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "explain", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120)


def test_explain_tells_a_customer_s_lots_and_movements_with_running_balances(nights):
    text = explain(nights, "--customer", "C2", "--date", "2026-03-05")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == ("Customer C2 as of 2026-03-05: available 2000, pending 350, debt 0; tier base (5%), "
                        "lifetime spend 10000.00 RUB")
    lots = [line.split() for line in lines if line.startswith(("earn:", "adjust:"))]
    assert [(lot[0], lot[-3], lot[-2], lot[-1]) for lot in lots] == [
        ("earn:O2", "350", "350", "pending"), ("adjust:A1", "5000", "2000", "available")]
    assert "5% of 7000.00 RUB" in text.stdout
    moves = [line.split() for line in lines if line[:4] == "2026" and len(line.split()) == 11]
    assert [(m[2], m[3], m[4], m[-3], m[-2], m[-1]) for m in moves] == [
        ("debt", "debt", "+3000", "0", "0", "3000"),
        ("earn", "pending", "+350", "350", "0", "3000"),
        ("adjust", "available", "+5000", "350", "5000", "3000"),
        ("repay", "available", "-3000", "350", "2000", "3000"),
        ("repay", "debt", "-3000", "350", "2000", "0"),
    ]
    as_json = json.loads(explain(nights, "--customer", "C2", "--format", "json").stdout)  # the latest day
    assert as_json["balance"]["as_of"] == "2026-03-05" and len(as_json["movements"]) == 5
    as_csv = pl.read_csv(explain(nights, "--customer", "C1", "--format", "csv").stdout.encode())
    assert as_csv["points"].sum() == 10000 and as_csv.row(-1, named=True)["available_balance"] == 10000


def test_explain_refuses_an_unknown_customer_or_day_in_one_line(nights):
    unknown = explain(nights, "--customer", "C9")
    assert (unknown.returncode, unknown.stderr) == (2, "perfone-loyalty: customer 'C9' is not in the balances of "
                                                       "2026-03-05\n")
    unpublished = explain(nights, "--customer", "C1", "--date", "2026-03-04")
    assert (unpublished.returncode, unpublished.stderr) == (
        2, f"perfone-loyalty: 2026-03-04 is not published in {nights / 'out'}\n")


def test_each_night_leaves_its_headline_and_rollforward_in_prefect(fresh):
    from prefect.artifacts import Artifact

    nightly(dt.date(2026, 3, 2), fresh)
    headline = Artifact.get("loyalty-reconciliation")
    table = Artifact.get("loyalty-rollforward")
    assert "| liability (RUB) | -1450 |" in headline.data and "| roll-forward ties | yes |" in headline.data
    rows = {r["bucket"]: r for r in json.loads(table.data)}
    assert (rows["debt"]["debt"], rows["liability"]["closing"]) == (3000, -1450)
    with duckdb.connect(str(fresh / "warehouse.duckdb")) as con:
        con.execute("UPDATE publications SET available = available - 1")
    with pytest.raises(RollforwardBreak):
        nightly(dt.date(2026, 3, 3), fresh)
    broken = Artifact.get("loyalty-reconciliation")
    shown = broken.data.replace("\\", "")  # markdown's escapes
    assert shown.startswith("# Loyalty reconciliation 2026-03-03: NOT PUBLISHED")
    assert "- available: the stored closing of 2026-03-02 is 999 in total, but its customers add up to 1000" in shown
