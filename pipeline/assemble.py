"""Step 3, creating tasks: ground, date and de-duplicate what the extractor proposed."""

from __future__ import annotations

from datetime import date

from pipeline.commitments import recall_tasks
from pipeline.deadlines import agrees_with_words, is_vague, resolve_deadline
from pipeline.extraction import CallContext
from pipeline.grounding import TranscriptIndex, merge_duplicates, model_timestamp
from pipeline.tasks import Evidence, ExtractedTask, Task, TaskOrigin
from pipeline.transcript import Transcript


def build_tasks(
    extracted: list[ExtractedTask],
    transcript: Transcript,
    context: CallContext,
    origin: TaskOrigin,
    *,
    recall_check: bool = True,
) -> list[Task]:
    index = TranscriptIndex(transcript)
    tasks = [_ground(item, index, context, origin) for item in extracted]
    tasks = merge_duplicates(tasks, context.participants)
    if recall_check:
        tasks.extend(recall_tasks(transcript, tasks, context))
    return tasks


def _ground(
    item: ExtractedTask, index: TranscriptIndex, context: CallContext, origin: TaskOrigin
) -> Task:
    evidence = (
        index.evidence_for(item.quote, model_timestamp(item.timestamp))
        if item.quote
        else (Evidence(quote="", at=model_timestamp(item.timestamp), verified=False))
    )
    return Task(
        title=item.title,
        description=item.description,
        owner=item.owner,
        due_text=item.due_text,
        due_date=_due_date(item, context),
        priority=item.priority,
        priority_reason=item.priority_reason,
        related_to=item.related_to,
        evidence=[evidence],
        confidence=item.confidence,
        origin=origin,
    )


def _due_date(item: ExtractedTask, context: CallContext) -> date | None:
    """Our resolver decides; the model's own date only fills in what the resolver can't read,
    and only when it can be what the words mean (see ``agrees_with_words``).

    With no words said about a deadline there is no date, whatever the model wrote.
    """
    if not item.due_text:
        return None
    resolved = resolve_deadline(
        item.due_text, context.started_at, context.timezone, context.country
    )
    if resolved is not None or is_vague(item.due_text):
        # "later today" is read; "later" alone names no day, whatever the model wrote.
        return resolved
    try:
        proposed = date.fromisoformat(item.due_date) if item.due_date else None
    except ValueError:
        return None
    if proposed is None or not agrees_with_words(
        item.due_text, proposed, context.started_at, context.timezone
    ):
        return None
    return proposed
