"""Tier 2: staging (column rules -> SCHEMA rows) and the inbox reader, given rows -> expected rows."""

import dataclasses
import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from flows.inbox import InputFileError, inbox_files, load_dialects, read_raw
from given import raw_frame
from schemas.inputs import ADJUSTMENTS, CUSTOMERS, ORDERS, PROMOTIONS, RETURNS
from flows.staged_cache import staging_version
from transforms.rules import default_rules
from transforms.staging import STAGING_RULES, stage_export

GOOD = {"order_id": "O1", "customer_id": "C1", "paid_at": "2026-01-10T14:00:00+03:00", "unit_price": "100.00"}


def staged(kind, rows):
    accepted, rejected = stage_export(kind, raw_frame(kind.name, rows, "2026-01-10"))
    return accepted, rejected.get_column("message").to_list()


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"paid_at": "2026-01-10T14:00:00"}, "paid_at: timestamp has no UTC offset (naive)"),
        ({"paid_at": "2026-02-30T14:00:00+03:00"}, "paid_at: not an ISO 8601 timestamp"),
        ({"paid_at": ""}, "paid_at: required value is empty"),
        ({"unit_price": "10.005"}, "unit_price: not an amount with at most 2 decimals"),
        ({"unit_price": "-1.00"}, "unit_price: cannot be negative"),
        ({"quantity": "0"}, "quantity: must be at least 1"),
        ({"quantity": "1.5"}, "quantity: not a whole number"),
        ({"points_redeemed": "10.5"}, "points_redeemed: not a whole number"),
        ({"points_redeemed": "101"}, "points_redeemed exceed the line net amount"),
        ({"discount": "100.01"}, "discount exceeds unit_price * quantity"),
        ({"channel": "shop"}, "channel: must be online or boutique"),
        ({"currency": "EUR"}, "currency: must be RUB"),
        ({"line_no": "0"}, "line_no: must be at least 1"),
        ({"delivered_at": "2026-01-09T14:00:00+03:00"}, "delivered_at is before paid_at"),
        ({"customer_id": " "}, "customer_id: required value is empty"),
        ({"customer_id": " C1"}, "customer_id: not an id: control characters, spaces around it, or more than 100 "
                                 "characters (got ' C1')"),
        ({"order_id": "O\x001"}, "order_id: not an id"),
        ({"sku": "x" * 100_000}, f"sku: not an id: control characters, spaces around it, or more than 100 characters "
                                 f"(got {'x' * 40!r}... (100000 characters))"),
        ({"promo_code": "P\tQ"}, "promo_code: not an id"),
        ({"paid_at": "2026-02-10T00:00:00+03:00"}, "paid_at: more than 30 days after its folder 2026-01-10 "
                                                   "(got '2026-02-10T00:00:00+03:00')"),
    ],
)
def test_order_rows_breaking_a_column_rule_are_rejected_with_the_reason(change, problem):
    accepted, messages = staged(ORDERS, [GOOD, {**GOOD, "line_no": "2", **change}])
    assert accepted.get_column("line_no").to_list() == [1]
    assert len(messages) == 1 and problem in messages[0], messages


UTC = dt.timezone.utc


TIMESTAMPS = [
    ("2026-01-10T14:00:00+03:00", dt.datetime(2026, 1, 10, 11, 0, tzinfo=UTC)),      # canonical: read directly
    ("2026-01-10T14:00:00.25-02:30", dt.datetime(2026, 1, 10, 16, 30, 0, 250_000, tzinfo=UTC)),
    ("2026-01-10T14:00:00.123456+00:00", dt.datetime(2026, 1, 10, 14, 0, 0, 123_456, tzinfo=UTC)),
    ("2026-01-10 14:00:00+03:00", dt.datetime(2026, 1, 10, 11, 0, tzinfo=UTC)),      # the others: taken apart
    ("2026-01-10T14:00+0300", dt.datetime(2026, 1, 10, 11, 0, tzinfo=UTC)),
    ("2026-01-10T14:00:00Z", dt.datetime(2026, 1, 10, 14, 0, tzinfo=UTC)),
    ("2026-01-10T14:00:00+03", dt.datetime(2026, 1, 10, 11, 0, tzinfo=UTC)),
    ("2026-01-10T14:00:00.1234567+03:00", None),                                      # 7 decimals: neither
    ("2026-01-10T24:00:00+03:00", None),
    ("2026-02-29T10:00:00+03:00", None),
    ("2026-01-10T14:00:00+03:00 ", None),
    ("20260-01-10T14:00:00+03:00", None),
    ("2026-01-10T14:00:00", None),
]


