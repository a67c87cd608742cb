"""The finance page: self-contained, script-free and escaped, read back in a real browser.

The figures the page carries are compared with the fixture's frames, never with the renderer's
own arithmetic. The browser tests need Debian's /usr/bin/chromium (see tests/browser.py).
"""

import html
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from browser import CHROMIUM, Browser
from report_fixture import HOSTILE, empty_report, finance_report, frames, hostile_report
from reports.html import CSP, render_html
from reports.model import MOVEMENT_KINDS, SCHEMAS

SCREENSHOT = Path(__file__).parent.parent / "test-output" / "reconciliation.png"
SAFE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "nav", "a", "section", "h1", "h2", "h3",
    "p", "strong", "span", "div", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "code", "details",
    "summary", "pre", "figure", "figcaption", "ul", "li", "footer",
    "svg", "title", "line", "text", "rect", "path", "circle",
}


class Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def liability_figures(report) -> dict[str, int]:
    row = report.rollforward.filter(pl.col("bucket") == "liability").row(0, named=True)
    return {"closing": row["closing"], "change": row["closing"] - row["opening"]}


# without a browser


def test_fixture_matches_the_model_and_ties():
    report = finance_report()
    for name, frame in frames(report).items():
        assert frame.schema == pl.Schema(SCHEMAS[name]) and frame.height > 0, name
    rollforward = report.rollforward
    moved = pl.sum_horizontal("opening", "restatement", *MOVEMENT_KINDS)
    assert rollforward.select((moved == pl.col("closing")).all()).item()
    by_bucket = {r["bucket"]: r for r in rollforward.rows(named=True)}
    for column in ("opening", "restatement", *MOVEMENT_KINDS, "closing"):
        assert by_bucket["liability"][column] == (
            by_bucket["available"][column] + by_bucket["pending"][column] - by_bucket["debt"][column]), column
    assert report.liability_by_tier.get_column("closing").sum() == by_bucket["liability"]["closing"]
    for name, frame in frames(empty_report()).items():
        assert frame.schema == pl.Schema(SCHEMAS[name]) and frame.height == 0, name


def test_a_break_and_a_missing_operational_file_are_said_plainly():
    report = finance_report()
    broken = report.rollforward.with_columns(ties=pl.col("bucket") != "debt")
    page = render_html(replace(report, rollforward=broken, operational_reported=False))
    assert 'data-figure="ties" data-value="0">нет<' in page
    assert 'data-bucket="debt"' in page and 'data-column="ties" data-value="0"' in page
    assert "Файл остатков операционной системы за этот день не поступил, поэтому сверки нет." in page
    assert "Крупнейшие расхождения" not in page


def test_breakage_shares_are_exact_percent():
    page = render_html(finance_report())
    shares = [f"<td>{share}</td>" for share in ("12,5\u00a0%", "—", "6,7\u00a0%", "6,3\u00a0%", "0,0\u00a0%")]
    assert all(share in page for share in shares)
    assert page.count("<td>12,5\u00a0%</td>") == 2


@pytest.mark.parametrize("make", [finance_report, hostile_report, empty_report])
def test_page_has_only_safe_tags_and_no_external_reference(make):
    page = render_html(make())
    tags = Tags(page).tags
    assert {tag for tag, _ in tags} <= SAFE_TAGS
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"ru\">")
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}) in tags
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    for tag, attrs in tags:
        assert not {name for name in attrs if name.startswith("on")}, (tag, attrs)
        assert "src" not in attrs and "xmlns" not in attrs, (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), (tag, attrs)
        assert attrs.get("style", "background:#000000").startswith("background:#"), (tag, attrs)


@pytest.mark.parametrize("make", [finance_report, hostile_report])
def test_page_names_no_url_except_in_escaped_data(make):
    page = render_html(make())
    for text in HOSTILE:
        page = page.replace(html.escape(text, quote=True), "")
    assert "http://" not in page and "https://" not in page
    assert "//" not in page.replace("://", "")  # no protocol-relative reference either


def test_page_is_small_and_deterministic():
    page = render_html(finance_report())
    assert len(page.encode()) < 80_000
    assert render_html(finance_report()) == page
    assert len(render_html(empty_report()).encode()) < 20_000


def test_hostile_strings_are_escaped_in_the_source():
    page = render_html(hostile_report())
    for text in HOSTILE:
        assert html.escape(text, quote=True) in page
    assert "<script" not in page and "<img" not in page


