"""The finance workbook, read back with openpyxl: sheets, headers, formats, values and totals.

Values are compared with the fixture's frames; hostile strings must come back as plain text.
"""

import datetime as dt
import zipfile

import openpyxl
import polars as pl
import pytest

from report_fixture import HOSTILE, empty_report, finance_report, hostile_report
from reports.model import MOVEMENT_KINDS
from reports.xlsx import write_xlsx

SHEETS = [
    "Сводка", "Движение баллов", "Пересчёт начала", "Обязательство по уровням", "Созреют и сгорят",
    "Сгорание по месяцам", "Долг по возрасту", "Сверка", "Крупнейшие расхождения", "Исключения",
    "Обязательство по дням", "Движения по дням", "Сгорание по неделям", "Расхождения по размеру",
]
POINTS, MONEY, DATE, PERCENT = "#,##0", '#,##0.00 "₽"', "dd.mm.yyyy", "0.0%"
FRAME_OF_SHEET = {
    "Движение баллов": "rollforward", "Пересчёт начала": "restatements",
    "Обязательство по уровням": "liability_by_tier",
    "Созреют и сгорят": "ahead", "Сгорание по месяцам": "breakage", "Долг по возрасту": "debt_by_age",
    "Сверка": "variance_summary", "Крупнейшие расхождения": "largest_differences", "Исключения": "exceptions_by_code",
    "Обязательство по дням": "liability_history", "Движения по дням": "movements_by_day",
    "Сгорание по неделям": "expiry_by_week", "Расхождения по размеру": "mismatches_by_size",
}
HAS_TOTAL = {"Обязательство по уровням", "Долг по возрасту", "Сверка", "Исключения"}


def workbook_of(report, path):
    write_xlsx(report, path)
    return openpyxl.load_workbook(path)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return workbook_of(finance_report(), tmp_path_factory.mktemp("xlsx") / "report.xlsx")


def values(sheet, first_row: int = 2, last_row: int | None = None) -> list[list]:
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=first_row, max_row=last_row or sheet.max_row)]


def column(sheet, title: str) -> int:
    return [c.value for c in sheet[1]].index(title) + 1


def test_sheets_are_named_in_russian_in_order(book):
    assert book.sheetnames == SHEETS
    assert all(len(name) <= 31 for name in book.sheetnames)


def test_every_sheet_has_a_frozen_filtered_header(book):
    report = finance_report()
    for sheet in book.worksheets:
        rows = 16 if sheet.title == "Сводка" else getattr(report, FRAME_OF_SHEET[sheet.title]).height
        assert sheet.freeze_panes == "A2", sheet.title
        last = openpyxl.utils.get_column_letter(sheet.max_column)
        assert sheet.auto_filter.ref == f"A1:{last}{1 + rows}", sheet.title
        assert sheet.max_row == 1 + rows + (sheet.title in HAS_TOTAL), sheet.title
        assert all(c.font.b and c.data_type == "s" for c in sheet[1]), sheet.title
        for letter, dimension in sheet.column_dimensions.items():
            header = sheet[f"{letter}1"].value
            assert dimension.width >= min(len(header), 60), (sheet.title, header)


def test_numbers_are_numbers_with_formats(book):
    allowed = {POINTS, MONEY, PERCENT}
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if cell.data_type == "n" and cell.value is not None:
                    assert cell.number_format in allowed, (sheet.title, cell.coordinate, cell.number_format)
                if cell.data_type == "d":
                    assert isinstance(cell.value, dt.datetime) and cell.number_format == DATE
                assert cell.data_type in ("s", "n", "d", "b"), (sheet.title, cell.coordinate)


def test_summary_is_the_headline(book):
    report = finance_report()
    liability = report.rollforward.filter(pl.col("bucket") == "liability").row(0, named=True)
    shown = {row[0]: row[1] for row in values(book["Сводка"])}
    assert shown["Дата отчёта"] == dt.datetime(2026, 3, 31)
    assert shown["Начало периода"] == dt.datetime(2026, 3, 30)
    assert shown["Обязательство на конец, ₽"] == liability["closing"] == 12_956_750
    assert shown["Обязательство на начало, ₽"] == liability["opening"]
    assert shown["Изменение обязательства, ₽"] == liability["closing"] - liability["opening"]
    assert shown["Движение сходится"] is True
    assert shown["Исключений всего"] == report.exceptions_by_code.get_column("rows").sum() == 34
    assert shown["из них ошибок"] == 3
    assert shown["Расхождений, строк"] == report.variance_summary.get_column("rows").sum()
    assert shown["Клиентов с пересчитанным началом"] == report.restated_customers
    assert shown["Запуск"] == report.run_id
    assert book["Сводка"]["B4"].number_format == MONEY


