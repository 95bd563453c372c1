"""The deal coach: next steps, objections and sentiment for one call, every item grounded.

Claude answers through a forced tool call whose input schema is the coaching schema; the local
analysis (``coach_local``) takes over without a key or when Claude fails, and says so. Either
way every quote is looked up in the transcript (``grounding.TranscriptIndex``): an item whose
quotes are not found is dropped, so nothing is shown that was not said. A source from an
earlier call is kept only when it names one of the earlier calls given and its quote is in
that call's text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import anthropic
from anthropic.types import ToolChoiceToolParam, ToolParam, UserMessageParam
from pydantic import BaseModel, ConfigDict, Field

from pipeline.claude import accepts_temperature
from pipeline.errors import ExtractionError
from pipeline.grounding import TranscriptIndex, normalised_words
from pipeline.prompting import Prompts, fill, quote_material
from pipeline.transcript import Transcript
from pipeline.usage import RunUsage

TOOL_NAME = "record_coaching"
CATEGORIES = ("price", "security", "timing", "competitor", "authority", "need", "other")
TONES = ("formal", "friendly", "concise")
MAX_NEXT_STEPS = 5
MAX_OBJECTIONS = 8


class Moment(BaseModel):
    """Words said in the call: the quote as found, when, by whom."""

    model_config = ConfigDict(frozen=True)

    quote: str
    at: float | None = None
    speaker: str | None = None
    label: str = ""


class PriorCall(BaseModel):
    """An earlier call's note given as context: ``id`` is what a source names."""

    model_config = ConfigDict(frozen=True)

    id: str
    when: str
    text: str


class PriorSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    call: str
    quote: str


class NextStep(BaseModel):
    text: str
    confidence: float = Field(ge=0, le=1)
    why: str
    moments: list[Moment] = []
    earlier: list[PriorSource] = []


class Objection(BaseModel):
    category: Literal["price", "security", "timing", "competitor", "authority", "need", "other"]
    moment: Moment
    answers: dict[str, str]
    earlier: list[PriorSource] = []


class Point(BaseModel):
    """One speaker in one stretch of the call (seconds from its start): what their words read as."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    sentiment: float = Field(ge=-1, le=1)
    hesitation: float = Field(ge=0, le=1)


class Mood(BaseModel):
    speaker: str
    sentiment: float = Field(ge=-1, le=1)
    hesitation: float = Field(ge=0, le=1)
    moments: list[Moment] = []
    # Counted from the speaker's own lines by the local word lists, whoever gave the verdict
    # above, so the chart shows only what was said. Coaching kept without it reads as empty.
    series: list[Point] = []
    trend: Literal["warming", "cooling", "steady"] | None = None


class Coaching(BaseModel):
    next_steps: list[NextStep]
    objections: list[Objection]
    sentiment: list[Mood]
    # The call's length in seconds: the time axis every speaker's series shares.
    duration: float | None = None
    # Who made it ("claude:<model>" or "local") and, for the local analysis, why.
    made_by: str
    fallback_reason: str | None = None


def coaching_schema() -> dict[str, Any]:
    quote = {"type": "string", "description": "Words exactly as said"}
    earlier = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"call": {"type": "string"}, "quote": {"type": "string"}},
            "required": ["call", "quote"],
        },
    }
    return {
        "type": "object",
        "properties": {
            "next_steps": {
                "type": "array",
                "maxItems": MAX_NEXT_STEPS,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "why": {"type": "string"},
                        "quotes": {"type": "array", "items": quote},
                        "earlier": earlier,
                    },
                    "required": ["text", "confidence", "why", "quotes"],
                },
            },
            "objections": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "category": {"type": "string", "enum": list(CATEGORIES)},
                        "quote": quote,
                        "answers": {
                            "type": "object",
                            "properties": {tone: {"type": "string"} for tone in TONES},
                            "required": list(TONES),
                        },
                        "earlier": earlier,
                    },
                    "required": ["category", "quote", "answers"],
                },
            },
            "sentiment": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "speaker": {"type": "string"},
                        "sentiment": {"type": "number", "minimum": -1, "maximum": 1},
                        "hesitation": {"type": "number", "minimum": 0, "maximum": 1},
                        "moments": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"quote": quote, "label": {"type": "string"}},
                                "required": ["quote", "label"],
                            },
                        },
                    },
                    "required": ["speaker", "sentiment", "hesitation", "moments"],
                },
            },
        },
        "required": ["next_steps", "objections", "sentiment"],
    }


class Grounder:
    """Checks quotes against the call and the earlier calls given."""

    def __init__(self, transcript: Transcript, prior: Sequence[PriorCall]) -> None:
        self.index = TranscriptIndex(transcript)
        self.speakers = set(transcript.speakers)
        self.prior = {call.id: normalised_words(call.text) for call in prior}

    def moment(self, quote: str, label: str = "") -> Moment | None:
        evidence = self.index.evidence_for(quote)
        if not evidence.verified:
            return None
        return Moment(quote=evidence.quote, at=evidence.at, speaker=evidence.speaker, label=label)

    def earlier(self, items: Any) -> list[PriorSource]:
        found = []
        for item in items if isinstance(items, list) else []:
            call, quote = str(item.get("call", "")), str(item.get("quote", ""))
            words = normalised_words(quote)
            text = self.prior.get(call)
            if words and text is not None and _contains(text, words):
                found.append(PriorSource(call=call, quote=quote))
        return found


def _contains(text: list[str], words: list[str]) -> bool:
    width = len(words)
    return any(text[i : i + width] == words for i in range(len(text) - width + 1))


def grounded(raw: dict[str, Any], grounder: Grounder, made_by: str) -> Coaching:
    """The model's answer with every ungrounded item dropped."""
    steps = []
    for item in raw.get("next_steps") or []:
        moments = [m for q in item.get("quotes") or [] if (m := grounder.moment(str(q)))]
        earlier = grounder.earlier(item.get("earlier"))
        if moments or earlier:
            steps.append(
                NextStep(
                    text=str(item["text"]),
                    confidence=_unit(item.get("confidence")),
                    why=str(item.get("why", "")),
                    moments=moments,
                    earlier=earlier,
                )
            )
    objections = []
    for item in raw.get("objections") or []:
        moment = grounder.moment(str(item.get("quote", "")))
        answers = item.get("answers") or {}
        category = item.get("category")
        if moment is None or category not in CATEGORIES or not all(answers.get(t) for t in TONES):
            continue
        objections.append(
            Objection(
                category=category,
                moment=moment,
                answers={tone: str(answers[tone]) for tone in TONES},
                earlier=grounder.earlier(item.get("earlier")),
            )
        )
    moods = []
    for item in raw.get("sentiment") or []:
        if str(item.get("speaker")) not in grounder.speakers:
            continue
        moments = [
            m
            for entry in item.get("moments") or []
            if (m := grounder.moment(str(entry.get("quote", "")), str(entry.get("label", ""))))
        ]
        moods.append(
            Mood(
                speaker=str(item["speaker"]),
                sentiment=max(-1.0, min(1.0, float(item.get("sentiment", 0)))),
                hesitation=_unit(item.get("hesitation")),
                moments=moments,
            )
        )
    return Coaching(
        next_steps=steps[:MAX_NEXT_STEPS],
        objections=objections[:MAX_OBJECTIONS],
        sentiment=moods,
        made_by=made_by,
    )


