"""Reports rendered as JSON, CSV, HTML, table cells and PNG/SVG charts; undefined is never 0."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from decimal import Decimal

import pytest
from matplotlib.image import imread

from leadsift.analytics.charts import chart_png, chart_svg
from leadsift.analytics.rendering import (
    FORMATS,
    ChartSpec,
    Column,
    ColumnKind,
    Report,
    format_value,
    render_csv,
    render_html,
    render_json,
    table_headers,
    table_rows,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MALICIOUS = "<script>alert(1)</script>"
FUNNEL_COLUMNS = (
    Column("stage", "Stage", "text"),
    Column("contacts", "Contacts", "count"),
    Column("step_rate", "Step conversion", "rate"),
    Column("cost", "Cost", "money"),
)


def _funnel(*extra_rows: dict[str, object], title: str = "Funnel, last 90 days") -> Report:
    rows: tuple[dict[str, object], ...] = (
        {"stage": "leads", "contacts": 8000, "step_rate": None, "cost": Decimal("1234.5")},
        {"stage": "contacted", "contacts": 3600, "step_rate": 0.45, "cost": 99.999},
        {"stage": "qualified", "contacts": 900, "step_rate": 0.25, "cost": float("nan")},
        {"stage": "customers", "contacts": 120, "step_rate": 2 / 15, "cost": None},
        *extra_rows,
    )
    return Report(
        title=title,
        columns=FUNNEL_COLUMNS,
        rows=rows,
        notes=("cohorts of the last 30 days are still converting",),
        chart=ChartSpec("funnel", label_key="stage", value_key="contacts", rate_key="step_rate"),
        meta={"period": "2026-01-01..2026-03-31", "dimension": "source", "currency": "EUR"},
    )


def _no_nan(text: str) -> None:
    raise AssertionError(f"{text} in a JSON document")


def test_json_round_trip_keeps_undefined_rates_null_never_nan() -> None:
    document = json.loads(render_json(_funnel()), parse_constant=_no_nan)
    assert set(document) == {"title", "columns", "rows", "notes", "meta"}
    assert document["columns"][2] == {
        "key": "step_rate",
        "label": "Step conversion",
        "kind": "rate",
    }
    rows = document["rows"]
    assert [row["step_rate"] for row in rows] == [None, 0.45, 0.25, pytest.approx(2 / 15)]
    assert [row["cost"] for row in rows] == [1234.5, 99.999, None, None]
    assert rows[0]["contacts"] == 8000 and isinstance(rows[0]["contacts"], int)
    assert document["notes"] == ["cohorts of the last 30 days are still converting"]
    assert document["meta"]["dimension"] == "source"


def test_json_turns_infinity_and_odd_meta_into_plain_values() -> None:
    report = Report(
        "Lift",
        (Column("group", "Group", "text"), Column("lift", "Lift", "number")),
        ({"group": "treated", "lift": math.inf}, {"group": "control"}),
        meta={"period": ("2026-01-01", "2026-03-31")},
    )
    document = json.loads(render_json(report), parse_constant=_no_nan)
    assert document["rows"] == [
        {"group": "treated", "lift": None},
        {"group": "control", "lift": None},
    ]
    assert document["meta"] == {"period": ["2026-01-01", "2026-03-31"]}


def test_csv_header_is_the_column_keys_and_values_are_raw() -> None:
    lines = list(csv.reader(io.StringIO(render_csv(_funnel()))))
    assert lines[0] == ["stage", "contacts", "step_rate", "cost"]
    assert lines[1] == ["leads", "8000", "", "1234.5"]
    assert lines[2] == ["contacted", "3600", "0.45", "99.999"]
    assert lines[3] == ["qualified", "900", "0.25", ""]
    assert float(lines[4][2]) == pytest.approx(2 / 15) and lines[4][3] == ""
    assert len(lines) == 5


def test_csv_quotes_commas_and_quotes_in_text() -> None:
    report = Report("Sources", (Column("source", "Source", "text"),), ({"source": 'a, "b"'},))
    assert list(csv.reader(io.StringIO(render_csv(report))))[1] == ['a, "b"']


def _without_namespaces(page: str) -> str:
    # xmlns values name XML vocabularies; they are identifiers, never fetched.
    return re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", page)


def test_html_escapes_every_value_and_loads_nothing_external() -> None:
    report = _funnel(
        {"stage": MALICIOUS, "contacts": 1, "step_rate": 0.5, "cost": 1},
        title=f"Funnel {MALICIOUS}",
    )
    report = Report(
        report.title,
        report.columns,
        report.rows,
        notes=(MALICIOUS,),
        chart=report.chart,
        meta={**report.meta, "dimension": MALICIOUS, "locale": "fr_FR"},
    )
    page = render_html(report, chart_svg(report))
    assert page.startswith("<!doctype html>")
    assert '<html lang="fr-FR">' in page
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # row, title ×2, note, meta
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in _without_namespaces(page)
    assert "https://" not in _without_namespaces(page)
    assert "@import" not in page and "url(http" not in page


def test_html_shows_formatted_cells_notes_and_the_chart_inline() -> None:
    page = render_html(_funnel(), chart_svg(_funnel()))
    assert '<html lang="en">' in page
    assert "<title>Funnel, last 90 days</title>" in page
    assert '<td class="number">8,000</td>' in page
    assert '<td class="number">n/a</td>' in page  # leads have no step conversion
    assert '<td class="number">1,234.50 EUR</td>' in page
    assert "<li>cohorts of the last 30 days are still converting</li>" in page
    assert page.count("<svg") == 1


def test_html_without_chart_or_rows_says_there_is_no_data() -> None:
    report = Report("Empty", FUNNEL_COLUMNS, (), meta={"locale": '"><x y="'})
    page = render_html(report, None)
    assert "<svg" not in page and "No data." in page
    assert '<html lang="en">' in page  # an odd locale never reaches the attribute


def test_html_refuses_an_svg_with_a_script() -> None:
    with pytest.raises(ValueError, match="scripts"):
        render_html(_funnel(), "<svg><script>alert(1)</script></svg>")
    with pytest.raises(ValueError, match="not an SVG"):
        render_html(_funnel(), "<div>chart</div>")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1234, "count", "1,234"),
        (1234567.0, "count", "1,234,567"),
        (0, "count", "0"),
        (None, "count", ""),
        (0.123, "rate", "12.3 %"),
        (0.0, "rate", "0.0 %"),
        (1, "rate", "100.0 %"),
        (None, "rate", "n/a"),
        (float("nan"), "rate", "n/a"),
        (1234.5, "money", "1,234.50 EUR"),
        (Decimal("0.125"), "money", "0.12 EUR"),  # Decimal rounds half to even, exactly
        (-42, "money", "-42.00 EUR"),
        (None, "money", ""),
        (Decimal("NaN"), "money", ""),
        (0, "minutes", "0 min"),
        (0.4, "minutes", "< 1 min"),
        (45, "minutes", "45 min"),
        (65, "minutes", "1 h 05 min"),
        (1439, "minutes", "23 h 59 min"),
        (1440, "minutes", "1 d 0 h"),
        (3 * 1440 + 4 * 60 + 20, "minutes", "3 d 4 h"),
        (float("inf"), "minutes", ""),
        (1234, "number", "1,234"),
        (1.23456, "number", "1.23"),
        (None, "number", ""),
        ("Paris", "text", "Paris"),
        (None, "text", ""),
        ("pending", "count", "pending"),  # not a number: shown, never hidden as 0
        (True, "count", "True"),
    ],
)
def test_format_value(value: object, kind: ColumnKind, expected: str) -> None:
    assert format_value(value, kind) == expected


def test_format_value_uses_the_given_currency_and_rejects_unknown_kinds() -> None:
    assert format_value(10, "money", "USD") == "10.00 USD"
    with pytest.raises(ValueError, match="unknown column kind"):
        format_value(1, "percent")  # type: ignore[arg-type]


def test_table_headers_and_rows_are_formatted_in_the_report_currency() -> None:
    report = Report(
        "Costs",
        (Column("source", "Source", "text"), Column("cost", "Cost", "money")),
        ({"source": "ads", "cost": 12}, {"source": "seo"}),
        meta={"currency": "GBP"},
    )
    assert table_headers(report) == ["Source", "Cost"]
    assert table_rows(report) == [["ads", "12.00 GBP"], ["seo", ""]]
    assert table_rows(_funnel())[0] == ["leads", "8,000", "n/a", "1,234.50 EUR"]
    assert FORMATS == ("table", "json", "csv", "html", "png")


def test_a_report_rejects_charts_of_missing_columns_and_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="'visits'"):
        Report("x", FUNNEL_COLUMNS, (), chart=ChartSpec("bar", "stage", "visits"))
    with pytest.raises(ValueError, match="duplicate"):
        Report("x", (Column("a", "A", "text"), Column("a", "B", "count")), ())


def test_png_is_800_by_450_readable_and_deterministic() -> None:
    png = chart_png(_funnel())
    assert png.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[:2] == (450, 800)
    assert chart_png(_funnel()) == png
    assert b"Matplotlib" not in png  # no software nor date metadata


def test_funnel_svg_has_stage_labels_counts_and_rates_as_text() -> None:
    svg = chart_svg(_funnel())
    assert svg.startswith("<svg")
    texts = re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)
    assert "leads 8,000" in texts  # the first stage has no step rate: none shown, not "n/a"
    assert not any("n/a" in text for text in texts)
    assert "contacted 3,600 · 45.0 %" in texts
    assert "customers 120 · 13.3 %" in texts
    assert chart_svg(_funnel()) == svg


def test_bar_chart_labels_each_bar_with_its_value_and_keeps_dollars_literal() -> None:
    report = Report(
        "Revenue by source",
        (Column("source", "Source", "text"), Column("revenue", "Revenue", "money")),
        (
            {"source": "promo $5 and $10", "revenue": 1500},
            {"source": "seo", "revenue": -20.5},
            {"source": "ads", "revenue": None},
        ),
        chart=ChartSpec("bar", label_key="source", value_key="revenue"),
        meta={"currency": "USD"},
    )
    texts = re.findall(r"<text\b[^>]*>([^<]*)</text>", chart_svg(report))
    assert {"1,500.00 USD", "-20.50 USD", "n/a"} <= set(texts)
    assert "promo $5 and $10" in texts  # not read as mathematics
    assert chart_png(report).startswith(PNG_SIGNATURE)


def test_charting_an_empty_report_or_one_without_a_chart_says_so() -> None:
    empty = Report(
        "Nothing yet", FUNNEL_COLUMNS, (), chart=ChartSpec("funnel", "stage", "contacts")
    )
    with pytest.raises(ValueError, match="no data to chart"):
        chart_png(empty)
    with pytest.raises(ValueError, match="no data to chart"):
        chart_svg(empty)
    with pytest.raises(ValueError, match="no chart spec"):
        chart_png(Report("Plain", FUNNEL_COLUMNS, _funnel().rows))


def test_percentiles_of_an_hour_histogram() -> None:
    from leadsift.analytics.funnel import histogram_percentile

    bins = [(24, 4), (48, 1)]  # four took a day, one two days
    assert histogram_percentile(bins, 0.5) == 1.0
    assert histogram_percentile(bins, 0.9) == 2.0
    assert histogram_percentile([], 0.5) is None
