"""Task models: what an extractor returns (``ExtractedTask``) and what the rep sees (``Task``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskOrigin = Literal["claude", "local", "recall_check"]


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ExtractedTask(BaseModel):
    """One task as a model wrote it, before grounding and deadline resolution.

    Unknown keys are dropped on purpose: whatever a transcript talks a model into adding,
    only these fields ever travel further.
    """

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    owner: str = Field(default="", max_length=120)
    due_text: str = Field(default="", max_length=120)
    due_date: str = Field(default="", max_length=40)
    priority: Priority = Priority.MEDIUM
    priority_reason: str = Field(default="", max_length=400)
    related_to: str = Field(default="", max_length=200)
    quote: str = Field(default="", max_length=1000)
    timestamp: str = Field(default="", max_length=20)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # The label of an open task (``pipeline.open_tasks``) the call shows done; else empty.
    completes: str = Field(default="", max_length=10)

    @field_validator(
        "title",
        "description",
        "owner",
        "due_text",
        "related_to",
        "quote",
        "priority_reason",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp_confidence(cls, value: Any) -> Any:
        # A confidence of 1.2 or -0.1 is still an answer; clamping keeps the task.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return min(1.0, max(0.0, float(value)))
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Evidence(BaseModel):
    """A quote from the call that justifies a task, and where it was said."""

    model_config = ConfigDict(frozen=True)

    quote: str
    at: float | None = None
    speaker: str | None = None
    verified: bool = False


class Completion(BaseModel):
    """The open task from an earlier call that a proposal marks done."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    crm_task_id: str
    title: str
    said_on: str = ""


class Task(BaseModel):
    """A grounded task as proposed to the rep."""

    title: str
    description: str = ""
    owner: str = ""
    due_date: date | None = None
    due_text: str = ""
    priority: Priority = Priority.MEDIUM
    priority_reason: str = ""
    related_to: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    origin: TaskOrigin = "claude"
    # Set on a proposal to complete an open task rather than to create one.
    completes: Completion | None = None

    @property
    def verified(self) -> bool:
        return any(e.verified for e in self.evidence)


def extraction_schema(
    *, max_tasks: int | None = None, bounded: bool = False, completions: bool = False
) -> dict[str, Any]:
    """JSON schema of an extractor's answer: ``{"tasks": [ExtractedTask, ...]}``.

    ``bounded`` adds length limits for grammar-constrained local decoding, where an unbounded
    string could run until the token limit and leave invalid JSON behind. ``completions``
    adds the optional ``completes`` label, for a prompt that lists the customer's open tasks.
    """

    def text(description: str, limit: int) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "description": description}
        if bounded:
            schema["maxLength"] = limit
        return schema

    task: dict[str, Any] = {
        "type": "object",
        "properties": {
            "title": text("Short imperative task title", 80),
            "description": text("What exactly has to be done, with the context needed", 240),
            "owner": text("Who committed to it, as named in the call; empty if nobody", 40),
            "due_text": text(
                "The words said about the deadline, e.g. 'by Friday'; empty if none was said", 40
            ),
            "due_date": text("The deadline as YYYY-MM-DD if one was said, else empty", 10),
            "priority": {"type": "string", "enum": ["high", "medium", "low"]},
            "priority_reason": text("Why this priority", 100),
            "related_to": text("Customer or deal named in the call, else empty", 60),
            "quote": text("Verbatim words from the transcript that justify the task", 200),
            "timestamp": text("hh:mm:ss of the quote in the transcript", 8),
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": [
            "title",
            "description",
            "owner",
            "due_text",
            "due_date",
            "priority",
            "priority_reason",
            "related_to",
            "quote",
            "timestamp",
            "confidence",
        ],
        "additionalProperties": False,
    }
    if completions:
        task["properties"]["completes"] = text(
            "Only when the call shows an open task from the list done: its label (e.g. T1); "
            "the quote then shows it done. Omit otherwise",
            10,
        )
    tasks: dict[str, Any] = {"type": "array", "items": task}
    if max_tasks is not None:
        tasks["maxItems"] = max_tasks
    return {
        "type": "object",
        "properties": {"tasks": tasks},
        "required": ["tasks"],
        "additionalProperties": False,
    }
