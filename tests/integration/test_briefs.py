"""Briefs before customer meetings, end to end: the rep's calendar read from the local Graph
(the real msgraph-sdk), the brief card posted through the local Bot Framework (the real Agents
SDK), once per meeting however often and however many at once look; and ``brief <customer>``
in the chat. On SQLite and PostgreSQL, no models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from procrastinate import exceptions
from pydantic import SecretStr
from sqlalchemy import select, update

from cards import MAX_BYTES, card_size
from cards.wording import local_time
from crm_adapters.embedded import EmbeddedCRM
from smartnotes.briefs.lookahead import LookAhead
from smartnotes.jobs.engine import BRIEF_LOOKAHEAD, GRAPH, GRAPH_LOCK
from smartnotes.settings import Settings
from smartnotes.storage.models import MeetingBrief, Run, RunTask, TaskStatus, User
from tests.api_client import Api, running_api
from tests.fakes.bot_framework import FakeBotFramework, TeamsUser
from tests.fakes.graph import FakeGraph
from tests.integration.test_bot import CARD, bot_settings
from tests.integration.test_graph_meetings import free_port, graph_settings
from tests.seed import seed_run, seed_user
from tests.unit.test_cards import schema_errors
from tests.waits import until

TENANT = "northwind"
ZONE = "Europe/Berlin"
MARIA = "maria.chen@northwind.test"
OLGA = "olga@northwind.test"
DANIEL = ("daniel@contoso.example", "Daniel Ortiz")
ELENA = ("elena@contoso.example", "Elena Park")


@dataclass
class Setup:
    bf: FakeBotFramework
    graph: FakeGraph
    api: Api
    maria: TeamsUser
    runs: dict[str, str]

    @property
    def look_ahead(self) -> LookAhead:
        briefs = self.api.service.briefs
        assert briefs is not None, "briefs are on with the bot and Graph"
        return briefs

    def briefs(self) -> list[dict[str, Any]]:
        """The brief cards in Maria's chat (the welcome card is there too)."""
        return [
            a["attachments"][0]["content"]
            for a in self.bf.messages(self.maria.conversation_id)
            if a.get("attachments")
            and a["attachments"][0]["contentType"] == CARD
            and "Before your meeting" in json.dumps(a)
        ]

    async def ledger(self) -> dict[str, MeetingBrief]:
        async with self.api.service.sessions() as session:
            rows = (await session.execute(select(MeetingBrief))).scalars()
            return {row.event_id: row for row in rows}

    async def say(self, text: str) -> dict[str, Any]:
        before = len(self.bf.messages(self.maria.conversation_id))
        status, _ = await self.bf.deliver(
            self.api.url("/api/messages"), self.bf.message(self.maria, text)
        )
        assert status in (200, 201, 202)
        messages = self.bf.messages(self.maria.conversation_id)
        assert len(messages) == before + 1, f"no answer to {text!r}"
        return messages[-1]


def settings_for(
    tmp_path: Path, bf: FakeBotFramework, graph: FakeGraph, database: SecretStr | None, port: int
) -> Settings:
    return bot_settings(
        tmp_path,
        bf,
        database_url=database,
        graph=graph_settings(graph, notification_url=f"http://127.0.0.1:{port}"),
    )


def today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


def task(title: str, owner: str, due: date | None) -> dict[str, Any]:
    return {
        "title": title,
        "owner": owner,
        "due_date": due.isoformat() if due else None,
        "priority": "medium",
        "evidence": [],
        "origin": "claude",
    }