def _unit(value: Any) -> float:
    try:
        return max(0.0, min(1.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


def render_prior(prior: Sequence[PriorCall]) -> str:
    return "\n".join(f"[{c.id}] {c.when}: {quote_material(c.text)}" for c in prior)


class ClaudeCoach:
    name = "claude"

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        prompts: Prompts,
        *,
        model: str,
        max_tokens: int = 4096,
        on_usage: Callable[[int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.prompts = prompts
        self.model_name = model
        self.max_tokens = max_tokens
        self.on_usage = on_usage
        self._sampling: dict[str, Any] = {"temperature": 0.2} if accepts_temperature(model) else {}

    async def coach(
        self,
        transcript: Transcript,
        rep: str,
        prior: Sequence[PriorCall],
        usage: RunUsage | None = None,
    ) -> Coaching:
        prompt = fill(
            self.prompts.coach,
            rep=rep or "the rep",
            prior=render_prior(prior),
            transcript=quote_material(transcript.render()),
        )
        try:
            message = await self.client.messages.create(
                model=self.model_name,
                max_tokens=self.max_tokens,
                messages=[UserMessageParam(role="user", content=prompt)],
                tools=[
                    ToolParam(
                        name=TOOL_NAME,
                        description="Record the coaching for this call.",
                        input_schema=coaching_schema(),
                    )
                ],
                tool_choice=ToolChoiceToolParam(type="tool", name=TOOL_NAME),
                extra_body=self._sampling,
            )
        except anthropic.APIError as exc:
            raise ExtractionError(
                f"Claude could not coach this call: {exc.__class__.__name__}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ExtractionError("Claude returned malformed output (not JSON)") from exc
        if message.usage is not None:
            if self.on_usage is not None:
                self.on_usage(message.usage.input_tokens, message.usage.output_tokens)
            if usage is not None:
                usage.claude(message.usage.input_tokens, message.usage.output_tokens)
        for block in message.content:
            if (
                block.type == "tool_use"
                and block.name == TOOL_NAME
                and isinstance(block.input, dict)
            ):
                grounder = Grounder(transcript, prior)
                return grounded(block.input, grounder, f"claude:{self.model_name}")
        raise ExtractionError(f"Claude returned malformed output (no {TOOL_NAME} call)")
