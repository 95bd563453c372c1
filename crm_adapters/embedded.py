"""The built-in CRM: customers, contacts, the Smart Notes section and tasks in the service's
own database, so Smart Notes works with no CRM at all."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    MetaData,
    String,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from crm_adapters.contract import (
    SECTION,
    AdapterOptions,
    AdapterResources,
    Capability,
    Customer,
    CustomerDirectory,
    NoteWrite,
    TaskWrite,
    WriteResult,
    normalise_emails,
)
from crm_adapters.errors import AdapterConfigError, CRMConflictError, CRMNotFoundError
from crm_adapters.sqltypes import NAMING, UTCDateTime

# What LIKE treats as wildcards (and its escape character), escaped in a rep's search text.
_LIKE_SPECIAL = re.compile(r"[\\%_]")


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class CRMBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CustomerRow(CRMBase):
    __tablename__ = "crm_customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    name: Mapped[str] = mapped_column(String(200))
    # The rep who owns the customer; nobody (an account the whole team shares) when null.
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class ContactRow(CRMBase):
    __tablename__ = "crm_contacts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("crm_customers.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class NoteRow(CRMBase):
    __tablename__ = "crm_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("crm_customers.id", ondelete="CASCADE"), index=True
    )
    section: Mapped[str] = mapped_column(String(60), default=SECTION)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    ai_generated: Mapped[bool] = mapped_column(Boolean, default=True)
    call_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class TaskRow(CRMBase):
    __tablename__ = "crm_tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("crm_customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    owner: Mapped[str] = mapped_column(String(200), default="")
    related_to: Mapped[str] = mapped_column(String(200), default="")
    call_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    ai_generated: Mapped[bool] = mapped_column(Boolean, default=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class EmbeddedOptions(AdapterOptions):
    pass


class EmbeddedCRM:
    """A real CRM store in the service's database. Also backs the ``smartnotes crm`` commands."""

    name: ClassVar[str] = "embedded"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    Options: ClassVar[type[AdapterOptions]] = EmbeddedOptions

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def create(cls, options: Any, resources: AdapterResources) -> EmbeddedCRM:
        if resources.engine is None:
            raise AdapterConfigError("the embedded CRM needs the service's database")
        return cls(resources.engine)

    # -- the contract ---------------------------------------------------------------------

    async def find_customer(self, emails: Sequence[str]) -> Customer | None:
        wanted = normalise_emails(emails)
        if not wanted:
            return None
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(CustomerRow)
                        .join(ContactRow, ContactRow.customer_id == CustomerRow.id)
                        .where(ContactRow.email.in_(wanted))
                    )
                )
                .scalars()
                .all()
            )
        if not rows:
            return None
        # The customer most participants belong to; ties go to the first e-mail's customer.
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.id] = counts.get(row.id, 0) + 1
        best = max(rows, key=lambda r: counts[r.id])
        return Customer(id=best.id, name=best.name)

    async def write_note(self, note: NoteWrite) -> WriteResult:
        async with self._sessions() as session:
            existing = await self._by_key(session, NoteRow, note.idempotency_key)
            if existing is not None:
                return WriteResult(external_id=existing.id, created=False)
            if await session.get(CustomerRow, note.customer_id) is None:
                raise CRMNotFoundError(f"no customer {note.customer_id}")
            row = NoteRow(
                customer_id=note.customer_id,
                title=note.title,
                body=note.body,
                ai_generated=True,
                call_url=note.call_url,
                call_started_at=note.call_started_at,
                provenance=note.provenance,
                idempotency_key=note.idempotency_key,
            )
            return await self._insert(session, row, NoteRow, note.idempotency_key)

    async def update_note(self, external_id: str, note: NoteWrite) -> WriteResult:
        async with self._sessions() as session, session.begin():
            row = await session.get(NoteRow, external_id)
            if row is None:
                raise CRMNotFoundError(f"no note {external_id}")
            row.title, row.body, row.provenance = note.title, note.body, note.provenance
            row.call_url, row.call_started_at = note.call_url, note.call_started_at
        return WriteResult(external_id=external_id, created=False)

    async def create_task(self, task: TaskWrite) -> WriteResult:
        async with self._sessions() as session:
            existing = await self._by_key(session, TaskRow, task.idempotency_key)
            if existing is not None:
                return WriteResult(external_id=existing.id, created=False)
            if task.customer_id and await session.get(CustomerRow, task.customer_id) is None:
                raise CRMNotFoundError(f"no customer {task.customer_id}")
            row = TaskRow(**_task_fields(task), idempotency_key=task.idempotency_key)
            return await self._insert(session, row, TaskRow, task.idempotency_key)

    async def update_task(self, external_id: str, task: TaskWrite) -> WriteResult:
        async with self._sessions() as session, session.begin():
            row = await session.get(TaskRow, external_id)
            if row is None or row.deleted:
                raise CRMNotFoundError(f"no task {external_id}")
            for key, value in _task_fields(task).items():
                setattr(row, key, value)
        return WriteResult(external_id=external_id, created=False)

    async def delete_task(self, external_id: str, idempotency_key: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(TaskRow, external_id)
            if row is not None:
                row.deleted = True

    async def complete_task(self, external_id: str, idempotency_key: str) -> WriteResult:
        async with self._sessions() as session, session.begin():
            row = await session.get(TaskRow, external_id)
            if row is None or row.deleted:
                raise CRMNotFoundError(f"no task {external_id}")
            # Completing twice is completing once: the first moment stays.
            created = row.completed_at is None
            if created:
                row.completed_at = _now()
        return WriteResult(external_id=external_id, created=created)

    async def aclose(self) -> None:
        return None

    # -- the customer directory ------------------------------------------------------------

    async def search_customers(
        self, query: str, *, user_email: str, limit: int = 10
    ) -> list[Customer]:
        """Customers the rep may write to whose name or a contact's e-mail contains ``query``."""
        needle = query.strip().lower()
        if not needle:
            return []
        pattern = "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", needle) + "%"
        contacts = select(ContactRow.customer_id).where(
            func.lower(ContactRow.email).like(pattern, escape="\\")
        )
        statement = (
            select(CustomerRow)
            .where(
                or_(
                    func.lower(CustomerRow.name).like(pattern, escape="\\"),
                    CustomerRow.id.in_(contacts),
                ),
                _writable_by(user_email),
            )
            .order_by(CustomerRow.name)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
        return [Customer(id=r.id, name=r.name) for r in rows]

    async def create_customer(
        self, name: str, emails: Sequence[str], *, user_email: str
    ) -> Customer:
        """A new prospect, owned by the rep who created it."""
        return await self.add_customer(name, emails, owner_email=user_email)

    async def may_write(self, customer_id: str, *, user_email: str) -> Customer | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(CustomerRow).where(
                        CustomerRow.id == customer_id, _writable_by(user_email)
                    )
                )
            ).scalar_one_or_none()
        return None if row is None else Customer(id=row.id, name=row.name)

    # -- administration (``smartnotes crm``) -------------------------------------------------

    async def add_customer(
        self, name: str, emails: Sequence[str], *, owner_email: str | None = None
    ) -> Customer:
        addresses = normalise_emails(emails)
        if not name.strip():
            raise CRMConflictError("a customer needs a name")
        owner = owner_email.strip().lower() if owner_email else None
        async with self._sessions() as session:
            customer = CustomerRow(name=name.strip(), owner_email=owner)
            session.add(customer)
            await session.flush()
            for address in addresses:
                session.add(ContactRow(customer_id=customer.id, email=address))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise CRMConflictError(
                    f"one of {', '.join(addresses)} already belongs to another customer"
                ) from None
            return Customer(id=customer.id, name=customer.name)

    async def notes(self, customer_id: str | None = None) -> list[NoteRow]:
        query = select(NoteRow).order_by(NoteRow.created_at)
        if customer_id is not None:
            query = query.where(NoteRow.customer_id == customer_id)
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def tasks(self, *, include_deleted: bool = False) -> list[TaskRow]:
        query = select(TaskRow).order_by(TaskRow.created_at)
        if not include_deleted:
            query = query.where(TaskRow.deleted.is_(False))
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def customers(self) -> list[tuple[Customer, list[str]]]:
        async with self._sessions() as session:
            rows = (await session.execute(select(CustomerRow).order_by(CustomerRow.name))).scalars()
            contacts = (await session.execute(select(ContactRow))).scalars().all()
        by_customer: dict[str, list[str]] = {}
        for contact in contacts:
            by_customer.setdefault(contact.customer_id, []).append(contact.email)
        return [(Customer(id=r.id, name=r.name), sorted(by_customer.get(r.id, []))) for r in rows]

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    async def _by_key(
        session: AsyncSession, model: type[NoteRow] | type[TaskRow], key: str
    ) -> NoteRow | TaskRow | None:
        found = (
            await session.execute(select(model).where(model.idempotency_key == key))
        ).scalar_one_or_none()
        return found if isinstance(found, NoteRow | TaskRow) else None

    async def _insert(
        self,
        session: AsyncSession,
        row: NoteRow | TaskRow,
        model: type[NoteRow] | type[TaskRow],
        key: str,
    ) -> WriteResult:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            # The same write landed concurrently: answer with the one that won.
            await session.rollback()
            winner = await self._by_key(session, model, key)
            if winner is None:
                raise
            return WriteResult(external_id=winner.id, created=False)
        return WriteResult(external_id=row.id, created=True)


def _writable_by(user_email: str) -> ColumnElement[bool]:
    """A shared customer, or one the rep owns."""
    return or_(
        CustomerRow.owner_email.is_(None), CustomerRow.owner_email == user_email.strip().lower()
    )


def _task_fields(task: TaskWrite) -> dict[str, Any]:
    return {
        "customer_id": task.customer_id,
        "title": task.title,
        "description": task.description,
        "due_date": task.due_date,
        "priority": task.priority,
        "owner": task.owner,
        "related_to": task.related_to,
        "call_url": task.call_url,
        "ai_generated": True,
    }


def _directory(crm: EmbeddedCRM) -> CustomerDirectory:
    return crm  # mypy checks here that the embedded CRM is a customer directory


__all__ = ["CRMBase", "EmbeddedCRM"]