@pytest.mark.parametrize("text, instant", TIMESTAMPS)
def test_a_timestamp_reads_the_same_whether_canonical_or_not(text, instant):
    from schemas.formats import _any_timestamp, parse_timestamp

    cells = pl.DataFrame({"t": [text]})
    assert cells.select(parse_timestamp(pl.col("t"))).item() == instant
    assert cells.select(_any_timestamp(pl.col("t"))).item() == instant  # the path every form can take


def test_a_column_of_every_timestamp_form_is_parsed_cell_by_cell():
    """Staging reads a timestamp column in the canonical form first and parses again only the cells
    that leaves null but not empty: in one column mixing every form above, each cell still gets
    its own instant (or none), wherever it stands."""
    from schemas.inputs import parsed_column
    from transforms.staging import _parsed, clean_text

    forms = [text for text, _ in TIMESTAMPS] * 2
    rows = [{**GOOD, "order_id": f"O{n}"} for n in range(len(forms))]
    text = clean_text(ORDERS, raw_frame("orders", rows, "2026-01-10")).with_columns(pl.Series("paid_at", forms))
    parsed = _parsed(ORDERS, text)
    assert parsed.get_column(parsed_column("paid_at")).to_list() == [instant for _, instant in TIMESTAMPS] * 2
    assert parsed.get_column(parsed_column("delivered_at")).null_count() == len(forms)


def test_valid_order_values_are_typed_exactly():
    rows = [{**GOOD, "paid_at": "2026-01-10 14:00+03", "unit_price": "1999.99", "discount": "0.5",
             "delivered_at": "2026-01-11T09:30:00.250Z", "points_redeemed": "+3"}]
    accepted, messages = staged(ORDERS, rows)
    assert messages == []
    row = accepted.row(0, named=True)
    assert row["paid_at"] == dt.datetime(2026, 1, 10, 11, tzinfo=dt.timezone.utc)
    assert row["delivered_at"] == dt.datetime(2026, 1, 11, 9, 30, 0, 250000, tzinfo=dt.timezone.utc)
    assert (row["unit_price"], row["discount"], row["points_redeemed"]) == (Decimal("1999.99"), Decimal("0.50"), 3)
    assert row["promo_code"] is None


@pytest.mark.parametrize(
    "kind, row, problem",
    [
        (RETURNS, {"return_id": "R", "order_id": "O", "kind": "return", "returned_at": "2026-01-10T10:00:00Z"},
         "a return needs a quantity"),
        (RETURNS, {"return_id": "R", "order_id": "O", "kind": "refund", "quantity": "1", "returned_at": "2026-01-10T10:00:00Z"},
         "kind: must be return or cancel"),
        (ADJUSTMENTS, {"adjustment_id": "J", "customer_id": "C", "created_at": "2026-01-10T10:00:00Z", "points": "0"},
         "an adjustment of 0 points is not allowed"),
        (ADJUSTMENTS, {"adjustment_id": "J", "customer_id": "C", "created_at": "2026-01-10T10:00:00Z", "points": "5", "reason": ""},
         "reason: required value is empty"),
        (CUSTOMERS, {"customer_id": "C", "birth_date": "1990-02-29"}, "birth_date: not a date"),
        (PROMOTIONS, {"promo_code": "P", "earns_points": "yes", "points_redeemable": "true"}, "earns_points: not true/false"),
    ],
)
def test_other_kinds_reject_rows_with_the_reason(kind, row, problem):
    accepted, messages = staged(kind, [row])
    assert accepted.height == 0 and len(messages) == 1 and problem in messages[0], messages


def test_a_cancel_may_leave_quantity_empty():
    accepted, messages = staged(RETURNS, [{"return_id": "R", "order_id": "O", "kind": "cancel", "returned_at": "2026-01-10T10:00:00Z"}])
    assert messages == [] and accepted.get_column("quantity").to_list() == [None]


def _write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


HEADER = "order_id,line_no,customer_id,channel,paid_at,delivered_at,currency,sku,quantity,unit_price,discount,points_redeemed,promo_code\n"


