"""The admin console's charts: the metrics document in, SVG bytes (pygal) out.

Each chart is first its data (``chart_data``: labels and series, what the page also shows as
a table for screen readers), then drawn (``render``). The SVG carries its own styles and no
script: pygal's tooltips load code from a CDN and its config is an inline script, both
dropped, so the image works under a policy that allows inline styles and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from xml.etree.ElementTree import Element

import pygal
from pygal.style import Style

from smartnotes.insights.metrics import ALL, NO_COHORT

# Okabe and Ito's palette: told apart with every common colour-vision deficiency.
_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    colors=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    opacity="0.9",
    opacity_hover="1",
    guide_stroke_color="#d0d7de",
    major_guide_stroke_color="#afb8c1",
)


class ChartError(ValueError):
    """No chart of that name."""


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    dashed: bool = False


@dataclass(frozen=True)
class ChartData:
    name: str
    title: str
    kind: Literal["line", "bar"]
    labels: list[str]
    series: list[Series]
    percent: bool = False
    note: str = ""

    def text(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.0%}" if self.percent else f"{value:g}"

    def rows(self) -> list[tuple[str, list[str]]]:
        """The numbers as a table: one row per label, one column per series."""
        return [
            (label, [self.text(s.values[i]) for s in self.series])
            for i, label in enumerate(self.labels)
        ]

    def summary(self) -> str:
        """One sentence for the image's alt text: the latest value of each series."""
        if not self.labels:
            return f"{self.title}: no data yet."
        if self.kind == "bar":
            parts = (
                f"{label}: " + ", ".join(f"{s.name} {self.text(s.values[i])}" for s in self.series)
                for i, label in enumerate(self.labels)
            )
            return f"{self.title}. " + "; ".join(parts) + "."
        latest = "; ".join(f"{s.name} {self.text(s.values[-1])}" for s in self.series)
        return f"{self.title}. Latest ({self.labels[-1]}): {latest}."


def cohort_label(key: str) -> str:
    return {ALL: "All reps", NO_COHORT: "No cohort"}.get(key, key)


def period_label(start: str, period: str) -> str:
    day = date.fromisoformat(start)
    return f"{day:%b %Y}" if period == "month" else f"{day.day} {day:%b}"


def _keys(metrics: dict[str, Any]) -> list[str]:
    """The cohorts a trend chart draws: the chosen one, or every reps and each cohort."""
    present: set[str] = set()
    for row in metrics["periods"]:
        present.update(row["cohorts"])
    wanted = [metrics["cohort"]] if metrics.get("cohort") else [ALL, *metrics["cohorts"]]
    return [key for key in wanted if key in present]


def _focus(metrics: dict[str, Any]) -> str:
    return str(metrics.get("cohort") or ALL)


def _labels(metrics: dict[str, Any]) -> list[str]:
    return [period_label(row["start"], metrics["period"]) for row in metrics["periods"]]


def _per_period(metrics: dict[str, Any], key: str) -> list[dict[str, Any] | None]:
    return [row["cohorts"].get(key) for row in metrics["periods"]]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _active(metrics: dict[str, Any]) -> ChartData:
    series = [
        Series(
            cohort_label(key),
            [None if m is None else m["active_users"] for m in _per_period(metrics, key)],
        )
        for key in _keys(metrics)
    ]
    return ChartData(
        "active",
        f"Active users per {metrics['period']}",
        "line",
        _labels(metrics),
        series,
        note=f"Active over the {metrics['definition']['window_days']} days up to each "
        "period's end.",
    )


def _adoption(metrics: dict[str, Any]) -> ChartData:
    target = float(metrics["definition"]["adoption_target"])
    series = [
        Series(
            cohort_label(key),
            [None if m is None else m["adoption_rate"] for m in _per_period(metrics, key)],
        )
        for key in _keys(metrics)
    ]
    # Drawn without dots, so its value is in its name (the legend).
    series.append(Series(f"Target ({target:.0%})", [target] * len(metrics["periods"]), dashed=True))
    return ChartData(
        "adoption",
        "Adoption rate against the target",
        "line",
        _labels(metrics),
        series,
        percent=True,
        note="Active users over seats.",
    )


_FEEDBACK = (
    ("summary", "Summaries"),
    ("tasks", "Tasks"),
    ("coach", "Coach's suggestions"),
    ("claude", "Tasks by Claude"),
    ("local", "Tasks by the local model"),
)