async def seed(api: Api, bf: FakeBotFramework) -> tuple[TeamsUser, dict[str, str]]:
    """Maria (Northwind) installed the bot; Contoso is in the CRM. Her two calls with Contoso,
    one of Olga's she attended, and a confidential one of Olga's she attended too."""
    sessions = api.service.sessions
    maria = bf.add_user("Maria Chen", email=MARIA, tenant_id=bf.tenant_id, timezone=ZONE)
    maria_id = await seed_user(sessions, TENANT, MARIA, "Maria Chen")
    olga_id = await seed_user(sessions, TENANT, OLGA, "Olga Petrova")
    status, _ = await bf.deliver(api.url("/api/messages"), bf.installation_add(maria))
    assert status in (200, 201, 202)
    crm = api.service.crm
    assert isinstance(crm, EmbeddedCRM)
    contoso = await crm.add_customer("Contoso", [DANIEL[0]])
    await crm.add_customer("Cobalt Labs", ["ops@cobalt.example"])
    customer = (contoso.id, contoso.name)
    day = today()
    runs = {
        "first": await seed_run(
            sessions,
            TENANT,
            maria_id,
            call_id="first",
            customer=customer,
            tasks=[
                task("Send the security questionnaire", "Maria Chen", day - timedelta(days=2)),
                task("Untouched suggestion", "Maria Chen", day + timedelta(days=1)),
            ],
        ),
        "olgas": await seed_run(
            sessions,
            TENANT,
            olga_id,
            call_id="olgas",
            attendees=(MARIA,),
            customer=customer,
            tasks=[
                task("Send the budget approval", "Elena Park", day + timedelta(days=3)),
                task("Rejected idea", "Olga Petrova", day + timedelta(days=2)),
            ],
        ),
        "latest": await seed_run(
            sessions,
            TENANT,
            maria_id,
            call_id="latest",
            customer=customer,
            tasks=[
                task("Send revised quote with annual pricing", "Maria Chen", day + timedelta(30)),
                task("Book a follow-up demo", "Maria Chen", None),
            ],
        ),
        "secret": await seed_run(
            sessions,
            TENANT,
            olga_id,
            call_id="secret",
            attendees=(MARIA,),
            confidential=True,
            customer=customer,
            tasks=[task("Offer the secret discount", "Olga Petrova", day + timedelta(days=1))],
        ),
    }
    people = {
        "first": [("Maria Chen", MARIA), DANIEL[::-1]],
        "olgas": [("Olga Petrova", OLGA), ("Maria Chen", MARIA), DANIEL[::-1], ELENA[::-1]],
        "latest": [("Maria Chen", MARIA), DANIEL[::-1]],
        "secret": [("Olga Petrova", OLGA), ("Maria Chen", MARIA), DANIEL[::-1], ELENA[::-1]],
    }
    notes = {
        "first": "Contoso asked for a first demo. Maria showed the reports.",
        "olgas": "Olga walked Contoso through pricing! Elena needs budget approval.",
        "latest": "Daniel wants annual pricing; Maria sends a revised quote. Demo next.",
        "secret": "SECRET pricing floor for Contoso. Nobody else may know.",
    }
    started = {"first": 3, "olgas": 10, "latest": 17, "secret": 20}
    async with sessions() as session, session.begin():
        for key, run_id in runs.items():
            await session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    call_started_at=datetime(2026, 11, started[key], 15, tzinfo=UTC),
                    participants=[{"name": n, "email": e} for n, e in people[key]],
                    summary_generated=notes[key],
                )
            )
        decided = {
            "Send the security questionnaire": TaskStatus.ACCEPTED,
            "Send the budget approval": TaskStatus.ACCEPTED,
            "Rejected idea": TaskStatus.REJECTED,
            "Send revised quote with annual pricing": TaskStatus.WRITTEN,
            "Offer the secret discount": TaskStatus.ACCEPTED,
        }
        for row in (await session.execute(select(RunTask))).scalars():
            title = row.generated["title"]
            if title in decided:
                row.status = decided[title]
            elif title == "Book a follow-up demo":
                row.edited = {"priority": "high"}  # edited: kept
    return maria, runs


@pytest_asyncio.fixture
async def setup(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Setup]:
    port = free_port()
    async with FakeBotFramework() as bf, FakeGraph() as graph:
        settings = settings_for(tmp_path, bf, graph, service_database, port)
        async with running_api(settings, process=False, port=port) as api:
            maria, runs = await seed(api, bf)
            yield Setup(bf, graph, api, maria, runs)


