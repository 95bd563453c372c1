"""What the bot needs from the product, as plain data: the bot speaks Teams, the backend
(wired in ``smartnotes``) owns users, runs and their rules. Keeping the line here lets the bot
be tested with the real service behind it and keeps Teams types out of the run lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class TeamsUser:
    """Who sent an activity, as Teams names them."""

    aad_object_id: str
    teams_id: str
    name: str
    aad_tenant_id: str
    email: str | None = None
    # The IANA time zone of the user's Teams client (clientInfo), when it sent one.
    timezone: str | None = None


@dataclass(frozen=True)
class Installed:
    """What an installation found: whether the user is one of ours, and whether this is the
    first time (the greeting is sent once)."""

    known: bool
    first_time: bool


@dataclass(frozen=True)
class CardAction:
    """A press on a card button (``Action.Execute`` or its ``Action.Submit`` fallback)."""

    verb: str
    data: Mapping[str, Any]
    # The message the pressed card is in: the answer replaces it in place.
    message_id: str | None = None


@dataclass(frozen=True)
class CardAnswer:
    """The card to show after an action: the run as it now is, or an error card."""

    card: dict[str, Any]


@dataclass(frozen=True)
class Choice:
    """One entry of a typeahead's list: what the user reads, and what the card submits."""

    title: str
    value: str


class SearchRefusedError(Exception):
    """The user may not search this list (not their call, or the CRM cannot be searched);
    the message says why, in words for them."""


@dataclass(frozen=True)
class MeetingEnded:
    aad_tenant_id: str
    meeting_id: str
    conversation_id: str
    join_url: str | None = None
    title: str = ""
    ended_at: datetime | None = None
    reported_by: str | None = None


class UnknownUserError(Exception):
    """The Teams user is not a Smart Notes user (no seat, or not in the directory)."""


class TeamsBackend(Protocol):
    async def install(self, user: TeamsUser, reference: dict[str, Any]) -> Installed: ...

    async def uninstall(self, user: TeamsUser) -> None: ...

    async def claim_greeting(self, user: TeamsUser) -> bool: ...

    async def status_card(self, user: TeamsUser) -> dict[str, Any]: ...

    async def switch(
        self, user: TeamsUser, *, enabled: bool | None = None, confidential: bool | None = None
    ) -> str: ...

    async def card_action(self, user: TeamsUser, action: CardAction) -> CardAnswer: ...

    async def dialog_url(self, user: TeamsUser, run_id: str) -> str | None:
        """The review page of a run the user may see, with a fresh token; None otherwise."""
        ...

    async def search_customers(
        self, user: TeamsUser, run_id: str, query: str, limit: int
    ) -> list[Choice]:
        """Customers matching ``query`` for the card of ``run_id``, as the CRM lets the user
        see them; raises SearchRefusedError or UnknownUserError."""
        ...

    async def ask(self, user: TeamsUser, question: str) -> dict[str, Any]:
        """The card answering a free question from the user's own calls, with its sources;
        raises UnknownUserError."""
        ...

    async def brief(self, user: TeamsUser, customer: str) -> dict[str, Any] | str:
        """The brief card on the user's customer of that name, or a sentence saying why there
        is none (no such customer, several, nothing known yet); raises UnknownUserError."""
        ...

    async def meeting_ended(self, meeting: MeetingEnded) -> bool: ...
