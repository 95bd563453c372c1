"""``smartnotes admin metrics``: the success metrics a tenant's admin reads, in a terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.cli.admin import ERR, _with_db
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.insights.history import UnknownTenantError
from smartnotes.insights.metrics import ALL, Definition, MetricsError, Period, compute
from smartnotes.storage.database import sessions

OUT = Console(highlight=False)


def metrics_command(
    tenant: Annotated[str, typer.Argument(help="Tenant id (the Entra ID tenant).")],
    period: Annotated[str, typer.Option(help="'week' or 'month'.")] = "week",
    periods: Annotated[
        int, typer.Option(help="How many periods back, the current one included.")
    ] = 8,
    cohort: Annotated[str | None, typer.Option(help="Only this persona cohort.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Adoption, activity, task outcomes, edits and feedback, per cohort and period (the same
    numbers as the /admin console)."""
    if period not in ("week", "month"):
        raise fail(ERR, f"--period must be 'week' or 'month', not {period!r}", Exit.BAD_INPUT)
    chosen: Period = "week" if period == "week" else "month"
    definition = Definition.from_settings(load_settings(ERR).success)

    async def work(engine: AsyncEngine) -> dict[str, Any] | str:
        async with sessions(engine)() as session:
            try:
                return await compute(
                    session,
                    tenant,
                    period=chosen,
                    periods=periods,
                    cohort=cohort,
                    definition=definition,
                )
            except (MetricsError, UnknownTenantError) as exc:
                return str(exc)

    found = _with_db(work)
    if isinstance(found, str):
        raise fail(ERR, found.strip("'\""), Exit.BAD_INPUT)
    if as_json:
        OUT.print_json(json.dumps(found))
        return
    show(found)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def show(found: dict[str, Any]) -> None:
    star = found["north_star"]
    rules = found["definition"]
    OUT.print(
        f"[bold]{escape(found['tenant'])}[/]: {star['active_users']} active of "
        f"{star['seats']} seats over the last {rules['window_days']} days; adoption "
        f"{_rate(star['adoption_rate'])} (target {_rate(star['target'])})"
    )
    for name, numbers in star["by_cohort"].items():
        OUT.print(
            f"  {escape(name)}: {numbers['active_users']} of {numbers['seats']}, "
            f"{_rate(numbers['adoption_rate'])}"
        )
    if found["eval"] is not None:
        score = found["eval"]
        OUT.print(f"Quality score (eval, {score['calls']} labelled calls): {score['score']:.2f}")
    table = Table(
        "from",
        "cohort",
        "seats",
        "active",
        "adoption",
        "calls",
        "notes edited",
        "edit dist.",
        "tasks",
        "accepted",
        "rejected",
        "edited",
        "likes",
        "dislikes",
        title=f"per {found['period']}",
    )
    for row in found["periods"]:
        for name, m in row["cohorts"].items():
            if name != ALL and found["cohort"] is None and len(row["cohorts"]) == 2:
                continue  # one cohort only: its line repeats "all"
            likes = sum(v["like"] for k, v in m["feedback"].items() if k in ("summary", "tasks"))
            dislikes = sum(
                v["dislike"] for k, v in m["feedback"].items() if k in ("summary", "tasks")
            )
            distance = m["edit_distance"]
            table.add_row(
                row["start"],
                escape(name),
                str(m["seats"]),
                str(m["active_users"]),
                _rate(m["adoption_rate"]),
                str(m["calls"]),
                f"{m['notes_edited']}/{m['notes_ready']}",
                "-" if distance is None else f"{distance:.2f}",
                str(m["tasks_generated"]),
                str(m["tasks_accepted"]),
                str(m["tasks_rejected"]),
                str(m["tasks_edited"]),
                str(likes),
                str(dislikes),
            )
    OUT.print(table)
    users = Table("e-mail", "cohort", "calls", "call days", "review days", "active", title="reps")
    for user in found["users"]:
        users.add_row(
            escape(user["email"]),
            escape(user["cohort"] or ""),
            str(user["calls"]),
            str(user["days_with_calls"]),
            str(user["review_days"]),
            "yes" if user["active"] else "no",
        )
    OUT.print(users)
