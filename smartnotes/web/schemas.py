"""Request bodies of the review API. Unknown fields are refused, so a typo is an error and
not a silently ignored change."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# A link to the call, shown to reps as a link: http(s) with a host, nothing else.
CallUrl = Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
Version = Annotated[int, Field(ge=1, description="The version the change was made against")]
Text = Annotated[str, StringConstraints(strip_whitespace=True)]


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone offset")
    return value


def known_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SummaryEdit(Body):
    text: Annotated[Text, Field(min_length=1, max_length=20000)]
    version: Version


class TaskEdit(Body):
    version: Version
    title: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    due_date: date | None = None
    priority: Literal["high", "medium", "low"] | None = None
    owner: Annotated[Text, Field(max_length=120)] | None = None

    @field_validator("title", "priority")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Validators do not run on defaults: a None here was sent explicitly.
        if value is None:
            raise ValueError("cannot be empty")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> TaskEdit:
        if not self.changes():
            raise ValueError("no field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"version"})


class TaskDecision(Body):
    version: Version | None = None


class Retrigger(Body):
    version: Version | None = None


class FeedbackIn(Body):
    target: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description='"summary", or the id of one of the run\'s tasks'
    )
    rating: Literal["like", "dislike"]
    comment: Annotated[str, Field(max_length=2000)] = ""


class SaveIn(Body):
    version: Version | None = None
    customer_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    accept_proposed: bool = Field(
        default=True, description="Accept the tasks still proposed (the rep's save decides them)"
    )


class ParticipantIn(Body):
    name: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=320)] = ""


class UploadIn(Body):
    """A call uploaded by the rep: its transcript in any text format the pipeline reads."""

    call_id: Annotated[str, Field(min_length=1, max_length=300)]
    transcript: Annotated[str, Field(min_length=1, max_length=5_000_000)]
    transcript_name: Annotated[str, Field(min_length=1, max_length=200)] = "transcript.vtt"
    started_at: datetime | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    call_url: CallUrl | None = None
    participants: Annotated[list[ParticipantIn], Field(max_length=200)] = Field(
        default_factory=list
    )
    confidential: bool | None = None
    opt_out: bool = False

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return known_zone(value)


class RepIn(Body):
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
    name: Annotated[str, Field(max_length=200)] = ""


class CallWebhookIn(Body):
    """A call the calling tool finished. The call itself comes as ``transcript`` (text in any
    format the pipeline reads), as ``audio_url`` (HTTPS, allow-listed host), or, in a
    multipart body, as an ``audio`` or ``transcript`` file part next to this JSON in ``call``."""

    call_id: Annotated[str, Field(min_length=1, max_length=300)]
    rep: RepIn
    participants: Annotated[list[ParticipantIn], Field(max_length=200)] = Field(
        default_factory=list
    )
    started_at: datetime
    timezone: Annotated[str, Field(max_length=64)] = Field(
        description="IANA time zone of the rep, for deadlines like 'Friday'"
    )
    opt_out: bool = Field(default=False, description="The rep chose not to process this call")
    confidential: bool | None = Field(
        default=None, description="Confidential mode for this call; absent: the rep's default"
    )
    call_url: CallUrl | None = None
    transcript: Annotated[str, Field(min_length=1)] | None = None
    transcript_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    audio_url: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime | None:
        return aware(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str | None:
        return known_zone(value)


BODIES: tuple[type[Body], ...] = (
    SummaryEdit,
    TaskEdit,
    TaskDecision,
    Retrigger,
    FeedbackIn,
    SaveIn,
    UploadIn,
)
