"""Reports as plain values, rendered as JSON, CSV, a self-contained HTML page or table cells; pure.

An undefined value (a rate over an empty denominator, NaN, infinity) is None: null in JSON, an
empty field in CSV, "n/a" in a rate cell and an empty cell otherwise; never 0 and never NaN.

Minutes are shown in the largest units that stay exact enough to read at a glance, rounded to
the nearest minute: under one minute "< 1 min" (exactly 0: "0 min"), under an hour "45 min",
under a day "1 h 05 min", from a day on "3 d 4 h" (rounded to the nearest hour).
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final, Literal, get_args

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

ColumnKind = Literal["text", "count", "rate", "money", "minutes", "number"]
ChartKind = Literal["funnel", "bar"]

FORMATS: Final[tuple[str, ...]] = ("table", "json", "csv", "html", "png")
COLUMN_KINDS: Final[tuple[str, ...]] = get_args(ColumnKind)
CHART_KINDS: Final[tuple[str, ...]] = get_args(ChartKind)
DEFAULT_CURRENCY: Final[str] = "EUR"
DEFAULT_LANG: Final[str] = "en"

_MINUTES_PER_HOUR: Final[int] = 60
_MINUTES_PER_DAY: Final[int] = 24 * 60
_LANG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class Column:
    """One column of a report: the row key it reads, its heading and how its values read."""

    key: str
    label: str
    kind: ColumnKind


@dataclass(frozen=True)
class ChartSpec:
    """How a report is charted: a funnel of stages or bars, read from which columns."""

    kind: ChartKind
    label_key: str
    value_key: str
    rate_key: str | None = None


@dataclass(frozen=True)
class Report:
    """A report: columns, rows of raw values keyed by column key, notes, an optional chart."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, object], ...]
    notes: tuple[str, ...] = ()
    chart: ChartSpec | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [column.key for column in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"report {self.title!r}: duplicate column keys in {keys}")
        for column in self.columns:
            if column.kind not in COLUMN_KINDS:
                raise ValueError(f"column {column.key!r}: unknown kind {column.kind!r}")
        if self.chart is not None:
            _check_chart(self.chart, keys)

    @property
    def currency(self) -> str:
        """The currency of money columns: meta "currency", EUR when not given."""
        return str(self.meta.get("currency") or DEFAULT_CURRENCY)

    def column(self, key: str) -> Column:
        """The column read from row key `key` (KeyError when the report has none)."""
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)


def _check_chart(chart: ChartSpec, keys: list[str]) -> None:
    if chart.kind not in CHART_KINDS:
        raise ValueError(f"unknown chart kind {chart.kind!r}; expected one of {CHART_KINDS}")
    for key in (chart.label_key, chart.value_key, chart.rate_key):
        if key is not None and key not in keys:
            raise ValueError(f"chart reads {key!r}, which is not a column of the report {keys}")


def defined_number(value: object) -> float | None:
    """The value as a finite float; None when it is undefined (None, NaN, ±inf) or not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None  # float() would raise on a signalling NaN
    number = float(value)
    return number if math.isfinite(number) else None


def _is_undefined(value: object) -> bool:
    if isinstance(value, Decimal):
        return not value.is_finite()
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_value(value: object, kind: ColumnKind, currency: str = DEFAULT_CURRENCY) -> str:
    """A value as a table cell reads it: "1,234", "12.3 %", "1,234.50 EUR", "1 h 05 min"."""
    if kind not in COLUMN_KINDS:
        raise ValueError(f"unknown column kind {kind!r}; expected one of {COLUMN_KINDS}")
    number = defined_number(value)
    if kind == "text" or number is None:
        if not _is_undefined(value):
            return str(value)  # text, or not a number: shown as it is rather than hidden
        # A rate without a denominator is "n/a", never "0 %"; other undefined cells stay empty.
        return "n/a" if kind == "rate" else ""
    return _format_number(value, number, kind, currency)


def _format_number(value: object, number: float, kind: ColumnKind, currency: str) -> str:
    whole = int(value) if isinstance(value, numbers.Integral) else None
    if kind == "count":
        return f"{round(number) if whole is None else whole:,}"
    if kind == "rate":
        return f"{number * 100:.1f} %"
    if kind == "minutes":
        return format_minutes(number)
    # Decimals keep their exact digits when rounded to cents.
    exact = value if isinstance(value, Decimal) else number
    if kind == "money":
        return f"{exact:,.2f} {currency}"
    return f"{exact:,.2f}" if whole is None else f"{whole:,}"


def format_minutes(minutes: float) -> str:
    """Minutes as "< 1 min", "45 min", "1 h 05 min" (under a day) or "3 d 4 h" (a day or more)."""
    sign = "-" if minutes < 0 else ""
    size = abs(minutes)
    whole = round(size)
    if whole == 0:
        return "0 min" if size == 0 else f"{sign}< 1 min"
    if whole < _MINUTES_PER_HOUR:
        return f"{sign}{whole} min"
    if whole < _MINUTES_PER_DAY:
        hours, rest = divmod(whole, _MINUTES_PER_HOUR)
        return f"{sign}{hours} h {rest:02d} min"
    days, hours = divmod(round(whole / _MINUTES_PER_HOUR), 24)
    return f"{sign}{days:,} d {hours} h"


def table_headers(report: Report) -> list[str]:
    """The column headings of the report, in column order."""
    return [column.label for column in report.columns]


def table_rows(report: Report) -> list[list[str]]:
    """Every row as formatted cells, in column order (a missing key is an undefined value)."""
    currency = report.currency
    return [
        [format_value(row.get(column.key), column.kind, currency) for column in report.columns]
        for row in report.rows
    ]


def _json_value(value: object) -> object:
    """A raw value as JSON can hold it: undefined numbers become None, dates ISO 8601 text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Real | Decimal):
        return int(value) if isinstance(value, numbers.Integral) else defined_number(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(item) for item in value]
    return str(value)


