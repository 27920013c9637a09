"""Report charts as PNG bytes or SVG text, drawn with matplotlib's Agg backend; deterministic.

No pyplot: a `Figure` with its own Agg canvas keeps no global figure state. The few settings
matplotlib only reads from its global rcParams (SVG ids, SVG text as text, the font) are set for
the drawing alone, under a lock, so two threads never see each other's settings. The font is
matplotlib's bundled DejaVu Sans; the same report gives the same bytes on every run.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import matplotlib
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter, StrMethodFormatter

from leadsift.analytics.rendering import (
    ChartSpec,
    Report,
    defined_number,
    format_value,
)

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FIGURE_INCHES: Final[tuple[float, float]] = (8.0, 4.5)
DPI: Final[int] = 100
BAR_COLOUR: Final[str] = "#3b6ea5"
TEXT_COLOUR: Final[str] = "#222222"
# Many bars get slanted labels so neighbours do not overlap.
_SLANT_FROM: Final[int] = 7
# Room right of the longest funnel bar for its label, as a share of that bar.
_FUNNEL_LABEL_ROOM: Final[float] = 0.9

_SETTINGS: Final[dict[RcKeyType, object]] = {
    "font.family": ["DejaVu Sans"],
    "text.parse_math": False,  # "$5 and $10" is money, not mathematics
    "font.size": 10,
    "svg.fonttype": "none",  # text stays text: searchable, and labels readable in the SVG
    "svg.hashsalt": "leadsift-report-chart",  # fixed ids instead of random ones
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PNG_METADATA: Final[dict[str, str | None]] = {"Software": None}
# No date, no creator (version), no Dublin Core URLs: same bytes, nothing external.
_SVG_METADATA: Final[dict[str, str | None]] = {
    "Date": None,
    "Creator": None,
    "Format": None,
    "Type": None,
}
_RC_LOCK = threading.Lock()


def chart_png(report: Report) -> bytes:
    """The report's chart as a PNG of 800×450 pixels."""
    return _render(report, "png", _PNG_METADATA)


def chart_svg(report: Report) -> str:
    """The report's chart as one <svg> element (no XML prolog, no DTD), its text as text."""
    svg = _render(report, "svg", _SVG_METADATA).decode("utf-8")
    return svg[svg.index("<svg") :]


def chart_spec(report: Report) -> ChartSpec:
    """The report's chart spec; ValueError when it has none or no rows to chart."""
    if report.chart is None:
        raise ValueError(f"report {report.title!r} has no chart spec: nothing to chart")
    if not report.rows:
        raise ValueError(f"no data to chart: report {report.title!r} has no rows")
    return report.chart


def _render(report: Report, file_format: str, metadata: dict[str, str | None]) -> bytes:
    spec = chart_spec(report)
    buffer = io.BytesIO()
    with (
        _RC_LOCK,
        matplotlib.style.context("default"),
        matplotlib.rc_context(_SETTINGS),
    ):
        figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.set_title(report.title, color=TEXT_COLOUR, loc="left")
        if spec.kind == "funnel":
            _draw_funnel(axes, report, spec)
        else:
            _draw_bars(axes, report, spec)
        figure.savefig(buffer, format=file_format, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _labels(report: Report, key: str) -> list[str]:
    kind = report.column(key).kind
    return [format_value(row.get(key), kind, report.currency) or "n/a" for row in report.rows]


def _values(report: Report, key: str) -> list[float]:
    # An undefined value draws no bar; its label says "n/a".
    return [defined_number(row.get(key)) or 0.0 for row in report.rows]


def _draw_funnel(axes: Axes, report: Report, spec: ChartSpec) -> None:
    """One horizontal bar per stage, top to bottom, labelled "stage count · step rate"."""
    stages = [str(row.get(spec.label_key) or "") for row in report.rows]
    counts = _labels(report, spec.value_key)
    rate_key = spec.rate_key
    rates = _labels(report, rate_key) if rate_key is not None else None
    widths = _values(report, spec.value_key)
    positions = list(range(len(widths)))
    axes.barh(positions, widths, height=0.7, color=BAR_COLOUR)
    longest = max(*widths, 0.0) or 1.0
    axes.set_xlim(min(*widths, 0.0), longest * (1 + _FUNNEL_LABEL_ROOM))
    axes.set_ylim(len(widths) - 0.5, -0.5)  # the first stage on top
    axes.set_axis_off()
    for index, (stage, count) in enumerate(zip(stages, counts, strict=True)):
        label = f"{stage} {count}"
        # The first stage has no step rate (nothing before it): its label says none, not "n/a".
        if rate_key and rates and defined_number(report.rows[index].get(rate_key)) is not None:
            label = f"{label} · {rates[index]}"
        axes.text(
            max(widths[index], 0.0) + longest * 0.02,
            index,
            label,
            va="center",
            ha="left",
            color=TEXT_COLOUR,
        )


def _draw_bars(axes: Axes, report: Report, spec: ChartSpec) -> None:
    """One vertical bar per row, its value written above it (below when negative)."""
    names = [str(row.get(spec.label_key) or "") for row in report.rows]
    heights = _values(report, spec.value_key)
    positions = list(range(len(heights)))
    axes.bar(positions, heights, width=0.7, color=BAR_COLOUR)
    axes.axhline(0.0, color=TEXT_COLOUR, linewidth=0.8)
    _name_bars(axes, positions, names)
    value_column = report.column(spec.value_key)
    axes.set_ylabel(value_column.label)
    axes.yaxis.set_major_formatter(
        PercentFormatter(xmax=1.0) if value_column.kind == "rate" else StrMethodFormatter("{x:,g}")
    )
    axes.margins(y=0.15)
    crowded = len(heights) >= _SLANT_FROM
    for position, height, label in zip(
        positions, heights, _labels(report, spec.value_key), strict=True
    ):
        axes.text(
            position,
            height,
            label,
            ha="center",
            va="bottom" if height >= 0 else "top",
            fontsize=8 if crowded else 10,
            color=TEXT_COLOUR,
        )


def _name_bars(axes: Axes, positions: Sequence[int], names: Sequence[str]) -> None:
    slanted = len(names) >= _SLANT_FROM
    axes.set_xticks(
        list(positions),
        labels=list(names),
        rotation=30 if slanted else 0,
        ha="right" if slanted else "center",
    )
