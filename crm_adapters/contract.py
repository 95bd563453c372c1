"""The contract between Smart Notes and a CRM.

An adapter finds the customer a call was with, writes the call's note into the customer's
"Smart Notes" section, and creates, updates and deletes tasks. Every write carries an
idempotency key: the same write sent twice (a retry, a replayed job) lands once, and the second
call answers with the first one's id and ``created=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SECTION = "Smart Notes"


class Capability(StrEnum):
    FIND_CUSTOMER = "find_customer"
    WRITE_NOTE = "write_note"
    CREATE_TASK = "create_task"
    UPDATE_TASK = "update_task"
    DELETE_TASK = "delete_task"
    UPDATE_NOTE = "update_note"
    # A customer directory (``CustomerDirectory``): search, create a prospect, and the answer
    # to "may this rep write to this customer?".
    SEARCH_CUSTOMERS = "search_customers"
    CREATE_CUSTOMER = "create_customer"
    # ``TaskCompleter``: mark a task written before as done (a later call shows it done).
    COMPLETE_TASK = "complete_task"


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    url: str | None = None


class NoteWrite(BaseModel):
    """A note for the customer's Smart Notes section; always labelled as AI generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1)
    call_url: str | None = None
    call_started_at: datetime | None = None
    ai_generated: Literal[True] = True
    # Where the note came from: run id, source, models, reviewer. Shown next to the note.
    provenance: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=8, max_length=200)


class TaskWrite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    due_date: date | None = None
    priority: Literal["high", "medium", "low"] = "medium"
    owner: str = ""
    customer_id: str | None = None
    related_to: str = ""
    call_url: str | None = None
    ai_generated: Literal[True] = True
    idempotency_key: str = Field(min_length=8, max_length=200)


class WriteResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    external_id: str
    created: bool = True
    url: str | None = None


@runtime_checkable
class CRMAdapter(Protocol):
    """What every adapter implements. ``Options`` is validated with unknown keys refused."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    async def find_customer(self, emails: Sequence[str]) -> Customer | None: ...

    async def write_note(self, note: NoteWrite) -> WriteResult: ...

    async def update_note(self, external_id: str, note: NoteWrite) -> WriteResult:
        """Replace a note written before (the rep changed the notes after saving them)."""
        ...

    async def create_task(self, task: TaskWrite) -> WriteResult: ...

    async def update_task(self, external_id: str, task: TaskWrite) -> WriteResult: ...

    async def delete_task(self, external_id: str, idempotency_key: str) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class CustomerDirectory(Protocol):
    """What an adapter with ``SEARCH_CUSTOMERS`` also implements, so a rep can pick the
    customer of a call nobody matched, or create the prospect (``CREATE_CUSTOMER``).

    Every method acts for a rep, named by ``user_email``: the CRM decides what they may see
    and write, not Smart Notes.
    """

    async def search_customers(
        self, query: str, *, user_email: str, limit: int = 10
    ) -> list[Customer]: ...

    async def create_customer(
        self, name: str, emails: Sequence[str], *, user_email: str
    ) -> Customer: ...

    async def may_write(self, customer_id: str, *, user_email: str) -> Customer | None:
        """The customer, when the rep may write notes and tasks for it; ``None`` when the
        rep may not, or there is no such customer (a rep learns nothing from the difference)."""
        ...


@runtime_checkable
class TaskCompleter(Protocol):
    """What an adapter with ``COMPLETE_TASK`` also implements."""

    async def complete_task(self, external_id: str, idempotency_key: str) -> WriteResult:
        """Mark the task done. Completing a completed task answers ``created=False``; a task
        that is gone is ``CRMNotFoundError``."""
        ...


class AdapterOptions(BaseModel):
    """Base of every adapter's options: unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def normalise_emails(emails: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for email in emails:
        cleaned = email.strip().lower()
        if cleaned and "@" in cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


@dataclass(frozen=True)
class AdapterResources:
    """What the service lends an adapter: its database (for adapters that store there)."""

    engine: AsyncEngine | None = None
    data_dir: Path | None = None
