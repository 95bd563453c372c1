"""A labelled set: calls with the commitments a careful rep would have noted (evals/FORMAT.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import InputError
from pipeline.extraction import CallContext
from pipeline.sides import Person

GOLD_SUFFIX = ".gold.json"


class GoldPerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    email: str = ""


class GoldCommitment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    side: Literal["rep", "customer"]
    due_text: str = ""
    due_date: date | None = None
    quote: str = Field(min_length=1)
    at: str = ""


class LabelledCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    kind: str = ""
    transcript: str
    started_at: datetime
    timezone: str
    country: str | None = None
    rep: GoldPerson
    customer: str | None = None
    participants: list[GoldPerson]
    commitments: list[GoldCommitment]
    # Where the gold file was read from; set by the loader.
    path: Path = Path()

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("started_at needs a UTC offset")
        return value.astimezone(UTC)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(GOLD_SUFFIX)

    @property
    def transcript_path(self) -> Path:
        return self.path.parent / self.transcript

    @property
    def people(self) -> list[Person]:
        return [Person(p.name, p.email) for p in self.participants]

    def context(self) -> CallContext:
        return CallContext(
            started_at=self.started_at,
            timezone=self.timezone,
            rep=self.rep.name,
            participants=tuple(p.name for p in self.participants),
            country=self.country,
        )


def load_set(folder: Path) -> list[LabelledCall]:
    """Every labelled call in ``folder``, by name; a broken gold file is an input error."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    calls = [load_call(path) for path in sorted(folder.glob(f"*{GOLD_SUFFIX}"))]
    if not calls:
        raise InputError(f"{folder} holds no labelled calls (*{GOLD_SUFFIX})")
    return calls


def load_call(path: Path) -> LabelledCall:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        call = LabelledCall.model_validate({**data, "path": path})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name}: cannot read the gold file: {exc}") from None
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InputError(f"{path.name}: {where}: {problem['msg']}") from None
    if not call.transcript_path.is_file():
        raise InputError(f"{path.name}: transcript {call.transcript} not found")
    names = {p.name for p in call.participants}
    for commitment in call.commitments:
        if commitment.owner not in names:
            raise InputError(f"{path.name}: owner {commitment.owner!r} is not a participant")
    return call