def render_json(report: Report) -> str:
    """The report as one JSON document {"title", "columns", "rows", "notes", "meta"}."""
    document = {
        "title": report.title,
        "columns": [
            {"key": column.key, "label": column.label, "kind": column.kind}
            for column in report.columns
        ],
        "rows": [
            {column.key: _json_value(row.get(column.key)) for column in report.columns}
            for row in report.rows
        ],
        "notes": list(report.notes),
        "meta": _json_value(report.meta),
    }
    # allow_nan=False: a NaN that slipped through is a bug to see, not an invalid document.
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _csv_value(value: object) -> str:
    raw = _json_value(value)
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list | dict):
        return json.dumps(raw, ensure_ascii=False)
    return str(raw)


def render_csv(report: Report) -> str:
    """The report as CSV: a header of column keys, then raw values (undefined: empty field)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.key for column in report.columns])
    for row in report.rows:
        writer.writerow([_csv_value(row.get(column.key)) for column in report.columns])
    return buffer.getvalue()


_ENVIRONMENT = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_PAGE = _ENVIRONMENT.from_string(
    """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
figure.chart { margin: 1rem 0; }
figure.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
th.number, td.number { text-align: right; font-variant-numeric: tabular-nums; }
ul.notes { color: #555; }
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% if meta %}<dl class="meta">
{% for key, value in meta %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
{% endif %}{% if chart %}<figure class="chart">
{{ chart }}
</figure>
{% endif %}<table>
<thead><tr>{% for heading, align in headings %}\
<th scope="col" class="{{ align }}">{{ heading }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for cell, align in row %}<td class="{{ align }}">{{ cell }}</td>\
{% endfor %}</tr>
{% else %}<tr><td colspan="{{ headings | length or 1 }}">No data.</td></tr>
{% endfor %}</tbody>
</table>
{% if notes %}<ul class="notes">
{% for note in notes %}<li>{{ note }}</li>
{% endfor %}</ul>
{% endif %}</main>
</body>
</html>
"""
)


def _lang(meta: Mapping[str, object]) -> str:
    """The page language from meta "locale" ("fr_FR" -> "fr-FR"), "en" when absent or odd."""
    locale = str(meta.get("locale") or DEFAULT_LANG).replace("_", "-")
    return locale if _LANG.fullmatch(locale) else DEFAULT_LANG


def _inline_svg(svg: str) -> Markup:
    """The <svg> element alone: no XML prolog nor DTD reference, and never a script."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("chart_svg is not an SVG document (no <svg> element)")
    element = svg[start:].strip()
    # The SVG goes into the page unescaped, so it must be the chart renderer's own output.
    if re.search(r"<\s*(script|foreignObject)\b", element, re.IGNORECASE):
        raise ValueError("chart_svg must not contain scripts nor foreign objects")
    return Markup(element)  # noqa: S704 - checked above; chart text is escaped by matplotlib


def _meta_text(value: object) -> str:
    raw = _json_value(value)
    if isinstance(raw, list | dict):
        return json.dumps(raw, ensure_ascii=False)
    return "" if raw is None else str(raw)


def render_html(report: Report, chart_svg: str | None) -> str:
    """A self-contained HTML page: title, meta, the chart inline, the formatted table, notes."""
    aligns = ["text" if column.kind == "text" else "number" for column in report.columns]
    return _PAGE.render(
        lang=_lang(report.meta),
        title=report.title,
        meta=[(key, _meta_text(value)) for key, value in report.meta.items() if key != "locale"],
        chart=None if chart_svg is None else _inline_svg(chart_svg),
        headings=list(zip(table_headers(report), aligns, strict=True)),
        rows=[list(zip(cells, aligns, strict=True)) for cells in table_rows(report)],
        notes=list(report.notes),
    )
