"""The customer's open tasks as context for a call: what was already agreed is not proposed
again, and a call that shows an open task done proposes completing it.

The open tasks come from earlier calls with the same customer (``smartnotes.runs.open_tasks``).
Claude sees them in its prompt and may name the one a call shows done; whatever extractor ran,
the checks here decide: a new task that is the same action as an open one is left out (with a
line saying so), and a sentence in the past tense about an open task's action ("I sent the DPA
yesterday") is found in the transcript and proposed as its completion, quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.grounding import TranscriptIndex, action_words, normalised_words, same_action
from pipeline.tasks import Completion, Evidence, ExtractedTask, Priority, Task
from pipeline.transcript import Transcript

# How many open tasks a prompt lists: the newest first; older ones are still deduplicated.
PROMPT_LIMIT = 30

_DONE = re.compile(
    r"\b(?:sent|signed|shared|emailed|mailed|forwarded|finished|completed|delivered|"
    r"booked|scheduled|submitted|uploaded|returned|paid|filed|done|took care|sorted|"
    r"went out|is out|are out|already)\b",
    re.IGNORECASE,
)
# What turns a sentence about the action into one about the future or a denial.
_NOT_DONE = re.compile(
    r"\b(?:will|won't|'ll|going to|gonna|not yet|haven't|hasn't|didn't|did not|have not|"
    r"has not|still need|need to|can you|could you|when will|once|if)\b|\?",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")


@dataclass(frozen=True)
class OpenTask:
    """A task kept from an earlier call with this customer, not yet done."""

    # The label the prompt uses ("T1"); short, so a model copies it faithfully.
    ref: str
    task_id: str
    title: str
    owner: str = ""
    due_date: str | None = None
    # When the call that made it took place (ISO date), for the rep and the prompt.
    said_on: str = ""
    # The task's id in the CRM: only a task in the CRM can be completed there.
    crm_task_id: str | None = None

    def line(self) -> str:
        parts = [f"{self.ref}: {self.title}"]
        if self.owner:
            parts.append(f"owner {self.owner}")
        if self.due_date:
            parts.append(f"due {self.due_date}")
        if self.said_on:
            parts.append(f"from the call on {self.said_on}")
        return "; ".join(parts)


def prompt_block(open_tasks: Sequence[OpenTask]) -> str:
    """The open tasks as the extraction prompt lists them; empty when there are none."""
    if not open_tasks:
        return ""
    lines = "\n".join(task.line() for task in open_tasks[:PROMPT_LIMIT])
    return (
        "Tasks already open with this customer from earlier calls:\n"
        f"<open_tasks>\n{lines}\n</open_tasks>\n"
        "Do not record any of these again. When the call shows one of them done, record it "
        "with `completes` set to its label (e.g. T1) and the quote that shows it done.\n"
    )


def _as_task(title: str, owner: str = "") -> Task:
    return Task(title=title, owner=owner)


def already_open(task: Task, open_tasks: Sequence[OpenTask]) -> OpenTask | None:
    """The open task that ``task`` repeats: the same action on mostly the same things."""
    for candidate in open_tasks:
        if same_action(task, _as_task(candidate.title, candidate.owner)):
            return candidate
    return None


def drop_known(
    tasks: list[Task], open_tasks: Sequence[OpenTask], warnings: list[str]
) -> list[Task]:
    """``tasks`` without those that repeat an open task; each one left out is named."""
    if not open_tasks:
        return tasks
    kept: list[Task] = []
    for task in tasks:
        if task.completes is not None:
            kept.append(task)
            continue
        known = already_open(task, open_tasks)
        if known is None:
            kept.append(task)
            continue
        where = f" (from the call on {known.said_on})" if known.said_on else ""
        warnings.append(
            f"Not proposed again: “{task.title}” is already open as “{known.title}”{where}."
        )
    return kept


def completions(
    extracted: Sequence[ExtractedTask],
    transcript: Transcript,
    open_tasks: Sequence[OpenTask],
    warnings: list[str],
) -> list[Task]:
    """The open tasks the call shows done, each proposed as its completion with the quote.

    The model's claims (``completes``) count only when their quote is in the transcript; the
    transcript is then searched for past-tense sentences about the other open tasks' actions,
    so a completion the model missed is still proposed.
    """
    completable = {task.ref: task for task in open_tasks if task.crm_task_id}
    if not completable:
        return []
    index = TranscriptIndex(transcript)
    found: dict[str, Task] = {}
    for item in extracted:
        target = completable.get(item.completes.strip().upper()) if item.completes else None
        if target is None or target.ref in found:
            continue
        evidence = index.evidence_for(item.quote) if item.quote else None
        if evidence is None or not evidence.verified:
            warnings.append(
                f"Not proposed: completing “{target.title}”, its quote is not in the call."
            )
            continue
        found[target.ref] = completion_task(target, evidence, item.confidence)
    for target in completable.values():
        if target.ref in found:
            continue
        evidence = _said_done(transcript, target)
        if evidence is not None:
            found[target.ref] = completion_task(target, evidence, 0.6)
    return list(found.values())


def completion_task(target: OpenTask, evidence: Evidence, confidence: float) -> Task:
    where = f" from the call on {target.said_on}" if target.said_on else ""
    return Task(
        title=f"Mark done: {target.title}"[:200],
        description=f"The call says this open task{where} is done.",
        owner=target.owner,
        priority=Priority.LOW,
        priority_reason="Closes an open task",
        evidence=[evidence],
        confidence=confidence,
        completes=Completion(
            task_id=target.task_id,
            crm_task_id=target.crm_task_id or "",
            title=target.title,
            said_on=target.said_on,
        ),
    )


def _said_done(transcript: Transcript, target: OpenTask) -> Evidence | None:
    """The first sentence of the call that says ``target``'s action is done."""
    wanted = _as_task(target.title)
    for segment in transcript.segments:
        for sentence in _SENTENCE.findall(segment.text):
            text = sentence.strip()
            if not text or not _DONE.search(text) or _NOT_DONE.search(text):
                continue
            if not _mentions(text, wanted):
                continue
            return Evidence(quote=text, at=segment.start, speaker=segment.speaker, verified=True)
    return None


def _mentions(sentence: str, task: Task) -> bool:
    """The sentence names what the task acts on: most of the title's things, at least one."""
    words = set(normalised_words(sentence))
    folded = {
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    }
    things = task_things(task)
    if not things:
        return False
    shared = len(things & (words | folded))
    return shared >= max(1, round(0.6 * len(things)))


def task_things(task: Task) -> set[str]:
    """What a task acts on: its title's content words after the verb."""
    words = action_words(task)
    return set(words[1:])