def _feedback(metrics: dict[str, Any]) -> ChartData:
    rows = [m for m in _per_period(metrics, _focus(metrics)) if m is not None]

    def total(kind: str, rating: str) -> float:
        return float(sum(m["feedback"][kind][rating] for m in rows))

    return ChartData(
        "feedback",
        "Likes and dislikes",
        "bar",
        [label for _, label in _FEEDBACK],
        [
            Series("Likes", [total(kind, "like") for kind, _ in _FEEDBACK]),
            Series("Dislikes", [total(kind, "dislike") for kind, _ in _FEEDBACK]),
        ],
        note=f"Over the {len(metrics['periods'])} periods shown, "
        f"{cohort_label(_focus(metrics)).lower()}.",
    )


def _edits(metrics: dict[str, Any]) -> ChartData:
    rows = _per_period(metrics, _focus(metrics))

    def rate(part: str, whole: str) -> list[float | None]:
        return [None if m is None else _ratio(m[part], m[whole]) for m in rows]

    return ChartData(
        "edits",
        "Edit rates",
        "line",
        _labels(metrics),
        [
            Series("Notes edited", rate("notes_edited", "notes_ready")),
            Series("Tasks edited", rate("tasks_edited", "tasks_generated")),
            Series("Tasks accepted", rate("tasks_accepted", "tasks_generated")),
            Series("Tasks rejected", rate("tasks_rejected", "tasks_generated")),
        ],
        percent=True,
        note="Notes edited over notes ready; tasks over tasks generated.",
    )


def _seats(metrics: dict[str, Any]) -> ChartData:
    rows = _per_period(metrics, _focus(metrics))
    return ChartData(
        "seats",
        "Seats and active users",
        "line",
        _labels(metrics),
        [
            Series("Seats", [None if m is None else m["seats"] for m in rows]),
            Series("Active users", [None if m is None else m["active_users"] for m in rows]),
        ],
        note=f"At each period's end, {cohort_label(_focus(metrics)).lower()}.",
    )


BUILDERS: dict[str, Callable[[dict[str, Any]], ChartData]] = {
    "active": _active,
    "adoption": _adoption,
    "feedback": _feedback,
    "edits": _edits,
    "seats": _seats,
}
NAMES = tuple(BUILDERS)


def chart_data(name: str, metrics: dict[str, Any]) -> ChartData:
    try:
        build = BUILDERS[name]
    except KeyError:
        raise ChartError(f"no chart named {name!r} (charts: {', '.join(NAMES)})") from None
    return build(metrics)


def _drop_scripts(root: Element) -> Element:
    for parent in list(root.iter()):
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _ticks(values: list[float]) -> list[float]:
    """Whole-number ticks for counts (pygal would draw 0.2 steps for small ones)."""
    top = max(values)
    step = max(1, int(top // 8) + (1 if top % 8 else 0)) if top > 8 else 1
    return [float(n) for n in range(0, int(top) + step + 1, step)]


def render(data: ChartData) -> bytes:
    """The chart as a standalone SVG document."""
    options: dict[str, Any] = {
        "title": data.title,
        "style": _STYLE,
        "js": [],
        "width": 720,
        "height": 360,
        "explicit_size": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "x_label_rotation": 0,
        "truncate_legend": -1,
        "truncate_label": -1,
        "no_data_text": "No data yet",
        "stroke_style": {"width": 2.5},
        "dots_size": 4,
    }
    options["value_formatter"] = data.text
    values = [v for s in data.series for v in s.values if v is not None]
    # Without a value pygal draws "no data", and fails on fixed axis labels.
    if values and data.percent:
        options["range"] = (0, 1)
        options["y_labels"] = [0, 0.25, 0.5, 0.75, 1]
    elif values:
        options["y_labels"] = _ticks(values)
    chart = (pygal.Bar if data.kind == "bar" else pygal.Line)(**options)
    chart.x_labels = data.labels
    for series in data.series:
        extra: dict[str, Any] = {}
        if series.dashed:
            extra = {"stroke_style": {"dasharray": "6, 4", "width": 2}, "show_dots": False}
        chart.add(series.name, series.values, **extra)
    chart.add_xml_filter(_drop_scripts)
    svg = chart.render()
    return svg if isinstance(svg, bytes) else str(svg).encode()


def svg(name: str, metrics: dict[str, Any]) -> bytes:
    return render(chart_data(name, metrics))
