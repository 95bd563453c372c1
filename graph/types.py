"""What our Graph client returns and raises: plain values, independent of the SDK's models
(whose generated names shift between versions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MeetingRef:
    """What a transcript or recording download needs: the organizer's Entra object id and the
    online meeting's id."""

    organizer_id: str
    meeting_id: str


@dataclass(frozen=True)
class Person:
    """A meeting participant as ``meetingParticipantInfo`` gives it."""

    user_id: str | None = None
    upn: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class Meeting:
    ref: MeetingRef
    organizer: Person
    attendees: tuple[Person, ...] = ()
    subject: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    join_url: str | None = None

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.organizer, *self.attendees)


@dataclass(frozen=True)
class Transcript:
    """A ``callTranscript``: one per transcription started in the meeting."""

    id: str
    ref: MeetingRef
    created: datetime | None = None
    end: datetime | None = None
    call_id: str | None = None


@dataclass(frozen=True)
class Recording:
    """A ``callRecording``: the meeting's mp4, used only when it has no transcript."""

    id: str
    ref: MeetingRef
    created: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class TranscriptDelta:
    """One catch-up pass over an organizer's transcripts: every page followed, and the delta
    link to start the next pass from."""

    transcripts: tuple[Transcript, ...]
    delta_link: str | None = None


@dataclass(frozen=True)
class Subscription:
    id: str
    resource: str
    change_type: str
    expiration: datetime
    notification_url: str
    lifecycle_url: str | None = None
    include_resource_data: bool = False


@dataclass(frozen=True)
class NewSubscription:
    """What ``POST /subscriptions`` needs. ``encryption_certificate`` (base64 DER) and its id
    are set for rich notifications (``include_resource_data``)."""

    resource: str
    notification_url: str
    expiration: datetime
    client_state: str = field(repr=False)
    change_type: str = "created"
    lifecycle_url: str | None = None
    include_resource_data: bool = False
    encryption_certificate: str | None = field(default=None, repr=False)
    encryption_certificate_id: str | None = None


class GraphError(Exception):
    """A Graph call that did not succeed, after the retries the client allows."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class GraphNotFoundError(GraphError):
    """404: the meeting, transcript or subscription is not (or no longer, or not yet) there."""


class GraphPaymentRequiredError(GraphError):
    """402: Graph wants a billing setup (an Azure subscription linked to the app registration)
    before it serves this download to this app. Retrying cannot help."""


class GraphAuthError(GraphError):
    """401/403: the app's credentials, permissions or the application access policy."""


class GraphThrottledError(GraphError):
    """429/503 still answered after the client's retries; ``retry_after`` in seconds when
    Graph said."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class EventPerson:
    """An event's organizer or attendee as the calendar names them (``emailAddress``)."""

    email: str
    name: str | None = None


@dataclass(frozen=True)
class CalendarEvent:
    """One event, occurrence or exception of a user's calendar view, times in UTC.

    ``uid`` is the event's ``iCalUId`` (the same in every attendee's calendar, and different
    for each occurrence of a series), or its ``id`` where Graph gave none.
    """

    id: str
    uid: str
    start: datetime
    end: datetime
    subject: str | None = None
    cancelled: bool = False
    organizer: EventPerson | None = None
    attendees: tuple[EventPerson, ...] = ()

    @property
    def people(self) -> tuple[EventPerson, ...]:
        """The organizer and the attendees, each address once."""
        seen: dict[str, EventPerson] = {}
        for person in (self.organizer, *self.attendees):
            if person is not None:
                seen.setdefault(person.email, person)
        return tuple(seen.values())
