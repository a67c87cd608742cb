"""The finance report of a night as an XLSX workbook: a "Сводка" sheet, then one sheet per table of the page.

Numbers are written as numbers with number formats (points, money, dates, percent), strings always
with `write_string` and with XlsxWriter's conversions off, so text from the data never becomes a
formula, a link or a number. The header row is frozen and filtered; the same report gives the
same bytes (the document's creation time is the report's date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import xlsxwriter

from reports import formatting as fmt
from reports.formatting import BUCKETS, KINDS, SEVERITIES, VARIANCE_CODES
from reports.model import MOVEMENT_KINDS, FinanceReport

OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
NUMBER_FORMATS = {
    "points": "#,##0",
    "money": '#,##0.00 "₽"',
    "date": "dd.mm.yyyy",
    "percent": "0.0%",
}
WRAPPED_WIDTH = 70
"""Columns of long text (causes, statements) stop growing here and wrap."""

Cell = tuple[object, str]
"""(value, kind): kind is one of NUMBER_FORMATS, "text" or "bool"."""


@dataclass(frozen=True)
class Table:
    """One sheet: a header row, data rows under an autofilter, and an optional total row below them."""

    sheet: str
    head: tuple[str, ...]
    rows: list[list[Cell]]
    total: list[Cell] | None = None


def typed(values: dict | tuple, kinds: tuple[str, ...]) -> list[Cell]:
    return list(zip(values.values() if isinstance(values, dict) else values, kinds, strict=True))


def named(names: dict[str, str], value: str | None) -> str | None:
    return None if value is None else names.get(value, value)


def total_of(frame: pl.DataFrame, column: str) -> int:
    return int(frame.get_column(column).sum())


def severity_rows(exceptions: pl.DataFrame, severity: str) -> int:
    return total_of(exceptions.filter(pl.col("severity") == severity), "rows")


def summary(report: FinanceReport) -> Table:
    """The headline of the page, one figure a row."""
    liability = report.liability.rows(named=True)
    row = liability[0] if liability else {"opening": None, "closing": None}
    change = None if row["closing"] is None else row["closing"] - row["opening"]
    exceptions, variance = report.exceptions_by_code, report.variance_summary
    opening = (report.opening_as_of, "date") if report.opening_as_of else ("первый расчёт, с нуля", "text")
    figures: list[tuple[str, Cell]] = [
        ("Дата отчёта", (report.as_of, "date")),
        ("Начало периода", opening),
        ("Обязательство на конец, ₽", (row["closing"], "money")),
        ("Обязательство на начало, ₽", (row["opening"], "money")),
        ("Изменение обязательства, ₽", (change, "money")),
        ("Движение сходится", (report.ties if report.rollforward.height else None, "bool")),
        ("Исключений всего", (total_of(exceptions, "rows"), "points")),
        ("из них ошибок", (severity_rows(exceptions, "error"), "points")),
        ("из них предупреждений", (severity_rows(exceptions, "warning"), "points")),
        ("Остатки операционной системы",
         ("получены" if report.operational_reported else "не поступили, сверки нет", "text")),
        ("Расхождений, строк", (total_of(variance, "rows"), "points")),
        ("Расхождений, баллов (сумма модулей)", (total_of(variance, "points"), "points")),
        ("Клиентов с пересчитанным началом", (report.restated_customers, "points")),
        ("Запуск", (report.run_id, "text")),
        ("Версия кода", (report.code_version, "text")),
        ("Версия правил", (report.rules_version, "text")),
    ]
    return Table("Сводка", ("Показатель", "Значение"), [[(name, "text"), cell] for name, cell in figures])


def rollforward(report: FinanceReport) -> Table:
    columns = ("opening", "restatement", *MOVEMENT_KINDS, "closing")
    rows = []
    for r in report.rollforward.rows(named=True):
        kind = "money" if r["bucket"] == "liability" else "points"
        rows.append([(named(BUCKETS, r["bucket"]), "text"), (r["bucket"], "text"),
                     *((r[c], kind) for c in columns), (r["ties"], "bool")])
    head = ("Корзина", "Код корзины", "Начало", "Пересчёт начала", *KINDS.values(), "Конец", "Сходится")
    return Table("Движение баллов", head, rows)


def restatements(report: FinanceReport) -> Table:
    kinds = ("text", "text", "points", "points", "points", "text")
    rows = [typed(r | {"bucket": named(BUCKETS, r["bucket"])}, kinds) for r in report.restatements.rows(named=True)]
    return Table("Пересчёт начала", ("Клиент", "Корзина", "Опубликовано", "Пересчитано", "Разница", "Причина"), rows)


def tiers(report: FinanceReport) -> Table:
    frame = report.liability_by_tier
    kinds = ("text", "points", "points", "money", "money", "money")
    head = ("Уровень", "Клиентов на начало", "Клиентов на конец", "Обязательство на начало", "Обязательство на конец",
            "Изменение")
    total = [("Итого", "text"), *((total_of(frame, c), k) for c, k in zip(frame.columns[1:], kinds[1:], strict=True))]
    return Table("Обязательство по уровням", head, [typed(r, kinds) for r in frame.rows()], total)


def ahead(report: FinanceReport) -> Table:
    rows = [typed(r, ("points",) * 3) for r in report.ahead.rows()]
    return Table("Созреют и сгорят", ("Горизонт, дней", "Созреют, баллов", "Сгорят, баллов"), rows)


def breakage(report: FinanceReport) -> Table:
    """The share is the ratio itself, as a spreadsheet number; its format rounds it to 0.1 % for display."""
    rows = []
    for r in report.breakage.rows(named=True):
        issued, expired = r["issued_points"], r["expired_points"]
        rows.append([
            (r["month"], "date"), (issued, "points"), (expired, "points"), (r["held_points"], "points"),
            (expired / issued if issued else None, "percent"),
            ("окончательно" if r["held_points"] == 0 else "предварительно", "text"),
        ])
    head = ("Месяц выпуска", "Выпущено", "Сгорело", "Ещё на счетах", "Доля сгоревших", "Статус")
    return Table("Сгорание по месяцам", head, rows)


def debt_by_age(report: FinanceReport) -> Table:
    frame = report.debt_by_age
    rows = [typed(r, ("text", "points", "points", "points", "points")) for r in frame.rows()]
    total = [("Итого", "text"), (None, "points"), (None, "points"),
             (total_of(frame, "customers"), "points"), (total_of(frame, "debt_points"), "points")]
    return Table("Долг по возрасту", ("Возраст долга, дней", "От, дней", "До, дней", "Клиентов", "Долг, баллов"),
                 rows, total)


def variance_summary(report: FinanceReport) -> Table:
    frame = report.variance_summary
    rows = [[(r["code"], "text"), (VARIANCE_CODES.get(r["code"], ""), "text"), (r["rows"], "points"),
             (r["points"], "points")] for r in frame.rows(named=True)]
    total = [("Итого", "text"), ("", "text"), (total_of(frame, "rows"), "points"),
             (total_of(frame, "points"), "points")]
    return Table("Сверка", ("Код", "Что это", "Строк", "Баллов (сумма модулей)"), rows, total)


def largest_differences(report: FinanceReport) -> Table:
    kinds = ("text", "text", "text", "points", "points", "points", "text")
    rows = [typed(r | {"bucket": named(BUCKETS, r["bucket"])}, kinds)
            for r in report.largest_differences.rows(named=True)]
    head = ("Клиент", "Код", "Корзина", "Пересчёт", "Операционная", "Разница", "Выписка")
    return Table("Крупнейшие расхождения", head, rows)


def exceptions(report: FinanceReport) -> Table:
    frame = report.exceptions_by_code
    rows = [[(named(SEVERITIES, r["severity"]), "text"), (r["code"], "text"), (r["rows"], "points")]
            for r in frame.rows(named=True)]
    return Table("Исключения", ("Важность", "Код", "Строк"), rows, [("Итого", "text"), ("", "text"),
                                                                   (total_of(frame, "rows"), "points")])


def liability_history(report: FinanceReport) -> Table:
    rows = [typed(r, ("date", "points", "points", "points", "money")) for r in report.liability_history.rows()]
    return Table("Обязательство по дням", ("Дата", "Ожидают, баллов", "Доступны, баллов", "Долг, баллов",
                                           "Обязательство"), rows)


def movements_by_day(report: FinanceReport) -> Table:
    rows = [[(r["business_date"], "date"), (named(KINDS, r["kind"]), "text"), (named(BUCKETS, r["bucket"]), "text"),
             (r["points"], "points")] for r in report.movements_by_day.rows(named=True)]
    return Table("Движения по дням", ("Дата", "Вид", "Корзина", "Баллы"), rows)


def expiry_by_week(report: FinanceReport) -> Table:
    rows = [typed(r, ("date", "date", "points")) for r in report.expiry_by_week.rows()]
    return Table("Сгорание по неделям", ("Неделя с", "Неделя по", "Сгорит, баллов"), rows)


def mismatches_by_size(report: FinanceReport) -> Table:
    rows = [typed(r, ("text", "points", "points", "points")) for r in report.mismatches_by_size.rows()]
    return Table("Расхождения по размеру", ("Разница, баллов", "От", "До", "Строк"), rows)


def tables(report: FinanceReport) -> list[Table]:
    """Every sheet of the workbook, in order."""
    return [
        summary(report), rollforward(report), restatements(report), tiers(report), ahead(report), breakage(report),
        debt_by_age(report), variance_summary(report), largest_differences(report), exceptions(report),
        liability_history(report), movements_by_day(report), expiry_by_week(report), mismatches_by_size(report),
    ]


def shown(value: object, kind: str) -> str:
    """Roughly the text a spreadsheet shows for a cell: what the column must be wide enough for."""
    if value is None:
        return ""
    if kind == "text":
        return max(str(value).split("\n"), key=len)
    if kind == "date":
        return "00.00.0000"
    if kind == "bool":
        return "ИСТИНА"
    if kind == "percent":
        return "100.0%"
    return fmt.money(value) if kind == "money" else fmt.points(value)


def widths(table: Table) -> list[float]:
    rows = [*table.rows, *([table.total] if table.total else [])]
    return [
        min(WRAPPED_WIDTH, max([len(title) + 4, *(len(shown(*row[i])) + 2 for row in rows)]))
        for i, title in enumerate(table.head)
    ]


def write_cell(sheet, row: int, column: int, cell: Cell, style) -> None:
    value, kind = cell
    if value is None:
        sheet.write_blank(row, column, None, style)
    elif kind == "text":
        sheet.write_string(row, column, str(value), style)
    elif kind == "bool":
        sheet.write_boolean(row, column, bool(value), style)
    elif kind == "date":
        sheet.write_datetime(row, column, value, style)
    else:
        sheet.write_number(row, column, value, style)


def write_xlsx(report: FinanceReport, path: Path) -> None:
    """Write the workbook of `report` to `path`."""
    workbook = xlsxwriter.Workbook(str(path), OPTIONS)
    workbook.set_properties({
        "title": f"Perfone: отчёт для финансов на {fmt.date(report.as_of)}",
        "created": dt.datetime.combine(report.as_of, dt.time()),
    })
    header = workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#F3F5F8", "text_wrap": True, "valign": "top"})
    styles = {
        (kind, bold): workbook.add_format({
            **({"num_format": NUMBER_FORMATS[kind]} if kind in NUMBER_FORMATS else {}),
            **({"bold": True, "top": 1} if bold else {}),
            "valign": "top",
            "text_wrap": kind == "text",
        })
        for kind in (*NUMBER_FORMATS, "text", "bool") for bold in (False, True)
    }
    for table in tables(report):
        sheet = workbook.add_worksheet(table.sheet)
        for column, (title, width) in enumerate(zip(table.head, widths(table), strict=True)):
            sheet.set_column(column, column, width)
            sheet.write_string(0, column, title, header)
        for row, cells in enumerate(table.rows, start=1):
            for column, cell in enumerate(cells):
                write_cell(sheet, row, column, cell, styles[cell[1], False])
        if table.total:
            for column, cell in enumerate(table.total):
                write_cell(sheet, len(table.rows) + 1, column, cell, styles[cell[1], True])
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(table.rows), len(table.head) - 1)
    workbook.close()