def test_rollforward_values_and_formats(book):
    sheet = book["Движение баллов"]
    frame = finance_report().rollforward
    assert [c.value for c in sheet[1]] == [
        "Корзина", "Код корзины", "Начало", "Пересчёт начала", "Начислено", "Созрело", "Списано в оплату", "Сгорело",
        "Отозвано при возврате", "Восстановлено", "День рождения", "Корректировки", "Долг возник", "Долг погашен",
        "Конец", "Сходится",
    ]
    for row, expected in zip(sheet.iter_rows(min_row=2), frame.rows(named=True), strict=True):
        assert row[1].value == expected["bucket"]
        numbers = ["opening", "restatement", *MOVEMENT_KINDS, "closing"]
        assert [c.value for c in row[2:-1]] == [expected[n] for n in numbers]
        assert row[-1].value is expected["ties"] and row[-1].data_type == "b"
        money = expected["bucket"] == "liability"
        assert {c.number_format for c in row[2:-1]} == {MONEY if money else POINTS}


def test_tables_hold_the_frames_with_their_totals(book):
    report = finance_report()
    tiers = book["Обязательство по уровням"]
    frame = report.liability_by_tier
    assert values(tiers, last_row=1 + frame.height) == [list(r) for r in frame.rows()]
    sums = [frame.get_column(c).sum() for c in frame.columns[1:]]
    assert values(tiers, first_row=2 + frame.height) == [["Итого", *sums]]
    assert values(tiers, first_row=2 + frame.height)[0][4] == 12_956_750
    assert tiers.cell(2, column(tiers, "Изменение")).number_format == MONEY
    assert tiers.cell(2, column(tiers, "Клиентов на конец")).number_format == POINTS

    debt = book["Долг по возрасту"]
    assert values(debt)[-1] == ["Итого", None, None, 12, 3_300]
    assert values(debt)[:-1] == [list(r) for r in report.debt_by_age.rows()]

    variance = book["Сверка"]
    assert [r[2:] for r in values(variance)] == [list(r[1:]) for r in report.variance_summary.rows()] + [[18, 7_205]]
    assert values(book["Исключения"])[-1] == ["Итого", "", 34]

    differences = values(book["Крупнейшие расхождения"])
    expected = report.largest_differences.select("customer_id", "recomputed", "operational", "difference", "statement")
    assert [[r[0], *r[3:]] for r in differences] == [list(r) for r in expected.rows()]

    assert values(book["Обязательство по дням"]) == [
        [dt.datetime.combine(r[0], dt.time()), *r[1:]] for r in report.liability_history.rows()
    ]
    assert [r[3] for r in values(book["Движения по дням"])] == report.movements_by_day.get_column("points").to_list()
    expiring = report.expiry_by_week.get_column("expiring_points").to_list()
    assert [r[2] for r in values(book["Сгорание по неделям"])] == expiring
    assert values(book["Расхождения по размеру"]) == [list(r) for r in report.mismatches_by_size.rows()]


def test_breakage_share_is_a_percent_number(book):
    sheet = book["Сгорание по месяцам"]
    share = column(sheet, "Доля сгоревших")
    rows = list(sheet.iter_rows(min_row=2))
    assert [r[share - 1].value for r in rows] == [0.125, None, 0.125, 4_100 / 61_000, 0.0625, 0.0]
    assert {r[share - 1].number_format for r in rows} == {PERCENT}
    assert [r[0].value for r in rows][:2] == [dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)]
    assert rows[0][0].number_format == DATE


def test_hostile_strings_are_plain_text(tmp_path):
    path = tmp_path / "hostile.xlsx"
    book = workbook_of(hostile_report(), path)
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if cell.value in HOSTILE:
                    assert cell.data_type == "s", (sheet.title, cell.coordinate)
                    seen.add(cell.value)
    assert seen == set(HOSTILE)
    with zipfile.ZipFile(path) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml and "hyperlink" not in xml.lower()


def test_empty_report_writes_headers_only(tmp_path):
    book = workbook_of(empty_report(), tmp_path / "empty.xlsx")
    assert book.sheetnames == SHEETS
    for sheet in book.worksheets[1:]:
        assert sheet.max_row == 1 + (sheet.title in HAS_TOTAL), sheet.title
        assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(sheet.max_column)}1"
    shown = {row[0]: row[1] for row in values(book["Сводка"])}
    assert shown["Начало периода"] == "первый расчёт, с нуля"
    assert shown["Остатки операционной системы"] == "не поступили, сверки нет"


def test_same_report_same_bytes(tmp_path):
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_xlsx(finance_report(), first)
    write_xlsx(finance_report(), second)
    assert first.read_bytes() == second.read_bytes()
    assert openpyxl.load_workbook(first).properties.created == dt.datetime(2026, 3, 31)
