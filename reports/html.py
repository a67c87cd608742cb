"""The finance report of a night as one self-contained HTML page, in Russian.

No script and no external resource (the CSP forbids both): charts are inline SVG drawn here, with
<title> tooltips. Every string from the data goes through `esc` and lands only in text or in a
quoted attribute value. The same report gives the same bytes. Figures carry `data-value` (the
exact integer) and `data-figure` / `data-bucket` / `data-column`, so that tests can read them back.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Collection, Iterable, Mapping, Sequence

import polars as pl

from reports import formatting as fmt
from reports.formatting import BUCKETS, KINDS, SEVERITIES, VARIANCE_CODES
from reports.model import MOVEMENT_KINDS, FinanceReport

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
NO_DATA = '<p class="empty">нет данных</p>'
HEADS = {"restore": "Восстанов\u00adлено", "adjust": "Корректи\u00adровки"}
"""Roll-forward column heads that may break at a soft hyphen, so that the table fits 1280 px."""
ROLLFORWARD_COLUMNS = {"opening": "Начало", "restatement": "Пересчёт начала", **KINDS, **HEADS, "closing": "Конец"}
MOVEMENT_DAYS = 30
KIND_COLOURS = {
    "earn": "#2e7d32", "birthday": "#8e4b9e", "restore": "#7cb342", "adjust": "#8d8d8d", "redeem": "#1f5fa8",
    "expire": "#c62828", "clawback": "#ef8f00", "debt": "#6d4c2f", "mature": "#90caf9", "repay": "#d4b106",
}
SPARE_COLOURS = ("#455a64", "#00897b", "#ad1457", "#5d4037", "#3949ab", "#9e9d24")
"""For kinds the page does not know (the legend still names them)."""
BAR, LINE = "#3f6e9a", "#1f5fa8"

STYLE = """
:root{--ink:#1d2733;--muted:#5f6b7a;--rule:#d5dbe3;--band:#f3f5f8;--bad:#b3261e;--good:#1e7b34}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:24px 24px 48px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:36px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--ink);break-after:avoid}
h3{font-size:15px;margin:22px 0 8px;break-after:avoid}
p{margin:6px 0}
.sub,.note,figcaption,.meta{color:var(--muted)}
nav{margin:10px 0 0;font-size:13px}
nav a{color:var(--muted);margin-right:14px;text-decoration:none;border-bottom:1px dotted var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px;margin:12px 0}
.card{border:1px solid var(--rule);border-radius:6px;padding:10px 14px;background:var(--band)}
.card .label,.card .detail{font-size:12px;color:var(--muted)}
.card .figure{font-size:22px;font-weight:600;white-space:nowrap;font-variant-numeric:tabular-nums}
.bad{color:var(--bad)}
.good{color:var(--good)}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0;font-size:13px}
.meta dt{font-weight:600}
.meta dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--rule);vertical-align:top}
thead th{font-size:12px;font-weight:600;color:var(--muted);text-align:right;vertical-align:bottom;
 border-bottom:1px solid var(--ink)}
