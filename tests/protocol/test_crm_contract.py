"""One contract, every CRM adapter: embedded (SQLite and PostgreSQL) and rest (local CRM)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from crm_adapters.contract import (
    SECTION,
    AdapterResources,
    Capability,
    CRMAdapter,
    CustomerDirectory,
    NoteWrite,
    TaskCompleter,
    TaskWrite,
)
from crm_adapters.embedded import CRMBase, EmbeddedCRM
from crm_adapters.errors import CRMNotFoundError
from crm_adapters.registry import default_registry
from tests.conftest import postgres_schema
from tests.fakes.crm_server import TOKEN, FakeCRM


class Inspector(Protocol):
    async def add_customer(self, name: str, emails: list[str], owner: str | None = None) -> str: ...
    async def notes(self, customer_id: str) -> list[dict[str, Any]]: ...
    async def tasks(self) -> list[dict[str, Any]]: ...


@dataclass
class EmbeddedInspector:
    crm: EmbeddedCRM

    async def add_customer(self, name: str, emails: list[str], owner: str | None = None) -> str:
        return (await self.crm.add_customer(name, emails, owner_email=owner)).id

    async def notes(self, customer_id: str) -> list[dict[str, Any]]:
        return [
            {
                "section": n.section,
                "title": n.title,
                "body": n.body,
                "ai_generated": n.ai_generated,
                "call_url": n.call_url,
                "provenance": n.provenance,
            }
            for n in await self.crm.notes(customer_id)
        ]

    async def tasks(self) -> list[dict[str, Any]]:
        return [
            {
                "id": t.id,
                "title": t.title,
                "due_date": t.due_date,
                "priority": t.priority,
                "owner": t.owner,
                "ai_generated": t.ai_generated,
                "call_url": t.call_url,
                "completed": t.completed_at is not None,
            }
            for t in await self.crm.tasks()
        ]


@dataclass
class RestInspector:
    server: FakeCRM

    async def add_customer(self, name: str, emails: list[str], owner: str | None = None) -> str:
        return self.server.add_customer(name, emails, owner)

    async def notes(self, customer_id: str) -> list[dict[str, Any]]:
        return [n for n in self.server.notes.values() if n["customer_id"] == customer_id]

    async def tasks(self) -> list[dict[str, Any]]:
        return [
            {
                **t,
                "due_date": date.fromisoformat(t["due_date"]) if t["due_date"] else None,
                "completed": bool(t.get("completed")),
            }
            for t in self.server.tasks.values()
        ]


@pytest_asyncio.fixture(params=["embedded-sqlite", "embedded-postgres", "rest"])
async def crm(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[CRMAdapter, Inspector]]:
    registry = default_registry(plugins=False)
    if request.param == "rest":
        server = FakeCRM()
        await server.start()
        adapter = registry.create(
            "rest",
            {"base_url": server.base_url, "auth_token": TOKEN, "backoff_initial": 0.01},
            AdapterResources(),
        )
        yield adapter, RestInspector(server)
        await adapter.aclose()
        await server.close()
        return
    async with AsyncExitStack() as stack:
        if request.param == "embedded-sqlite":
            engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
            stack.push_async_callback(engine.dispose)
        else:
            engine = await stack.enter_async_context(postgres_schema())
        async with engine.begin() as connection:
            await connection.run_sync(CRMBase.metadata.create_all)
        adapter = registry.create("embedded", {}, AdapterResources(engine=engine))
        assert isinstance(adapter, EmbeddedCRM)
        yield adapter, EmbeddedInspector(adapter)
        await adapter.aclose()


def _note(customer_id: str, key: str = "run-1:note") -> NoteWrite:
    return NoteWrite(
        customer_id=customer_id,
        title="Call with Contoso, 17 Nov 2026",
        body="Summary: pricing, security review, pilot in Chicago.",
        call_url="https://teams.test/call/1",
        call_started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
        provenance={"run": "run-1", "extractor": "claude"},
        idempotency_key=key,
    )


def _task(key: str = "run-1:task:1", **fields: Any) -> TaskWrite:
    base: dict[str, Any] = {
        "title": "Send revised quote",
        "due_date": date(2026, 11, 20),
        "priority": "high",
        "owner": "Maria Chen",
        "call_url": "https://teams.test/call/1",
        "idempotency_key": key,
    }
    base.update(fields)
    return TaskWrite(**base)


async def test_declares_its_capabilities(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, _ = crm
    assert isinstance(adapter, CRMAdapter)
    assert adapter.capabilities == frozenset(Capability)


async def test_finds_the_customer_by_any_participant_email(
    crm: tuple[CRMAdapter, Inspector],
) -> None:
    adapter, inspector = crm
    contoso = await inspector.add_customer(
        "Contoso Logistics", ["daniel@contoso.test", "priya@contoso.test"]
    )
    found = await adapter.find_customer(["maria@northwind.test", " Priya@Contoso.test "])
    assert found is not None
    assert (found.id, found.name) == (contoso, "Contoso Logistics")
    assert await adapter.find_customer(["nobody@else.test"]) is None
    assert await adapter.find_customer(["not-an-email", ""]) is None


async def test_note_lands_once_in_the_smart_notes_section(
    crm: tuple[CRMAdapter, Inspector],
) -> None:
    adapter, inspector = crm
    customer = await inspector.add_customer("Contoso", ["daniel@contoso.test"])
    first = await adapter.write_note(_note(customer))
    again = await adapter.write_note(_note(customer))  # a replayed job
    assert first.created
    assert not again.created
    assert again.external_id == first.external_id
    [note] = await inspector.notes(customer)
    assert note["section"] == SECTION
    assert note["ai_generated"] is True
    assert note["call_url"] == "https://teams.test/call/1"
    assert note["provenance"] == {"run": "run-1", "extractor": "claude"}


async def test_concurrent_duplicate_writes_land_once(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, inspector = crm
    customer = await inspector.add_customer("Contoso", ["daniel@contoso.test"])
    results = await asyncio.gather(*(adapter.write_note(_note(customer)) for _ in range(5)))
    assert len({r.external_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert len(await inspector.notes(customer)) == 1


async def test_note_for_unknown_customer_is_not_found(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, _ = crm
    with pytest.raises(CRMNotFoundError):
        await adapter.write_note(_note("no-such-customer"))


async def test_task_create_update_delete(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, inspector = crm
    created = await adapter.create_task(_task())
    replay = await adapter.create_task(_task())
    assert (created.created, replay.created) == (True, False)
    assert replay.external_id == created.external_id
    [task] = await inspector.tasks()
    assert (task["title"], task["due_date"], task["priority"], task["owner"]) == (
        "Send revised quote",
        date(2026, 11, 20),
        "high",
        "Maria Chen",
    )
    assert task["ai_generated"] is True
    assert task["call_url"] == "https://teams.test/call/1"

    await adapter.update_task(
        created.external_id, _task("run-1:task:1:v2", due_date=date(2026, 11, 24))
    )
    [task] = await inspector.tasks()
    assert task["due_date"] == date(2026, 11, 24)

    await adapter.delete_task(created.external_id, "run-1:task:1:delete")
    await adapter.delete_task(created.external_id, "run-1:task:1:delete")  # idempotent
    assert await inspector.tasks() == []
    with pytest.raises(CRMNotFoundError):
        await adapter.update_task(created.external_id, _task("run-1:task:1:v3"))


async def test_a_task_is_completed_once(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, inspector = crm
    assert Capability.COMPLETE_TASK in adapter.capabilities
    assert isinstance(adapter, TaskCompleter)
    created = await adapter.create_task(_task())
    [task] = await inspector.tasks()
    assert task["completed"] is False
    done = await adapter.complete_task(created.external_id, "run-2:complete:1")
    again = await adapter.complete_task(created.external_id, "run-2:complete:1")
    assert (done.external_id, done.created) == (created.external_id, True)
    assert (again.external_id, again.created) == (created.external_id, False)
    [task] = await inspector.tasks()
    assert task["completed"] is True
    with pytest.raises(CRMNotFoundError):
        await adapter.complete_task("no-such-task", "run-2:complete:2")


async def test_directory_finds_only_what_the_rep_may_write_to(
    crm: tuple[CRMAdapter, Inspector],
) -> None:
    adapter, inspector = crm
    assert isinstance(adapter, CustomerDirectory)
    shared = await inspector.add_customer("Contoso Logistics", ["daniel@contoso.test"])
    mine = await inspector.add_customer("Contoso Pharma", ["ana@pharma.test"], "maria@nw.test")
    await inspector.add_customer("Contoso Foods", ["li@foods.test"], "john@nw.test")
    found = await adapter.search_customers("contoso", user_email="maria@nw.test")
    assert sorted(c.id for c in found) == sorted([shared, mine])
    by_contact = await adapter.search_customers("PHARMA.test", user_email="Maria@nw.test")
    assert [c.id for c in by_contact] == [mine]
    assert await adapter.search_customers("   ", user_email="maria@nw.test") == []
    # Wildcards in the rep's text are text, not patterns.
    assert await adapter.search_customers("%", user_email="maria@nw.test") == []


async def test_directory_answers_who_may_write(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, inspector = crm
    assert isinstance(adapter, CustomerDirectory)
    johns = await inspector.add_customer("Globex", ["hank@globex.test"], "john@nw.test")
    shared = await inspector.add_customer("Initech", ["bill@initech.test"])
    allowed = await adapter.may_write(johns, user_email="john@nw.test")
    assert allowed is not None
    assert (allowed.id, allowed.name) == (johns, "Globex")
    assert await adapter.may_write(johns, user_email="maria@nw.test") is None
    assert await adapter.may_write(shared, user_email="maria@nw.test") is not None
    assert await adapter.may_write("no-such-customer", user_email="maria@nw.test") is None


async def test_a_created_prospect_belongs_to_the_rep(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, _ = crm
    assert isinstance(adapter, CustomerDirectory)
    created = await adapter.create_customer(
        "Umbrella Corp", ["alice@umbrella.test"], user_email="maria@nw.test"
    )
    assert created.name == "Umbrella Corp"
    assert await adapter.may_write(created.id, user_email="maria@nw.test") is not None
    assert await adapter.may_write(created.id, user_email="john@nw.test") is None
    found = await adapter.find_customer(["alice@umbrella.test"])
    assert found is not None
    assert found.id == created.id


async def test_a_note_is_updated_in_place(crm: tuple[CRMAdapter, Inspector]) -> None:
    adapter, inspector = crm
    customer = await inspector.add_customer("Contoso", ["daniel@contoso.test"])
    first = await adapter.write_note(_note(customer))
    changed = _note(customer, key="run-1:note:v2").model_copy(
        update={"body": "Corrected by the rep.", "provenance": {"changed": "after saving"}}
    )
    result = await adapter.update_note(first.external_id, changed)
    assert (result.external_id, result.created) == (first.external_id, False)
    [note] = await inspector.notes(customer)
    assert (note["body"], note["provenance"]) == (
        "Corrected by the rep.",
        {"changed": "after saving"},
    )
    assert note["section"] == SECTION
    with pytest.raises(CRMNotFoundError):
        await adapter.update_note("no-such-note", changed)
