"""Score the tasks made from a call against the commitments its gold file lists.

A task and a commitment are the same when the words they rest on overlap in the transcript:
at least half of the shorter of the two spans. Matching by evidence, not by title, is what a
rep checks ("where was that said?") and it keeps two commitments said in one breath apart.
Each commitment is matched at most once; a second task on a matched commitment is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.grounding import TranscriptIndex, model_timestamp
from pipeline.sides import match_person, task_side
from pipeline.tasks import Task
from pipeline.transcript import Transcript
from smartnotes.evaluation.gold import GoldCommitment, LabelledCall

MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Pair:
    """A commitment the pipeline found, and how well it read it."""

    gold: GoldCommitment
    task: Task
    deadline_right: bool
    owner_right: bool
    side_right: bool


@dataclass
class CallScore:
    name: str
    commitments: int
    tasks: int
    pairs: list[Pair] = field(default_factory=list)
    missed: list[GoldCommitment] = field(default_factory=list)
    extra: list[Task] = field(default_factory=list)
    duplicates: list[Task] = field(default_factory=list)
    grounded: int = 0
    seconds: float = 0.0
    extractor: str = ""

    @property
    def found(self) -> int:
        return len(self.pairs)


@dataclass(frozen=True)
class Totals:
    """Micro-averaged figures over any number of calls."""

    commitments: int
    tasks: int
    found: int
    deadlines_right: int
    owners_right: int
    sides_right: int
    grounded: int
    duplicates: int
    extra: int

    @property
    def recall(self) -> float:
        return _ratio(self.found, self.commitments)

    @property
    def precision(self) -> float:
        return _ratio(self.found, self.tasks)

    @property
    def deadline_accuracy(self) -> float:
        return _ratio(self.deadlines_right, self.found)

    @property
    def owner_accuracy(self) -> float:
        return _ratio(self.owners_right, self.found)

    @property
    def side_accuracy(self) -> float:
        return _ratio(self.sides_right, self.found)

    @property
    def grounding_rate(self) -> float:
        return _ratio(self.grounded, self.tasks)

    @classmethod
    def of(cls, scores: list[CallScore]) -> Totals:
        return cls(
            commitments=sum(s.commitments for s in scores),
            tasks=sum(s.tasks for s in scores),
            found=sum(s.found for s in scores),
            deadlines_right=sum(p.deadline_right for s in scores for p in s.pairs),
            owners_right=sum(p.owner_right for s in scores for p in s.pairs),
            sides_right=sum(p.side_right for s in scores for p in s.pairs),
            grounded=sum(s.grounded for s in scores),
            duplicates=sum(len(s.duplicates) for s in scores),
            extra=sum(len(s.extra) for s in scores),
        )


def _ratio(part: int, whole: int) -> float:
    # Nothing to find, nothing found: a perfect score rather than a division by zero.
    return 1.0 if whole == 0 else part / whole


def score_call(call: LabelledCall, transcript: Transcript, tasks: list[Task]) -> CallScore:
    index = TranscriptIndex(transcript)
    gold_spans = [index.span(c.quote, model_timestamp(c.at)) for c in call.commitments]
    candidates: list[tuple[float, int, int]] = []
    for t, task in enumerate(tasks):
        # A request and its answer are two pieces of evidence; either may be the labelled one.
        spans = [index.span(e.quote, e.at) for e in task.evidence if e.quote]
        for g, gold_span in enumerate(gold_spans):
            overlap = max((_overlap(span, gold_span) for span in spans), default=0.0)
            if overlap >= MIN_OVERLAP:
                # Among equal overlaps, the commitment whose deadline the task carries wins.
                tie = 0.01 if task.due_date == call.commitments[g].due_date else 0.0
                candidates.append((overlap + tie, t, g))
    score = CallScore(name=call.name, commitments=len(call.commitments), tasks=len(tasks))
    used_tasks: set[int] = set()
    used_gold: set[int] = set()
    for _, t, g in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if t in used_tasks or g in used_gold:
            continue
        used_tasks.add(t)
        used_gold.add(g)
        score.pairs.append(_pair(call, call.commitments[g], tasks[t]))
    matched_somewhere = {t for _, t, _ in candidates}
    for t, task in enumerate(tasks):
        if t in used_tasks:
            continue
        (score.duplicates if t in matched_somewhere else score.extra).append(task)
    score.missed = [c for g, c in enumerate(call.commitments) if g not in used_gold]
    score.grounded = sum(task.verified for task in tasks)
    return score


def _overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float:
    if a is None or b is None:
        return 0.0
    shared = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if shared <= 0:
        return 0.0
    return shared / min(a[1] - a[0] + 1, b[1] - b[0] + 1)


def _pair(call: LabelledCall, gold: GoldCommitment, task: Task) -> Pair:
    people = call.people
    person = match_person(task.owner, people)
    side = task_side(task.owner, people, call.rep.email, call.customer)
    # A task nobody named an owner for ("", "I", "we") is the rep's, as the review shows it.
    owner = person.name if person is not None else (call.rep.name if side == "rep" else "")
    return Pair(
        gold=gold,
        task=task,
        deadline_right=task.due_date == gold.due_date,
        owner_right=owner == gold.owner,
        side_right=side == gold.side,
    )
