"""The console's charts: metrics in, SVG out. Each SVG is parsed: it carries every series
with its values, names them in its legend, and holds no script (pygal's own is dropped)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest

from smartnotes.insights import charts

SVG = "{http://www.w3.org/2000/svg}"


def _m(
    seats: int,
    active: int,
    *,
    ready: int = 0,
    edited: int = 0,
    tasks: tuple[int, int, int, int] = (0, 0, 0, 0),
    likes: tuple[int, int, int, int] = (0, 0, 0, 0),
    dislikes: tuple[int, int, int, int] = (0, 0, 0, 0),
    coach: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    kinds = ("summary", "tasks", "claude", "local")
    return {
        "seats": seats,
        "active_users": active,
        "adoption_rate": active / seats if seats else None,
        "calls": ready,
        "calls_opted_out": 0,
        "notes_ready": ready,
        "notes_edited": edited,
        "edit_distance": None,
        "tasks_generated": tasks[0],
        "tasks_accepted": tasks[1],
        "tasks_rejected": tasks[2],
        "tasks_edited": tasks[3],
        "feedback": {
            **{
                kind: {"like": like, "dislike": dislike}
                for kind, like, dislike in zip(kinds, likes, dislikes, strict=True)
            },
            "coach": {"like": coach[0], "dislike": coach[1]},
        },
    }


METRICS: dict[str, Any] = {
    "tenant": "northwind",
    "generated_at": "2026-11-25T12:00:00+00:00",
    "period": "week",
    "cohort": None,
    "definition": {"window_days": 30, "active_share": 0.5, "adoption_target": 0.6},
    "cohorts": ["deal-closer", "none"],
    "periods": [
        {
            "start": "2026-11-09",
            "end": "2026-11-16",
            "cohorts": {
                "all": _m(4, 1, ready=2, edited=1, tasks=(4, 2, 1, 1), likes=(1, 0, 0, 0)),
                "deal-closer": _m(2, 1, ready=2, edited=1, tasks=(4, 2, 1, 1)),
                "none": _m(2, 0),
            },
        },
        {
            "start": "2026-11-16",
            "end": "2026-11-23",
            "cohorts": {
                "all": _m(
                    5,
                    3,
                    ready=4,
                    tasks=(8, 6, 0, 2),
                    likes=(2, 3, 3, 0),
                    dislikes=(1, 1, 0, 1),
                    coach=(1, 0),
                ),
                "deal-closer": _m(3, 3, ready=4, tasks=(8, 6, 0, 2)),
                "none": _m(2, 0),
            },
        },
        {
            "start": "2026-11-23",
            "end": "2026-11-30",
            "cohorts": {"all": _m(0, 0), "deal-closer": _m(0, 0), "none": _m(0, 0)},
        },
    ],
}


def _parse(svg: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own output


def _series(root: ElementTree.Element) -> list[list[str]]:
    """Each series' values as the SVG states them, in order."""
    found = []
    for group in root.iter(f"{SVG}g"):
        classes = group.get("class", "").split()
        values = [d.text or "" for d in group.iter(f"{SVG}desc") if d.get("class") == "value"]
        if "series" in classes and values:
            found.append(values)
    return found


def _legend(root: ElementTree.Element) -> list[str]:
    return [
        "".join(text.itertext())
        for group in root.iter(f"{SVG}g")
        if "legend" in group.get("class", "").split()
        for text in group.iter(f"{SVG}text")
    ]


@pytest.mark.parametrize("name", charts.NAMES)
def test_every_chart_is_an_svg_without_script(name: str) -> None:
    svg = charts.svg(name, METRICS)
    root = _parse(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("720", "360")
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "script"]
    assert b"<script" not in svg
    assert b"kozea.github.io" not in svg, "no tooltip code from a CDN"
    data = charts.chart_data(name, METRICS)
    assert _legend(root) == [s.name for s in data.series]
    assert any(t.text == data.title for t in root.iter(f"{SVG}text"))


def test_the_adoption_chart_carries_each_cohort_and_the_target() -> None:
    data = charts.chart_data("adoption", METRICS)
    assert data.labels == ["9 Nov", "16 Nov", "23 Nov"]
    assert [(s.name, s.values, s.dashed) for s in data.series] == [
        ("All reps", [0.25, 0.6, None], False),
        ("deal-closer", [0.5, 1.0, None], False),
        ("No cohort", [0.0, 0.0, None], False),
        ("Target (60%)", [0.6, 0.6, 0.6], True),
    ]
    root = _parse(charts.render(data))
    assert _series(root) == [["25%", "60%"], ["50%", "100%"], ["0%", "0%"]]
    assert "Target (60%)" in _legend(root), "the target line, drawn without dots, says its value"
    assert data.rows()[2] == ("23 Nov", ["n/a", "n/a", "n/a", "60%"])


def test_active_users_and_seats_count_people() -> None:
    drawn = _series(_parse(charts.svg("active", METRICS)))
    assert drawn == [["1", "3", "0"], ["1", "3", "0"], ["0", "0", "0"]]
    seats = charts.chart_data("seats", METRICS)
    assert [(s.name, s.values) for s in seats.series] == [
        ("Seats", [4, 5, 0]),
        ("Active users", [1, 3, 0]),
    ]
    assert seats.summary() == "Seats and active users. Latest (23 Nov): Seats 0; Active users 0."


def test_feedback_adds_up_the_periods_by_kind() -> None:
    data = charts.chart_data("feedback", METRICS)
    assert data.kind == "bar"
    assert [(s.name, s.values) for s in data.series] == [
        ("Likes", [3, 3, 1, 3, 0]),
        ("Dislikes", [1, 1, 0, 0, 1]),
    ]
    assert _series(_parse(charts.render(data))) == [
        ["3", "3", "1", "3", "0"],
        ["1", "1", "0", "0", "1"],
    ]
    assert "Tasks by the local model: Likes 0, Dislikes 1" in data.summary()


def test_edit_rates_are_shares_and_none_without_a_denominator() -> None:
    data = charts.chart_data("edits", METRICS)
    assert [(s.name, s.values) for s in data.series] == [
        ("Notes edited", [0.5, 0.0, None]),
        ("Tasks edited", [0.25, 0.25, None]),
        ("Tasks accepted", [0.5, 0.75, None]),
        ("Tasks rejected", [0.25, 0.0, None]),
    ]


def test_a_chosen_cohort_draws_only_that_cohort() -> None:
    chosen = {
        **METRICS,
        "cohort": "deal-closer",
        "periods": [
            {**p, "cohorts": {k: v for k, v in p["cohorts"].items() if k != "none"}}
            for p in METRICS["periods"]
        ],
    }
    assert [s.name for s in charts.chart_data("active", chosen).series] == ["deal-closer"]
    seats = charts.chart_data("seats", chosen).series[0]
    assert seats.values == [2, 3, 0]


def test_months_are_labelled_by_month_and_unknown_charts_refused() -> None:
    monthly = {**METRICS, "period": "month"}
    assert charts.chart_data("active", monthly).labels == ["Nov 2026"] * 3
    with pytest.raises(charts.ChartError, match="no chart named 'pie'"):
        charts.chart_data("pie", METRICS)
    empty = {**METRICS, "periods": []}
    assert charts.chart_data("active", empty).summary() == "Active users per week: no data yet."
    assert b"<script" not in charts.svg("active", empty)