def test_inbox_lists_folders_up_to_d_in_arrival_order_and_ignores_strangers(tmp_path):
    _write(tmp_path / "inbox/2026-01-02/orders.csv", HEADER)
    _write(tmp_path / "inbox/2026-01-01/returns_b.csv", "x")
    _write(tmp_path / "inbox/2026-01-01/orders_a.csv", HEADER)
    _write(tmp_path / "inbox/2026-01-01/notes.txt", "hello")
    _write(tmp_path / "inbox/2026-01-03/orders.csv", HEADER)
    _write(tmp_path / "inbox/misc/orders.csv", HEADER)
    files = inbox_files(tmp_path, dt.date(2026, 1, 2))
    assert [(f.relative, f.kind) for f in files] == [
        ("inbox/2026-01-01/orders_a.csv", "orders"), ("inbox/2026-01-01/returns_b.csv", "returns"),
        ("inbox/2026-01-02/orders.csv", "orders")]


def test_1c_dialect_cp1251_semicolons_and_decimal_comma(tmp_path):
    _write(tmp_path / "sources.toml", '[[source]]\nmatch = "orders_1c*"\nseparator = ";"\ndecimal_comma = true\nencoding = "cp1251"\n')
    text = HEADER.replace(",", ";") + "O1;1;C1;boutique;2026-01-10T12:00:00+03:00;;RUB;ПАЛЬТО;1;1 999,99;0,5;0;\n"
    _write(tmp_path / "inbox/2026-01-10/orders_1c.csv", text, "cp1251")
    [file] = inbox_files(tmp_path, dt.date(2026, 1, 10))
    raw = read_raw(file, load_dialects(tmp_path))
    accepted, rejected = stage_export(ORDERS, raw)
    assert rejected.height == 0
    assert accepted.select("sku", "unit_price", "discount").row(0) == ("ПАЛЬТО", Decimal("1999.99"), Decimal("0.50"))
    assert raw.select("source_file", "source_row").row(0) == ("inbox/2026-01-10/orders_1c.csv", 1)


def test_parquet_exports_keep_offsets_and_naive_timestamps_are_rejected(tmp_path):
    folder = tmp_path / "inbox/2026-01-10"
    folder.mkdir(parents=True)
    pl.DataFrame({
        "adjustment_id": ["J1", "J2"], "customer_id": ["C1", "C1"],
        "created_at": [dt.datetime(2026, 1, 10, 9, tzinfo=dt.timezone.utc)] * 2, "points": [5, -3], "reason": ["a", "b"],
    }).write_parquet(folder / "adjustments.parquet")
    pl.DataFrame({
        "adjustment_id": ["J3"], "customer_id": ["C1"], "created_at": [dt.datetime(2026, 1, 10, 9)], "points": [5], "reason": ["c"],
    }).write_parquet(folder / "adjustments_naive.parquet")
    files = inbox_files(tmp_path, dt.date(2026, 1, 10))
    good, naive = (stage_export(ADJUSTMENTS, read_raw(f, [])) for f in files)
    assert good[0].get_column("created_at").to_list() == [dt.datetime(2026, 1, 10, 9, tzinfo=dt.timezone.utc)] * 2
    assert naive[0].height == 0 and "no UTC offset" in naive[1].get_column("message")[0]


@pytest.mark.parametrize(
    "content, encoding, complaint",
    [
        ("order_id,line_no\nO1,1\n", "utf-8", "lacks required column(s) customer_id"),
        (HEADER + "O1,1,C1,a,b,c,d,e,f,g,h,i,j,k,l\n", "utf-8", "cannot be parsed as CSV"),
        (HEADER.replace("order_id", "заказ"), "cp1251", "not readable as utf-8"),
    ],
)
def test_unusable_files_stop_the_run_with_a_message_naming_the_file(tmp_path, content, encoding, complaint):
    _write(tmp_path / "inbox/2026-01-10/orders.csv", content, encoding)
    [file] = inbox_files(tmp_path, dt.date(2026, 1, 10))
    with pytest.raises(InputFileError, match="inbox/2026-01-10/orders.csv") as caught:
        read_raw(file, [])
    assert complaint in str(caught.value)


def test_a_zero_byte_file_reads_as_a_header_only_one(tmp_path):
    _write(tmp_path / "inbox/2026-01-10/orders.csv", "", "utf-8")
    [file] = inbox_files(tmp_path, dt.date(2026, 1, 10))
    raw = read_raw(file, [])
    assert raw.height == 0 and set(ORDERS.required_columns) <= set(raw.columns)


def test_an_event_up_to_the_horizon_after_its_folder_is_accepted():
    accepted, messages = staged(ORDERS, [{**GOOD, "paid_at": "2026-02-09T23:59:59+03:00"}])
    assert (accepted.height, messages) == (1, [])  # a FUTURE_EVENT warning later, not a SCHEMA row