async def test_a_customer_meeting_gets_one_brief_card_before_it_starts(setup: Setup) -> None:
    graph, maria = setup.graph, setup.maria
    now = datetime.now(UTC).replace(microsecond=0)
    me = (MARIA, "Maria Chen")
    calendar = graph.calendar
    renewal = calendar.add_event(
        maria.aad_object_id,
        now + timedelta(minutes=10),
        subject="Contoso renewal",
        organizer=me,
        attendees=[DANIEL, (OLGA, "Olga Petrova"), ("priya@contoso.example", "Priya Raman")],
    )
    # Elena is not in the CRM: Contoso's from the calls she was on.
    budget = calendar.add_event(
        maria.aad_object_id, now + timedelta(minutes=12), subject="Budget", attendees=[ELENA]
    )
    nobody_known = calendar.add_event(
        maria.aad_object_id,
        now + timedelta(minutes=10),
        subject="Fabrikam intro",
        attendees=[("sam@fabrikam.example", "Sam")],
    )
    later = calendar.add_event(
        maria.aad_object_id, now + timedelta(hours=3), subject="Later", attendees=[DANIEL]
    )
    cancelled = calendar.add_event(
        maria.aad_object_id, now + timedelta(minutes=10), attendees=[DANIEL], cancelled=True
    )
    # Olga was on Contoso calls, but she is a colleague: an internal meeting is no one's.
    internal = calendar.add_event(
        maria.aad_object_id, now + timedelta(minutes=10), attendees=[(OLGA, "Olga Petrova")]
    )

    # The record of a meeting that began days ago guards nothing any more: it goes.
    async with setup.api.service.sessions() as session, session.begin():
        maria_id = (await session.execute(select(User.id).where(User.email == MARIA))).scalar_one()
        session.add(
            MeetingBrief(
                tenant_id=TENANT,
                user_id=maria_id,
                event_id="long-past",
                starts_at=now - timedelta(days=2),
                customer_id="contoso",
                status="sent",
            )
        )
    # The first send fails (Teams throttles): recorded, and tried again by the next pass.
    setup.bf.throttle(1)
    assert await setup.look_ahead.run() == 1
    ledger = await setup.ledger()
    assert (ledger[renewal.ical_uid].status, ledger[budget.ical_uid].status) == ("failed", "sent")
    # Two passes at once, as two workers would run them, then one more.
    assert sorted(await asyncio.gather(setup.look_ahead.run(), setup.look_ahead.run())) == [0, 1]
    assert await setup.look_ahead.run() == 0

    cards = setup.briefs()
    assert len(cards) == 2, "one card for each customer meeting, however often looked at"
    ledger = await setup.ledger()
    assert set(ledger) == {renewal.ical_uid, budget.ical_uid}
    for skipped in (nobody_known, later, cancelled, internal):
        assert skipped.ical_uid not in ledger
    assert [
        (r.status, r.attempts) for r in (ledger[renewal.ical_uid], ledger[budget.ical_uid])
    ] == [
        ("sent", 2),
        ("sent", 1),
    ]
    # Calendars were read through Graph as documented: the window, the fields, every page.
    [request, *_] = graph.calls("GET", contains=f"/users/{maria.aad_object_id}/calendarView")
    assert "attendees" in request.query["$select"].split(",")
    assert request.query["startDateTime"].endswith("Z")

    renewal_card = next(c for c in cards if "Contoso renewal" in shown_text(c))
    for card in cards:
        assert schema_errors(card) == []
        assert card_size(card) < MAX_BYTES
    shown = shown_text(renewal_card)
    lines = shown.splitlines()
    assert lines[0] == "Before your meeting with Contoso"
    assert local_time(renewal.start.isoformat(), ZONE) in lines
    # The last conversations, newest first, each with its review page; never the secret one.
    sentences = [
        "Daniel wants annual pricing; Maria sends a revised quote.",
        "Olga walked Contoso through pricing!",
        "Contoso asked for a first demo.",
    ]
    positions = [lines.index(sentence) for sentence in sentences]
    assert positions == sorted(positions)
    for call in ("Tue 17 Nov 2026", "Tue 10 Nov 2026", "Tue 03 Nov 2026"):
        assert call in lines
    links = [a["url"] for a in _of_type(renewal_card, "Action.OpenUrl")]
    assert [link.split("/review/")[1].split("?")[0] for link in links] == [
        setup.runs["latest"],
        setup.runs["olgas"],
        setup.runs["first"],
    ]
    assert all("?token=" in link for link in links)
    # Promises due first, then the other open tasks, each with its due date and its call.
    day = today()
    order = [
        shown.index(t)
        for t in (
            "Promises due",
            "Send the security questionnaire",
            "Send the budget approval",
            "Open tasks",
            "Send revised quote with annual pricing",
            "Book a follow-up demo",
        )
    ]
    assert order == sorted(order)
    overdue = day - timedelta(days=2)
    assert f"Overdue (due {overdue:%a %d %b %Y})" in shown
    assert f"Due {day + timedelta(days=3):%a %d %b %Y}" in shown
    assert f"Due {day + timedelta(days=30):%a %d %b %Y}" in shown
    assert "No due date" in shown
    assert "Their side (Elena Park) · from the call on Tue 10 Nov 2026" in shown
    assert "Your side (Maria Chen) · from the call on Tue 03 Nov 2026" in shown
    # Suggestions nobody kept, rejected tasks and the confidential run of Olga's: not here.
    for hidden in ("Untouched suggestion", "Rejected idea", "secret discount", "SECRET"):
        assert hidden not in json.dumps(cards)
    # The people coming, and which of them were on the calls before.
    assert "Daniel Ortiz · on 3 earlier calls, last Tue 17 Nov 2026" in lines
    assert "Olga Petrova · on 1 earlier call, last Tue 10 Nov 2026" in lines
    assert "Priya Raman · not on an earlier call" in lines

    budget_card = next(c for c in cards if "Budget" in shown_text(c))
    assert shown_text(budget_card).splitlines()[0] == "Before your meeting with Contoso"
    assert "Elena Park · on 1 earlier call, last Tue 10 Nov 2026" in shown_text(budget_card)


