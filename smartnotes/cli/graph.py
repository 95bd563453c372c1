"""``smartnotes graph``: Teams meetings through Microsoft Graph (subscriptions, catch-up, what
was fetched, retrying what failed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graph.types import GraphError
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.runs.intake import CallEvent, Submitted
from smartnotes.settings import Settings
from smartnotes.storage.database import sessions as make_sessions
from smartnotes.storage.models import (
    GraphInbox,
    GraphSubscription,
    MeetingEnd,
    MeetingMedia,
    User,
)
from smartnotes.storage.open import SchemaError, open_database

T = TypeVar("T")

graph_app = typer.Typer(
    help="Teams meeting transcripts through Microsoft Graph.", no_args_is_help=True
)
OUT = Console(highlight=False)
ERR = Console(stderr=True, highlight=False)
_GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    from smartnotes.meetings.runtime import GraphSetupError

    settings = load_settings(ERR)
    if not settings.graph.enabled:
        raise fail(ERR, "Graph is not configured: set SMARTNOTES_GRAPH__CLIENT_ID", Exit.BAD_SETUP)
    try:
        return asyncio.run(work(settings))
    except GraphSetupError as exc:
        raise fail(ERR, f"configuration: {exc}", Exit.BAD_SETUP) from None
    except GraphError as exc:
        raise fail(ERR, str(exc), Exit.INCOMPLETE) from None
    except SchemaError as exc:
        raise fail(ERR, str(exc), Exit.BAD_SETUP) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(ERR, f"database: {str(exc).splitlines()[0]}", Exit.BAD_SETUP) from None


@graph_app.command("subscribe")
def subscribe(
    user: Annotated[
        str | None,
        typer.Option(
            help="Only this user's meetings (Entra object id, or the e-mail of a user with a "
            "seat); default: the whole tenant."
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Create a new subscription even if one is active.")
    ] = False,
) -> None:
    """Subscribe to new meeting transcripts; the service renews the subscription from then on.

    Graph checks the notification URL while the subscription is created, so the service
    must be running and reachable at SMARTNOTES_GRAPH__NOTIFICATION_URL."""
    from smartnotes.meetings.runtime import GraphSetupError, open_graph
    from smartnotes.meetings.sync import TENANT_WIDE, user_resource

    async def work(settings: Settings) -> GraphSubscription:
        async with open_database(settings.database()) as engine:
            sessions = make_sessions(engine)
            resource = TENANT_WIDE
            if user is not None:
                resource = user_resource(await _object_id(sessions, settings, user))
            async with open_graph(settings, sessions, _no_submit) as graph:
                if graph is None:  # enabled was checked above
                    raise GraphSetupError("Graph is not configured")
                return await graph.subscriptions.subscribe(resource, replace=replace)

    try:
        row = _run(work)
    except LookupError as exc:
        raise fail(ERR, str(exc), Exit.BAD_INPUT) from None
    OUT.print(
        f"Subscription {escape(row.id)} for {escape(row.resource)}, "
        f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC (renewed by the service)."
    )


@graph_app.command("subscriptions")
def subscriptions() -> None:
    """The subscriptions this service keeps, and when each expires."""

    async def work(settings: Settings) -> list[GraphSubscription]:
        async with open_database(settings.database()) as engine, make_sessions(engine)() as s:
            rows = await s.execute(select(GraphSubscription).order_by(GraphSubscription.created_at))
            return list(rows.scalars())

    rows = _run(work)
    table = Table("id", "resource", "status", "expires (UTC)", "last error")
    for row in rows:
        table.add_row(
            row.id,
            row.resource,
            row.status,
            f"{row.expires_at:%Y-%m-%d %H:%M}",
            row.last_error or "",
        )
    OUT.print(table if rows else "No subscriptions yet: run `smartnotes graph subscribe`.")


@graph_app.command("status")
def status() -> None:
    """Transcripts and recordings found, by status, with the reasons of those that failed."""

    async def work(settings: Settings) -> tuple[list[tuple[str, str, int]], list[MeetingMedia]]:
        async with open_database(settings.database()) as engine, make_sessions(engine)() as s:
            counts = await s.execute(
                select(MeetingMedia.kind, MeetingMedia.status, func.count())
                .group_by(MeetingMedia.kind, MeetingMedia.status)
                .order_by(MeetingMedia.kind, MeetingMedia.status)
            )
            failed = await s.execute(
                select(MeetingMedia)
                .where(MeetingMedia.status == "failed")
                .order_by(MeetingMedia.id.desc())
                .limit(20)
            )
            return [(k, st, int(n)) for k, st, n in counts], list(failed.scalars())

    counts, failed = _run(work)
    table = Table("kind", "status", "count")
    for kind, state, count in counts:
        table.add_row(kind, state, str(count))
    OUT.print(table if counts else "Nothing fetched yet.")
    for row in failed:
        OUT.print(f"failed {row.kind} {escape(row.item_id)}: {escape(row.error or '')}")


@graph_app.command("retry")
def retry() -> None:
    """Try every failed download again (after fixing permissions, billing or the policy)."""

    async def work(settings: Settings) -> int:
        async with open_database(settings.database()) as engine, make_sessions(engine)() as s:
            result = await s.execute(
                update(MeetingMedia)
                .where(MeetingMedia.status == "failed")
                .values(status="pending", attempts=0, next_attempt_at=None)
            )
            await s.execute(
                update(MeetingEnd)
                .where(MeetingEnd.status == "failed")
                .values(status="pending", polls=0, next_poll_at=None)
            )
            await s.execute(  # notifications parked after their last attempt
                update(GraphInbox)
                .where(GraphInbox.status == "failed")
                .values(status="pending", attempts=0, next_attempt_at=None)
            )
            await s.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    count = _run(work)
    OUT.print(f"{count} download(s) queued again; the running service picks them up.")


@graph_app.command("catch-up")
def catch_up() -> None:
    """Look for transcripts of licensed organizers that no notification announced, and
    record them for the service to fetch."""

    async def work(settings: Settings) -> int:
        from smartnotes.meetings.runtime import GraphSetupError, open_graph

        async with (
            open_database(settings.database()) as engine,
            open_graph(settings, make_sessions(engine), _no_submit) as graph,
        ):
            if graph is None:
                raise GraphSetupError("Graph is not configured")
            return await graph.catchup.run()

    organizers = _run(work)
    OUT.print(f"Caught up on {organizers} licensed organizer(s); the service fetches what was new.")


async def _object_id(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, user: str
) -> str:
    if _GUID.match(user):
        return user.lower()
    async with sessions() as session:
        found = (
            await session.execute(
                select(User.aad_object_id).where(
                    User.tenant_id == settings.graph.tenant, User.email == user.strip().lower()
                )
            )
        ).scalar_one_or_none()
    if not found:
        raise LookupError(
            f"{user}: no user with that e-mail and a known Entra object id in tenant "
            f"{settings.graph.tenant}; pass the object id"
        )
    return found


async def _no_submit(event: CallEvent) -> Submitted:
    # The commands only record what they find; the running service makes the runs.
    raise RuntimeError("the command line does not submit runs")