def test_a_long_bad_value_is_quoted_short_in_its_message():
    _, messages = staged(ADJUSTMENTS, [{"adjustment_id": "A1", "customer_id": "C1", "points": "5",
                                        "created_at": "2026-01-10T10:00:00+03:00", "reason": "r" * 10_000_000}])
    assert len(messages) == 1 and len(messages[0]) < 200, len(messages[0])
    assert "reason: control characters or more than 1000 characters" in messages[0]


def _with_every_other_rule_changed(rules):
    """`rules` with every value staging does not read changed (STAGING_RULES kept)."""
    tiers = tuple(dataclasses.replace(t, cashback_pct=t.cashback_pct + 1) for t in rules.tiers)
    return dataclasses.replace(
        rules, version=rules.version + ".other", program_start=rules.program_start - dt.timedelta(days=400),
        tiers=tiers, hold_days=rules.hold_days + 7, expiry_months=rules.expiry_months + 6,
        birthday_points=rules.birthday_points + 1, redemption_max_share_pct=rules.redemption_max_share_pct - 10,
        undelivered_after_days=rules.undelivered_after_days + 1, expiring_window_days=rules.expiring_window_days + 1)


def test_staged_rows_depend_on_no_rule_but_the_staging_rules():
    """The staged cache is kept when any other rule changes (`staging_version`), which is right only
    if staging reads none of them: the same export staged under rules differing in everything else
    gives the same rows and messages, and each staging rule does change them."""
    rules = default_rules()
    assert set(STAGING_RULES) == {"timezone", "future_event_max_days"}
    rows = [GOOD, {**GOOD, "order_id": "O2", "paid_at": "2026-01-30T14:00:00+03:00"},  # 20 days after its folder
            {**GOOD, "order_id": "O3", "paid_at": "2026-03-30T14:00:00+03:00"}]  # 79 days: beyond RULES 12's 30
    raw = raw_frame("orders", rows, "2026-01-10")

    def staged_under(under):
        accepted, rejected = stage_export(ORDERS, raw, under)
        return accepted.get_column("order_id").to_list(), rejected.get_column("message").to_list()

    accepted, messages = staged_under(rules)
    assert accepted == ["O1", "O2"] and len(messages) == 1 and "2026-03-30T14:00:00+03:00" in messages[0]
    assert staged_under(_with_every_other_rule_changed(rules)) == (accepted, messages)
    assert staged_under(dataclasses.replace(rules, future_event_max_days=10))[0] == ["O1"]
    assert "2026-03-30T16:00:00+05:00" in staged_under(dataclasses.replace(rules, timezone="Asia/Yekaterinburg"))[1][0]


def test_the_staging_version_moves_with_the_staging_rules_only():
    """A new rate or threshold keeps the staged cache (at two million customers, staging the history
    again takes minutes); a new timezone or RULES 12 horizon starts a new one."""
    rules = default_rules()
    assert staging_version(rules=rules) == staging_version()
    assert staging_version(rules=_with_every_other_rule_changed(rules)) == staging_version()
    assert staging_version(rules=dataclasses.replace(rules, future_event_max_days=31)) != staging_version()
    assert staging_version(rules=dataclasses.replace(rules, timezone="Europe/Kaliningrad")) != staging_version()


@pytest.mark.parametrize("timezone, offset", [
    ("Europe/Moscow", "+03:00"), ("Pacific/Kiritimati", "+14:00"), ("Etc/GMT+12", "-12:00"),
])
def test_the_horizon_ends_at_local_midnight_in_any_timezone(timezone, offset):
    """RULES 12: an event in folder 2026-01-10 may fall up to 30 days after it, to the end of
    2026-02-09 in the program's timezone; from 2026-02-10 00:00 there it is a SCHEMA row. Staging
    first narrows the rows with a bound in UTC, which must hold for the furthest timezones."""
    rules = dataclasses.replace(default_rules(), timezone=timezone)
    rows = [{**GOOD, "order_id": "O1", "paid_at": f"2026-02-09T23:59:59.999999{offset}"},
            {**GOOD, "order_id": "O2", "paid_at": f"2026-02-10T00:00:00{offset}"}]
    accepted, rejected = stage_export(ORDERS, raw_frame("orders", rows, "2026-01-10"), rules)
    assert accepted.get_column("order_id").to_list() == ["O1"]
    [message] = rejected.get_column("message").to_list()
    assert f"paid_at: more than 30 days after its folder 2026-01-10 (got '2026-02-10T00:00:00{offset}')" in message