async def test_brief_in_the_chat_answers_with_the_card_or_says_nothing_is_known(
    setup: Setup,
) -> None:
    card = (await setup.say("brief contoso"))["attachments"][0]["content"]
    shown = shown_text(card)
    assert shown.splitlines()[0] == "Brief: Contoso"
    assert schema_errors(card) == []
    assert "Daniel wants annual pricing; Maria sends a revised quote." in shown
    assert "Send the budget approval" in shown
    assert "Daniel Ortiz · on 3 earlier calls, last Tue 17 Nov 2026" in shown
    assert "secret" not in json.dumps(card).lower()
    assert (await setup.say("Brief CONTOSO"))["attachments"][0]["content"] == card

    nobody = (await setup.say("brief nobody"))["text"]
    assert nobody.startswith("Nothing is known yet about \u201cnobody\u201d")
    several = (await setup.say("brief co"))["text"]
    assert "Cobalt Labs, Contoso" in several
    cobalt = (await setup.say("brief cobalt"))["text"]
    assert cobalt.startswith("Nothing is known yet about Cobalt Labs")
    assert "which customer" in (await setup.say("brief"))["text"]


async def test_the_look_ahead_job_sends_the_brief_once(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    port = free_port()
    async with FakeBotFramework() as bf, FakeGraph() as graph:
        settings = settings_for(tmp_path, bf, graph, service_database, port)
        async with running_api(settings, process=False, port=port, queues=(GRAPH,)) as api:
            maria, _ = await seed(api, bf)
            graph.calendar.add_event(
                maria.aad_object_id,
                datetime.now(UTC) + timedelta(minutes=5),
                subject="Contoso check-in",
                attendees=[DANIEL],
            )
            jobs = api.service.jobs
            for rounds in (1, 2):
                task = jobs.app.configure_task(
                    BRIEF_LOOKAHEAD, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=BRIEF_LOOKAHEAD
                )
                with contextlib.suppress(exceptions.AlreadyEnqueued):
                    await task.defer_async()

                async def finished(count: int = rounds) -> bool:
                    done = await jobs.app.job_manager.list_jobs_async(
                        task=BRIEF_LOOKAHEAD, status="succeeded"
                    )
                    return len(list(done)) >= count

                await until(finished)
            briefs = [
                a
                for a in bf.messages(maria.conversation_id)
                if a.get("attachments") and "Contoso check-in" in json.dumps(a)
            ]
            assert len(briefs) == 1


def shown_text(card: dict[str, Any]) -> str:
    """What the rep reads, in order: a line per TextBlock and per RichTextBlock (its runs
    joined)."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                lines.append(node["text"])
            elif node.get("type") == "RichTextBlock":
                runs = node["inlines"]
                lines.append("".join(i if isinstance(i, str) else i["text"] for i in runs))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(lines)


def _of_type(node: Any, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == kind:
            found.append(node)
        for value in node.values():
            found.extend(_of_type(value, kind))
    elif isinstance(node, list):
        for value in node:
            found.extend(_of_type(value, kind))
    return found