# in the browser


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is needed for the page tests (apt-get install chromium)"
    with Browser() as instance:
        yield instance


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    written = {}
    for name, make in (("fixture", finance_report), ("hostile", hostile_report), ("empty", empty_report)):
        written[name] = folder / f"{name}.html"
        written[name].write_text(render_html(make()), encoding="utf-8")
    return written


def assert_quiet(record, page: Path):
    assert record.errors() == []
    assert record.exceptions == []
    assert record.dialogs == []
    assert record.requests == [page.resolve().as_uri()]


def test_page_loads_without_errors_requests_or_dialogs(browser, pages):
    record = browser.load(pages["fixture"])
    assert_quiet(record, pages["fixture"])
    assert browser.evaluate("document.documentElement.lang") == "ru"
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('svg').length") == 4
    assert browser.evaluate("[...document.querySelectorAll('svg')].every(s => s.getBoundingClientRect().height > 150)")


def test_headline_figures_are_the_fixtures(browser, pages):
    browser.load(pages["fixture"])
    shown = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-figure][data-value]')]"
        ".map(e => [e.dataset.figure, e.dataset.value]))"
    )
    report = finance_report()
    exceptions = report.exceptions_by_code
    liability = liability_figures(report)
    assert shown == {
        "liability-closing": str(liability["closing"]),
        "liability-change": str(liability["change"]),
        "ties": str(int(report.rollforward.get_column("ties").all())),
        "exceptions-total": str(exceptions.get_column("rows").sum()),
        "exceptions-errors": str(exceptions.filter(pl.col("severity") == "error").get_column("rows").sum()),
        "exceptions-warnings": str(exceptions.filter(pl.col("severity") == "warning").get_column("rows").sum()),
        "mismatches": str(report.variance_summary.get_column("rows").sum()),
        "restated-customers": str(report.restated_customers),
    }
    assert shown["liability-closing"] == "12956750" and shown["liability-change"] == "9750"
    text = browser.evaluate("document.querySelector('[data-figure=liability-closing]').innerText")
    assert text == "12\u00a0956\u00a0750,00\u00a0₽"
    assert browser.evaluate("document.querySelector('[data-figure=opening-date]').innerText") == "30.03.2026"


def test_rollforward_cells_are_the_fixtures(browser, pages):
    browser.load(pages["fixture"])
    shown = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#rollforward tr[data-bucket]')].map(tr =>"
        " [tr.dataset.bucket, Object.fromEntries([...tr.querySelectorAll('td')]"
        ".map(td => [td.dataset.column, td.dataset.value]))]))"
    )
    expected = {
        row["bucket"]: {column: str(int(value)) for column, value in row.items() if column != "bucket"}
        for row in finance_report().rollforward.rows(named=True)
    }
    assert shown == expected
    assert list(shown) == ["pending", "available", "debt", "liability"]
    assert list(shown["pending"]) == ["opening", "restatement", *MOVEMENT_KINDS, "closing", "ties"]
    box = "document.querySelector('#rollforward').parentElement"
    assert browser.evaluate(f"{box}.scrollWidth <= {box}.clientWidth"), "the roll-forward must fit a 1280 px window"


def test_hostile_strings_stay_text(browser, pages):
    record = browser.load(pages["hostile"])
    assert_quiet(record, pages["hostile"])
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('img, script, iframe, [onerror]').length") == 0
    text = browser.evaluate("document.body.innerText")
    for hostile in HOSTILE:
        assert hostile in text
    buckets = browser.evaluate("[...document.querySelectorAll('#rollforward tr')].map(tr => tr.dataset.bucket)")[1:]
    assert buckets == hostile_report().rollforward.get_column("bucket").to_list()


def test_empty_report_renders_notes(browser, pages):
    record = browser.load(pages["empty"])
    assert_quiet(record, pages["empty"])
    text = browser.evaluate("document.body.innerText")
    assert "первый расчёт, с нуля" in text
    assert "не поступил" in text
    assert browser.evaluate("document.querySelectorAll('.empty').length") == 9  # 5 tables, 4 charts
    assert browser.evaluate("document.querySelectorAll('svg').length") == 0


def test_screenshot(browser, pages):
    browser.load(pages["fixture"])
    path = browser.screenshot(SCREENSHOT)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 2_000
    print(f"screenshot: {path}")
