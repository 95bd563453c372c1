"""A recall safety net: sentences that sound like commitments but match no extracted task.

Extractors miss things (a small local model more than Claude). Every sentence where someone
says they will do something is checked against the tasks; one that no task covers is added
as a low-confidence task marked ``recall_check``, for the rep to keep or reject. It is cheap,
deterministic, and only ever adds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.grounding import normalise_word
from pipeline.tasks import Task
from pipeline.transcript import UNKNOWN_SPEAKER, Segment, Transcript

_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_FIRST_PERSON = (
    r"(?:i'll|i will|i'm going to|i am going to|i can|let me|i'll make sure to|i need to)"
)
_TEAM = r"(?:we'll|we will|we're going to|we are going to|we need to|we should|our team will)"
_ASK = r"(?:can you|could you|would you|will you|you'll|you will|please)"
_ACTION = (
    r"(?:send|share|email|e-mail|forward|schedule|set up|book|arrange|organi[sz]e|follow up|"
    r"get back|reach out|call|ring|loop in|introduce|prepare|draft|write|put together|review|"
    r"check|confirm|update|revise|circulate|deliver|provide|sign|approve|finali[sz]e|invite|"
    r"run|look into|find out|demo|present|ship|order|pay|quote|price|escalate|talk to|ask)"
)
_COMMITMENT = re.compile(
    rf"\b(?P<who>{_FIRST_PERSON}|{_TEAM}|{_ASK})\b(?:\s+\w+){{0,3}}?\s+\b{_ACTION}\b",
    re.IGNORECASE,
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_COUNT = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)"
_DEADLINE = re.compile(
    r"\b(?:(?:by|before|until|no later than|on|within|in|for)\s+)?(?:the\s+)?(?:"
    r"(?:end of|close of)\s+(?:the\s+|this\s+|next\s+)?(?:day|business|week|month|quarter|year)"
    r"(?:\s+tomorrow)?"
    rf"|(?:this|next|coming)\s+(?:week|month|quarter|year|afternoon|morning|evening|{_DAYS})"
    r"|(?:early|mid|late)\s+next\s+(?:week|month)"
    r"|(?:the\s+)?day after tomorrow"
    r"|tomorrow(?:\s+(?:eod|morning|afternoon|evening|end of day))?"
    rf"|today|tonight|eod|eow|eom|cob|{_DAYS}"
    rf"|{_COUNT}\s+(?:business\s+|working\s+)?(?:days?|weeks?|months?|hours?)(?:\s+from now)?"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"(?:st|nd|rd|th)?"
    r"|\d{1,2}(?:st|nd|rd|th)(?:\s+of\s+[a-z]+)?"
    r")\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Commitment:
    sentence: str
    segment: Segment
    owner: str
    due_text: str


def find_commitments(transcript: Transcript) -> list[Commitment]:
    found: list[Commitment] = []
    for segment in transcript.segments:
        for sentence in _SENTENCE.findall(segment.text):
            match = _COMMITMENT.search(sentence.replace("\u2019", "'"))
            if match is None:
                continue
            who = match["who"].lower()
            speaker_known = segment.speaker != UNKNOWN_SPEAKER
            owner = segment.speaker if speaker_known and re.fullmatch(_FIRST_PERSON, who) else ""
            deadline = _DEADLINE.search(sentence)
            found.append(
                Commitment(
                    sentence.strip(), segment, owner, deadline[0].strip() if deadline else ""
                )
            )
    return found


def _covered(commitment: Commitment, tasks: list[Task]) -> bool:
    words = {normalise_word(w) for w in commitment.sentence.split()} - {""}
    whole_segment = commitment.sentence == commitment.segment.text.strip()
    for task in tasks:
        for evidence in task.evidence:
            if not evidence.verified:
                # Words the model wrote that are not in the call prove nothing was captured;
                # letting them cover a commitment would lose it.
                continue
            if whole_segment and evidence.at == commitment.segment.start:
                return True
            quoted = {normalise_word(w) for w in evidence.quote.split()} - {""}
            if quoted and len(words & quoted) >= 0.6 * min(len(words), len(quoted)):
                return True
    return False


def uncovered_commitments(transcript: Transcript, tasks: list[Task]) -> list[Commitment]:
    return [c for c in find_commitments(transcript) if not _covered(c, tasks)]


_OPENER = re.compile(
    r"^(?:(?:yes|yeah|sure|okay|ok|right|great|so|and|well|perfect|"
    r"of course|no problem)\b[\s,.!-]*)+",
    re.IGNORECASE,
)


def title_for(sentence: str) -> str:
    words = (_OPENER.sub("", sentence).strip() or sentence).split()
    words[0] = words[0][:1].upper() + words[0][1:]
    title = " ".join(words[:14]) + (" …" if len(words) > 14 else "")
    return f"Check: {title}"