thead th.t{text-align:left}
td{text-align:right;white-space:nowrap}
td.t,th[scope=row]{text-align:left;white-space:normal;overflow-wrap:anywhere;font-weight:normal}
td.t{max-width:420px}
td.statement{max-width:none}
tr.total th,tr.total td,tr.key th{font-weight:600;border-top:1px solid var(--ink)}
tbody tr:nth-child(even){background:#fafbfc}
#rollforward{font-size:11.5px;width:100%}
#rollforward th,#rollforward td{padding:4px}
#rollforward th[scope=row]{overflow-wrap:normal;min-width:84px}
#rollforward tr.key td{border-top:1px solid var(--ink);background:var(--band)}
#rollforward td[data-column=closing]{font-weight:600}
code{font:12px ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
details summary{cursor:pointer;color:var(--muted)}
pre{white-space:pre-wrap;overflow-wrap:anywhere;max-width:640px;margin:6px 0;padding:8px;text-align:left;
 background:var(--band);font:12px/1.35 ui-monospace,"DejaVu Sans Mono",monospace}
.empty{color:var(--muted);font-style:italic}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:10px 28px}
figure{margin:10px 0 18px;break-inside:avoid}
figcaption{font-size:12.5px;margin-top:2px;max-width:760px}
svg{display:block;max-width:100%;height:auto;font-family:inherit}
svg text{fill:#3c4654;font-size:11px}
svg .axis{stroke:#9aa5b1;stroke-width:1}
svg .grid{stroke:#e3e7ec;stroke-width:1}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px}
.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;border-radius:2px}
footer{margin-top:40px;font-size:12px;color:var(--muted)}
@media print{nav{display:none}main{max-width:none;padding:0}}
"""


# HTML pieces: everything from the data goes through `esc`


def esc(value: object) -> str:
    """Text for HTML, quotes included: the only way a value from the data enters the page."""
    return html.escape(str(value), quote=True)


def attrs(cls: str = "", **data: object) -> str:
    """' class=".." data-x=".."': data_x=.. becomes data-x, None is left out, every value escaped and quoted."""
    pairs = ({"class": cls} if cls else {}) | {k.replace("_", "-"): v for k, v in data.items() if v is not None}
    return "".join(f' {name}="{esc(value)}"' for name, value in pairs.items())


def label(names: Mapping[str, str], value: str | None) -> str:
    """The Russian name of a code the page knows, else the code itself; escaped."""
    return fmt.DASH if value is None else esc(names.get(value, value))


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian noun form for n: 1 день, 2 дня, 5 дней, 11 дней, 21 день."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    return few if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else many


def td(text: str, cls: str = "", **data: object) -> str:
    """A cell of already safe `text`."""
    return f"<td{attrs(cls, **data)}>{text}</td>"


def number_td(value: int | None, *, money: bool = False, signed: bool = False, **data: object) -> str:
    """A figure: points or money text, with its exact integer in data-value."""
    if value is None:
        return td(fmt.DASH, **data)
    text = fmt.money(value, signed=signed) if money else fmt.points(value, signed=signed)
    return td(esc(text), data_value=value, **data)


def text_td(value: str | None) -> str:
    return td(fmt.DASH if value is None else esc(value), "t")


def code_td(value: str | None) -> str:
    return td(fmt.DASH if value is None else f"<code>{esc(value)}</code>", "t")


def row_th(text: str) -> str:
    return f'<th scope="row">{text}</th>'


def tr(cells: Iterable[str], cls: str = "", **data: object) -> str:
    return f"<tr{attrs(cls, **data)}>{''.join(cells)}</tr>"


def table(head: Sequence[str], rows: Iterable[str], *, table_id: str = "", left: Collection[int] = (0,)) -> str:
    """A table whose `left` columns hold text (left-aligned heads); the others hold figures."""
    heads = "".join(f'<th scope="col"{attrs("t" if i in left else "")}>{esc(h)}</th>' for i, h in enumerate(head))
    body = "\n".join(rows)
    return (
        f'<div class="scroll"><table{attrs(id=table_id or None)}>\n<thead><tr>{heads}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def section(section_id: str, title: str, *parts: str) -> str:
    return f'<section id="{section_id}">\n<h2>{esc(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def total(frame: pl.DataFrame, column: str) -> int:
    return int(frame.get_column(column).sum())


# headline


def card(title: str, figure: str, detail: str = "", cls: str = "", **data: object) -> str:
    """A headline figure: safe `figure` and `detail` text, its data-* on the figure."""
    detail = f'<div class="detail">{detail}</div>' if detail else ""
    return (
        f'<div class="card"><div class="label">{esc(title)}</div>'
        f"<div{attrs(f'figure {cls}'.strip(), **data)}>{figure}</div>{detail}</div>"
    )


def span(value: int, figure: str) -> str:
    return f"<span{attrs(data_figure=figure, data_value=value)}>{esc(fmt.points(value))}</span>"


def liability_cards(report: FinanceReport, opening: str) -> str:
    title = f"Обязательство на {fmt.date(report.as_of)}"
    rows = report.liability.rows(named=True)
    if not rows:
        return (card(title, "нет данных", data_figure="liability-closing")
                + card("Изменение с начала", "нет данных", data_figure="liability-change"))
    row = rows[0]
    change = row["closing"] - row["opening"]
    return card(
        title, esc(fmt.money(row["closing"])), f"на начало: {esc(fmt.money(row['opening']))}",
        data_figure="liability-closing", data_value=row["closing"],
    ) + card(
        "Изменение с начала", esc(fmt.money(change, signed=True)), f"начало: {esc(opening)}",
        data_figure="liability-change", data_value=change,
    )


def ties_card(report: FinanceReport) -> str:
    if report.rollforward.is_empty():
        return card("Движение сходится", "нет данных", data_figure="ties")
    if report.ties:
        return card("Движение сходится", "да", "начало + движения = конец", "good", data_figure="ties", data_value=1)
    return card("Движение сходится", "нет", "начало + движения ≠ конец, см. таблицу", "bad",
                data_figure="ties", data_value=0)


def exceptions_card(report: FinanceReport) -> str:
    frame = report.exceptions_by_code
    errors = total(frame.filter(pl.col("severity") == "error"), "rows")
    warnings = total(frame.filter(pl.col("severity") == "warning"), "rows")
    detail = f"ошибок {span(errors, 'exceptions-errors')}, предупреждений {span(warnings, 'exceptions-warnings')}"
    everything = total(frame, "rows")
    return card("Исключения", esc(fmt.points(everything)), detail, "bad" if errors else "",
                data_figure="exceptions-total", data_value=everything)


def mismatches_card(report: FinanceReport) -> str:
    rows, points = total(report.variance_summary, "rows"), total(report.variance_summary, "points")
    detail = (f"строк; разница {esc(fmt.points(points))} баллов" if report.operational_reported
              else "файла остатков за день нет, сверки нет")
    return card("Расхождения с операционной системой", esc(fmt.points(rows)), detail,
                data_figure="mismatches", data_value=rows)


def headline(report: FinanceReport) -> str:
    opening = fmt.date(report.opening_as_of) if report.opening_as_of else "первый расчёт, с нуля"
    cards = liability_cards(report, opening) + ties_card(report) + exceptions_card(report) + mismatches_card(report)
    meta = "".join(
        f"<dt>{esc(name)}</dt><dd{attrs(data_figure=key)}>{esc(value)}</dd>"
        for key, name, value in (
            ("opening-date", "Начало периода", opening),
            ("as-of", "Конец периода", fmt.date(report.as_of)),
            ("run-id", "Запуск", report.run_id),
            ("code-version", "Версия кода", report.code_version),
            ("rules-version", "Версия правил", report.rules_version),
        )
    )
    return section("summary", "Сводка", f'<div class="cards">{cards}</div>', f'<dl class="meta">{meta}</dl>')


# tables


def rollforward_row(row: Mapping) -> str:
    money = row["bucket"] == "liability"
    cells = [number_td(row[c], money=money, data_column=c) for c in ROLLFORWARD_COLUMNS]
    ties = row["ties"]
    tie = fmt.DASH if ties is None else "да" if ties else '<span class="bad">нет</span>'
    cells.append(td(tie, data_column="ties", data_value=None if ties is None else int(ties)))
    return tr([row_th(label(BUCKETS, row["bucket"])), *cells], "key" if money else "", data_bucket=row["bucket"])


def rollforward(report: FinanceReport) -> str:
    rows = [rollforward_row(r) for r in report.rollforward.rows(named=True)]
    head = ["Корзина", *ROLLFORWARD_COLUMNS.values(), "Схо\u00adдится"]
    return section(
        "rollforward-section", "Движение баллов за день",
        '<p class="note">По каждой корзине: начало + пересчёт начала + движения = конец. '
        "Обязательство = доступные + ожидающие − долг, в рублях (1 балл = 1 ₽).</p>",
        table(head, rows, table_id="rollforward") if rows else NO_DATA,
    )


def restatements(report: FinanceReport) -> str:
    n, frame = report.restated_customers, report.restatements
    if n == 0 and frame.is_empty():
        return section("restatements", "Пересчёт начала", "<p>Начало периода не пересчитывалось.</p>")
    intro = (
        f"<p>Начало пересчитано у <strong{attrs(data_figure='restated-customers', data_value=n)}>"
        f"{esc(fmt.points(n))}</strong> {plural(n, 'клиента', 'клиентов', 'клиентов')}: уже опубликованный остаток "
        f"изменился, обычно из-за опоздавших строк источников. Крупнейшие изменения ({frame.height}):</p>"
    )
    rows = [
        tr([text_td(r["customer_id"]), td(label(BUCKETS, r["bucket"]), "t"), number_td(r["published"]),
            number_td(r["recomputed"]), number_td(r["difference"], signed=True), text_td(r["cause"])])
        for r in frame.rows(named=True)
    ]
    head = ["Клиент", "Корзина", "Опубликовано", "Пересчитано", "Разница", "Причина"]
    return section("restatements", "Пересчёт начала", intro, table(head, rows, left=(0, 1, 5)) if rows else NO_DATA)


def tiers(report: FinanceReport) -> str:
    frame = report.liability_by_tier
    columns = ("customers_opening", "customers", "opening", "closing", "change")

    def cells(values: Mapping[str, int | None]) -> list[str]:
        return [number_td(values[c], money=c in ("opening", "closing", "change"), signed=c == "change",
                          data_column=c) for c in columns]

    rows = [tr([row_th(esc(r["tier"])), *cells(r)], data_tier=r["tier"]) for r in frame.rows(named=True)]
    rows.append(tr([row_th("Итого"), *cells({c: total(frame, c) for c in columns})], "total"))
    head = ["Уровень", "Клиентов на начало", "Клиентов на конец", "Обязательство на начало", "Обязательство на конец",
            "Изменение"]
    return section("tiers", "Обязательство по уровням",
                   table(head, rows, table_id="tiers") if frame.height else NO_DATA)


def ahead_table(frame: pl.DataFrame) -> str:
    rows = [
        tr([row_th(f"{esc(fmt.points(r['horizon_days']))} {plural(r['horizon_days'], 'день', 'дня', 'дней')}"),
            number_td(r["maturing_points"]), number_td(r["expiring_points"])])
        for r in frame.rows(named=True)
    ]
    return table(["Горизонт", "Созреют, баллов", "Сгорят, баллов"], rows) if rows else NO_DATA


def breakage_table(frame: pl.DataFrame) -> str:
    rows = [
        tr([row_th(esc(fmt.month(r["month"]))), number_td(r["issued_points"]), number_td(r["expired_points"]),
            number_td(r["held_points"]), td(esc(fmt.percent(r["expired_points"], r["issued_points"]))),
            td("окончательно" if r["held_points"] == 0 else "предварительно", "t")])
        for r in frame.rows(named=True)
    ]
    head = ["Месяц выпуска", "Выпущено", "Сгорело", "Ещё на счетах", "Доля сгоревших", "Статус"]
    return table(head, rows, left=(0, 5)) if rows else NO_DATA


def debt_table(frame: pl.DataFrame) -> str:
    rows = [
        tr([row_th(f"{esc(r['age_band'])} дн."), number_td(r["customers"]), number_td(r["debt_points"])])
        for r in frame.rows(named=True)
    ]
    if not rows:
        return NO_DATA
    rows.append(tr([row_th("Итого"), number_td(total(frame, "customers")), number_td(total(frame, "debt_points"))],
                   "total"))
    return table(["Возраст долга", "Клиентов", "Долг, баллов"], rows)


def ahead(report: FinanceReport) -> str:
    return section(
        "ahead", "Что впереди",
        "<h3>Созреют и сгорят в ближайшие дни</h3>", ahead_table(report.ahead),
        "<h3>Сгорание по месяцу выпуска</h3>",
        '<p class="note">Доля сгоревших = сгорело / выпущено. Она окончательна, когда баллов этого месяца на счетах '
        "не осталось.</p>",
        breakage_table(report.breakage),
        "<h3>Долг по возрасту</h3>", debt_table(report.debt_by_age),
    )


def statement_td(text: str | None) -> str:
    if text is None:
        return td(fmt.DASH, "t")
    return td(f"<details><summary>выписка</summary><pre>{esc(text)}</pre></details>", "t statement")


def variance(report: FinanceReport) -> str:
    title = "Сверка с операционной системой"
    if not report.operational_reported:
        return section("variance", title, '<p class="note"><strong>Файл остатков операционной системы '
                       "за этот день не поступил, поэтому сверки нет.</strong></p>")
    summary = report.variance_summary
    summary_rows = [
        tr([code_td(r["code"]), td(esc(VARIANCE_CODES.get(r["code"], "")), "t"), number_td(r["rows"]),
            number_td(r["points"])])
        for r in summary.rows(named=True)
    ]
    summary_rows.append(tr([td("Итого", "t"), td("", "t"), number_td(total(summary, "rows")),
                            number_td(total(summary, "points"))], "total"))
    differences = [
        tr([text_td(r["customer_id"]), code_td(r["code"]), td(label(BUCKETS, r["bucket"]), "t"),
            number_td(r["recomputed"]), number_td(r["operational"]), number_td(r["difference"], signed=True),
            statement_td(r["statement"])])
        for r in report.largest_differences.rows(named=True)
    ]
    return section(
        "variance", title,
        table(["Код", "Что это", "Строк", "Баллов, сумма |разниц|"], summary_rows, left=(0, 1))
        if summary.height else "<p>Расхождений нет.</p>",
        "<h3>Крупнейшие расхождения</h3>",
        '<p class="note">Разница = пересчёт − операционная система; отсутствующая сторона считается нулём.</p>',
        table(["Клиент", "Код", "Корзина", "Пересчёт", "Операционная", "Разница", "Выписка"], differences,
              left=(0, 1, 2, 6)) if differences else NO_DATA,
    )


def exceptions(report: FinanceReport) -> str:
    frame = report.exceptions_by_code
    if frame.is_empty():
        return section("exceptions", "Исключения", "<p>Исключений нет.</p>")
    rows = [
        tr([td(label(SEVERITIES, r["severity"]), "t bad" if r["severity"] == "error" else "t"), code_td(r["code"]),
            number_td(r["rows"])])
        for r in frame.rows(named=True)
    ]
    rows.append(tr([td("Итого", "t"), td("", "t"), number_td(total(frame, "rows"))], "total"))
    return section("exceptions", "Исключения", table(["Важность", "Код", "Строк"], rows, left=(0, 1)))


# charts: inline SVG with a value axis of round ticks, a tooltip on every mark

WIDTH, HEIGHT = 600, 250
LEFT, RIGHT, TOP, BOTTOM = 86, 14, 14, 40


def tick_step(span: int, ticks: int = 5) -> int:
    """The smallest 1, 2 or 5 x 10^k that covers `span` in at most `ticks` steps."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m * ticks >= span:
                return step * m
        step *= 10


def value_axis(lo: int, hi: int) -> tuple[int, int, list[int]]:
    """(axis low, axis high, ticks) covering lo .. hi with round numbers."""
    if lo == hi:
        lo, hi = (lo - 1, hi + 1) if lo else (0, 1)
    step = tick_step(hi - lo)
    low, high = lo // step * step, -(-hi // step) * step
    return low, high, list(range(low, high + 1, step))


def num(x: float) -> str:
    return f"{x:.1f}"


class Plot:
    """The scales of one chart: a value axis (y) over a plot area of fixed size."""

    def __init__(self, lo: int, hi: int, height: int = HEIGHT):
        self.low, self.high, self.ticks = value_axis(lo, hi)
        self.height, self.bottom, self.width = height, height - BOTTOM, WIDTH - LEFT - RIGHT

    def y(self, value: int) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - TOP)

    def axes(self) -> str:
        right, base = LEFT + self.width, num(self.y(min(max(0, self.low), self.high)))
        grid = "".join(
            f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{num(self.y(t))}" y2="{num(self.y(t))}"/>'
            f'<text x="{LEFT - 6}" y="{num(self.y(t) + 4)}" text-anchor="end">{esc(fmt.points(t))}</text>'
            for t in self.ticks
        )
        return (grid + f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{self.bottom}"/>'
                f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{base}" y2="{base}"/>')

    def bar(self, x: float, width: float, start: int, end: int, colour: str, tip: str) -> str:
        top, bottom = sorted((self.y(start), self.y(end)))
        return (f'<rect x="{num(x)}" y="{num(top)}" width="{num(width)}" height="{num(max(bottom - top, 0.5))}" '
                f'fill="{colour}"><title>{esc(tip)}</title></rect>')

    def svg(self, title: str, marks: str) -> str:
        return (f'<svg viewBox="0 0 {WIDTH} {self.height}" width="{WIDTH}" height="{self.height}" role="img">'
                f"<title>{esc(title)}</title>{self.axes()}{marks}</svg>")

    def x_label(self, x: float, text: str, y: float | None = None) -> str:
        """A label centred on x, under the plot unless y is given."""
        y = self.bottom + 16 if y is None else y
        return f'<text x="{num(x)}" y="{num(y)}" text-anchor="middle">{esc(text)}</text>'


def figure(title: str, chart: str, caption: str = "") -> str:
    caption = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure><h3>{esc(title)}</h3>{chart}{caption}</figure>"


def liability_chart(frame: pl.DataFrame) -> str:
    title = "Обязательство по опубликованным дням, ₽"
    rows = frame.sort("as_of").rows(named=True)
    if not rows:
        return figure(title, NO_DATA)
    plot = Plot(min(r["liability"] for r in rows), max(r["liability"] for r in rows))
    first, last = rows[0]["as_of"], rows[-1]["as_of"]

    def x(day: dt.date) -> float:
        return LEFT + plot.width * ((day - first).days / (last - first).days if last > first else 0.5)

    points = [(x(r["as_of"]), plot.y(r["liability"])) for r in rows]
    path = "M" + " L".join(f"{num(px)},{num(py)}" for px, py in points)
    dots = "".join(
        f'<circle cx="{num(px)}" cy="{num(py)}" r="2.6" fill="{LINE}">'
        f"<title>{esc(fmt.date(r['as_of']))}: {esc(fmt.money(r['liability']))}</title></circle>"
        for (px, py), r in zip(points, rows, strict=True)
    )
    labels = "".join(plot.x_label(x(r["as_of"]), fmt.day_month(r["as_of"])) for r in rows[:: -(-len(rows) // 7)])
    marks = f'<path d="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>{dots}{labels}'
    days = len(rows)
    caption = (
        f"Конец каждого опубликованного дня, как опубликовано: {days} {plural(days, 'день', 'дня', 'дней')}, "
        f"{esc(fmt.date(first))}–{esc(fmt.date(last))}. Шкала в рублях"
        f"{' и не от нуля' if plot.low > 0 else ''}; у каждой точки подсказка с суммой."
    )
    return figure(title, plot.svg(title, marks), caption)


def bar_chart(title: str, bars: Sequence[tuple[str, int, str]], caption: str, *, show_values: bool = False) -> str:
    """Vertical bars of (label under it, value, tooltip); a label too long for its bar is cut, the tooltip is whole."""
    if not bars:
        return figure(title, NO_DATA)
    values = [value for _, value, _ in bars]
    high = max(0, *values)
    plot = Plot(min(0, *values), high + (max(1, high // 12) if show_values else 0))
    band, every = plot.width / len(bars), -(-len(bars) // 14)
    fits = max(2, int(band * every / 7))
    marks = []
    for i, (name, value, tip) in enumerate(bars):
        x, middle = LEFT + band * (i + 0.15), LEFT + band * (i + 0.5)
        marks.append(plot.bar(x, band * 0.7, 0, value, BAR, tip))
        if show_values:
            marks.append(plot.x_label(middle, fmt.points(value), plot.y(max(value, 0)) - 4))
        if i % every == 0:
            marks.append(plot.x_label(middle, name if len(name) <= fits else name[: fits - 1] + "…"))
    return figure(title, plot.svg(title, "".join(marks)), caption)


def expiry_chart(frame: pl.DataFrame) -> str:
    bars = [
        (fmt.day_month(r["week_start"]), r["expiring_points"],
         f"{fmt.date(r['week_start'])}–{fmt.date(r['week_end'])}: {fmt.points(r['expiring_points'])} баллов")
        for r in frame.sort("week_start").rows(named=True)
    ]
    return bar_chart("Сгорит по неделям, баллов", bars,
                     "Баллы, срок которых истекает в каждую из ближайших недель; подпись — первый день недели.")


def mismatch_chart(frame: pl.DataFrame) -> str:
    bars = [(r["size_band"], r["rows"], f"разница {r['size_band']} баллов: {fmt.points(r['rows'])} строк")
            for r in frame.rows(named=True)]
    return bar_chart("Расхождения по размеру, строк", bars,
                     "Строки сверки по модулю разницы между пересчётом и операционной системой, в баллах.",
                     show_values=True)


def liability_effect(bucket: str | None, points: int) -> int:
    """What a movement does to the liability (available + pending - debt)."""
    return -points if bucket == "debt" else points


def movements_chart(frame: pl.DataFrame, as_of: dt.date) -> str:
    """Each day's change of the liability by kind, stacked up (added) and down (taken away).

    Maturity and repayment move points between buckets and leave the liability as it was, so they
    have no bar; the caption says how much they moved."""
    title = f"Движения по видам за {MOVEMENT_DAYS} дней, баллов"
    days = [as_of - dt.timedelta(days=MOVEMENT_DAYS - 1 - i) for i in range(MOVEMENT_DAYS)]
    window = frame.filter(pl.col("business_date").is_between(days[0], days[-1]))
    if window.is_empty():
        return figure(title, NO_DATA)
    effect: dict[tuple[dt.date, str], int] = {}
    moved: dict[str, int] = {}
    for r in window.rows(named=True):
        key = (r["business_date"], r["kind"])
        effect[key] = effect.get(key, 0) + liability_effect(r["bucket"], r["points"])
        moved[r["kind"]] = moved.get(r["kind"], 0) + abs(r["points"])
    kinds = [*MOVEMENT_KINDS, *sorted(k for k in moved if k not in MOVEMENT_KINDS and k is not None)]
    shown = [k for k in kinds if any(effect.get((d, k)) for d in days)]
    neutral = [k for k in kinds if k not in shown and moved.get(k)]
    unknown = [k for k in shown if k not in KIND_COLOURS]
    colours = KIND_COLOURS | dict(zip(unknown, SPARE_COLOURS * (1 + len(unknown) // len(SPARE_COLOURS))))
    ups = [sum(max(effect.get((d, k), 0), 0) for k in shown) for d in days]
    downs = [sum(min(effect.get((d, k), 0), 0) for k in shown) for d in days]
    plot = Plot(min(0, *downs), max(0, *ups), height=290)
    band = plot.width / len(days)
    marks = []
    for i, day in enumerate(days):
        up = down = 0
        for k in shown:
            value = effect.get((day, k), 0)
            start = up if value > 0 else down
            if value:
                tip = f"{fmt.date(day)} · {KINDS.get(k, k)}: {fmt.points(value, signed=True)}"
                marks.append(plot.bar(LEFT + band * (i + 0.12), band * 0.76, start, start + value, colours[k], tip))
            up, down = (up + value, down) if value > 0 else (up, down + value)
        if i % 5 == 0 or i == len(days) - 1:
            marks.append(plot.x_label(LEFT + band * (i + 0.5), fmt.day_month(day)))
    legend = "".join(f'<li><span class="swatch" style="background:{colours[k]}"></span>{label(KINDS, k)}</li>'
                     for k in shown)
    caption = ("Насколько каждый вид движений изменил обязательство за день: вверх — прибавил, вниз — убавил "
               "(возникший долг уменьшает обязательство).")
    if neutral:
        caption += " " + "; ".join(f"«{label(KINDS, k)}» — {esc(fmt.points(moved[k] // 2))} баллов" for k in neutral)
        caption += (": эти движения только переносят баллы между корзинами (ожидающие → доступные, доступные → в "
                    "погашение долга) и обязательство не меняют, поэтому столбцов у них нет.")
    return figure(title, f'<ul class="legend">{legend}</ul>' + plot.svg(title, "".join(marks)), caption)


def charts(report: FinanceReport) -> str:
    return section(
        "charts", "Графики",
        '<div class="charts">',
        liability_chart(report.liability_history),
        expiry_chart(report.expiry_by_week),
        movements_chart(report.movements_by_day, report.as_of),
        mismatch_chart(report.mismatches_by_size),
        "</div>",
    )


NAV = (
    ("summary", "Сводка"), ("rollforward-section", "Движение"), ("restatements", "Пересчёт"), ("tiers", "Уровни"),
    ("ahead", "Впереди"), ("variance", "Сверка"), ("exceptions", "Исключения"), ("charts", "Графики"),
)


def render_html(report: FinanceReport) -> str:
    """The page of `report`: one HTML5 document, nothing to fetch, nothing to run."""
    day = esc(fmt.date(report.as_of))
    nav = "".join(f'<a href="#{key}">{esc(name)}</a>' for key, name in NAV)
    sections = [headline(report), rollforward(report), restatements(report), tiers(report), ahead(report),
                variance(report), exceptions(report), charts(report)]
    return (
        '<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Perfone: баллы лояльности, отчёт для финансов на {day}</title>\n<style>{STYLE}</style>\n"
        "</head>\n<body>\n<main>\n<header><h1>Программа лояльности Perfone: отчёт для финансов</h1>\n"
        f'<p class="sub">Обязательство по баллам на конец дня {day}; 1 балл = 1 ₽.</p>\n<nav>{nav}</nav></header>\n'
        + "\n".join(sections)
        + f"\n<footer>Запуск {esc(report.run_id)} · код {esc(report.code_version)} · "
        f"правила {esc(report.rules_version)}</footer>\n</main>\n</body>\n</html>\n"
    )
