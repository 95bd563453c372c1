"""A recall safety net: commitments said on the call that no extracted task covers.

Extractors miss things (a small local model more than Claude). Every clause where someone says
they will do something ("I'll send…", "we'll do the demo…") or is asked to ("can you
confirm…?") is a commitment; a request answered by the other side ("Sure, I'll have it by
Friday") is one commitment, owned by whoever answered. A commitment whose words are already
the evidence of a task is covered; one that no task covers becomes a low-confidence task
marked ``recall_check`` with an action title ("Send the questionnaire"), the owner, the words
said about when, and the words themselves as evidence, for the rep to keep or reject. It is
cheap, deterministic, and only ever adds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.deadlines import resolve_deadline
from pipeline.extraction import CallContext
from pipeline.grounding import TranscriptIndex, content_words, merge_duplicates, normalised_words
from pipeline.sides import Person, Side, match_person, task_side
from pipeline.tasks import Evidence, Priority, Task
from pipeline.transcript import UNKNOWN_SPEAKER, Segment, Transcript

_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_FIRST_PERSON = (
    r"(?:i'll|i will|i'm going to|i am going to|i'm gonna|i am gonna|i can|let me|lemme|"
    r"i'll make sure to|i need to)"
)
_TEAM = (
    r"(?:we'll|we will|we're going to|we are going to|we're gonna|we need to|we should|"
    r"our team will)"
)
_ASK = r"(?:can you|could you|would you|will you|you'll|you will|please)"
_ACTION = (
    r"(?:send|share|email|e-mail|forward|schedule|set up|book|arrange|organi[sz]e|follow up|"
    r"ping|text|message|shoot|drop (?:you )?a (?:line|note)|circle back|make sure|"
    r"sort (?:\w+\s+){0,3}?out|"
    r"get back|get (?:you|them|him|her|it|that|this)|reach out|call|ring|loop in|introduce|"
    r"prepare|draft|write|put together|review|"
    r"check|confirm|update|revise|circulate|deliver|provide|sign|approve|finali[sz]e|invite|"
    r"run|look into|find out|demo|present|ship|order|pay|quote|price|escalate|talk to|ask|"
    r"open|complete|take (?:(?:\w+\s+){1,5}?to\b|care of|a look)|return|fill out|fill in|"
    r"file|submit|finish|sort out|handle|raise|log|"
    r"create|add|walk (?:you |them |him |her )?through|connect|chase|fix|install|enable|"
    r"configure|grant|give|hand over|kick off|sign off|test|investigate|coordinate|confirm|"
    r"sit down with|pencil in|do (?:the|a|an|our|your)|"
    r"(?:get|have) (?:\w+\s+){0,9}?(?:over\s+)?to (?:you|them|him|her))"
)
_COMMITMENT = re.compile(
    rf"\b(?P<who>{_FIRST_PERSON}|{_TEAM}|{_ASK})\b(?:\s+\w+){{0,3}}?\s+\b(?P<action>{_ACTION})\b",
    re.IGNORECASE,
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_COUNT = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)"
_MONTH_WORDS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
# The words said about when, longest first: "EOD tomorrow" rather than "EOD", "Thursday next
# week" rather than "Thursday". The words are resolved to a date by ``deadlines``.
_DEADLINE = re.compile(
    r"\b(?:(?:by|before|until|no later than|on|within|in|for)\s+)?(?:the\s+)?(?:"
    r"(?:eod|cob|end of day|close of business|first thing)\s+tomorrow"
    r"|(?:right |straight )?after (?:this|the|our) (?:call|meeting)"
    r"|(?:first|second|third|fourth|last) week of (?:" + _MONTH_WORDS + r")"
    r"|(?:early|mid|late|end of|beginning of|start of|middle of)[\s-]+"
    r"(?:" + _MONTH_WORDS + r"|next month)"
    r"|(?:the )?holidays|christmas(?: eve)?|xmas|new year(?:'s)?(?: eve| day)?|thanksgiving"
    r"|easter(?: monday)?"
    rf"|(?:{_DAYS})(?:\s+(?:morning|afternoon|evening))?\s+next week|next week\s+(?:{_DAYS})"
    r"|(?:the )?week after next|(?:a|one) fortnight|(?:end of )?q[1-4]"
    r"|(?:end of|close of)\s+(?:the\s+|this\s+|next\s+)?(?:day|business|week|month|quarter|year)"
    r"(?:\s+tomorrow)?"
    rf"|(?:this|next|coming)\s+(?:week|month|quarter|year|afternoon|morning|evening|{_DAYS})"
    r"|(?:early|mid|late)\s+next\s+(?:week|month)"
    r"|(?:the\s+)?day after tomorrow"
    r"|tomorrow(?:\s+(?:eod|morning|afternoon|evening|end of day))?"
    rf"|later today|today|tonight|eod|eow|eom|cob|{_DAYS}"
    rf"|{_COUNT}\s+(?:business\s+|working\s+)?(?:days?|weeks?|months?|hours?)(?:\s+from now)?"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"(?:st|nd|rd|th)?"
    r"|\d{1,2}(?:st|nd|rd|th)(?:\s+of\s+[a-z]+)?"
    r")\b",
    re.IGNORECASE,
)
# An answer that takes a request on: "Sure.", "Yes, I'll do it by Friday", "Will do".
_YES = re.compile(
    r"^\W*(?:sure|yes|yeah|yep|absolutely|of course|definitely|certainly|will do|can do|"
    r"i think so|leave it with me|consider it done|on it|you got it|you bet|for sure|"
    r"no problem|happy to|ok(?:ay)?,? (?:i(?:'|\u2019)ll|i will|will do|sure)|i(?:'|\u2019)ll|"
    r"i will|i can|"
    r"(?:then|so|right|alright|great|good),? (?:i(?:'|\u2019)ll|i will|we(?:'|\u2019)ll))\b",
    re.IGNORECASE,
)
# How far after a request its answer may come: the next turns of the call, not the next topic.
_ANSWER_TURNS = 2
_ANSWER_SECONDS = 60.0
_CLAUSE_TAIL = re.compile(r"[\s,;:-]+(?:and|but|then|so)?[\s,;:-]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Commitment:
    """One commitment said on the call: ``sentence`` (as said) names the action, in
    ``segment``. A request answered by the other side also has ``other`` (in
    ``other_segment``): the answer when the ask names the action ("can you send me the
    questionnaire?" / "sure, I'll send it over"), else the ask."""

    sentence: str
    segment: Segment
    owner: str
    due_text: str
    title: str = ""
    other: str = ""
    other_segment: Segment | None = None
    # Said in a recap ("Let me recap. I'll send…"): a promise only if it is said for the first time.
    recap: bool = False

    def evidence(self) -> list[Evidence]:
        """The words said, in the order they were said."""
        said = [(self.sentence, self.segment)]
        if self.other and self.other_segment is not None:
            said.append((self.other, self.other_segment))
        said.sort(key=lambda item: item[1].start)
        return [
            Evidence(quote=quote, at=segment.start, speaker=segment.speaker, verified=True)
            for quote, segment in said
        ]

    def side(
        self, people: Sequence[Person], rep_email: str, customer_name: str | None = None
    ) -> Side:
        """Whose commitment this is (``sides.task_side`` on the owner)."""
        return task_side(self.owner, people, rep_email, customer_name)


@dataclass(frozen=True)
class _Clause:
    text: str  # as said
    segment: int
    start: int  # character offset in the segment's text
    asked: bool  # "can you…?" rather than "I'll…"
    # A short sentence right after, without a promise of its own ("Probably end of next
    # week."): where the deadline of the clause may have been said.
    after: str = ""
    recap: bool = False


def _clauses(transcript: Transcript) -> list[_Clause]:
    found: list[_Clause] = []
    for number, segment in enumerate(transcript.segments):
        recap = _RECAP.search(segment.text)
        for sentence in _SENTENCE.finditer(segment.text):
            in_recap = recap is not None and sentence.end() > recap.start()
            said = sentence[0]
            matches = list(_COMMITMENT.finditer(said.replace("\u2019", "'")))
            for index, match in enumerate(matches):
                if _not_a_promise(said.replace("\u2019", "'"), match):
                    continue
                # Two commitments in one sentence ("I'll send the slots today, and we'll do the
                # demo next week") are two clauses, each with its own action and deadline; what
                # comes before the first ("I've got legal's approval, so") is not part of it.
                begin = match.start()
                end = matches[index + 1].start() if index + 1 < len(matches) else len(said)
                part = said[begin:end]
                clause = _CLAUSE_TAIL.sub("", part).strip()
                start = sentence.start() + begin + len(part) - len(part.lstrip())
                asked = re.fullmatch(_ASK, match["who"].lower()) is not None
                after = _afterthought(segment.text, sentence.end())
                found.append(_Clause(clause, number, start, asked, after, in_recap))
    return found


# Words that make "I'll…"/"I can…" something other than a promise: a purpose ("so I can build
# the quote"), an ability under a condition ("if you send it, I can check"), a habit ("we'll
# usually call"), or something done on the call itself ("let me share my screen").
_PURPOSE = re.compile(r"\S.*\b(?:so|so that|in order to|that way)\s*$", re.IGNORECASE)
_CONDITION = re.compile(r"^\W*(?:if|unless|whenever|then|once)\b", re.IGNORECASE)
_HABIT = re.compile(
    r"^\S+(?:\s+\S+)?\s+(?:usually|always|normally|typically|generally|often|sometimes)\b",
    re.IGNORECASE,
)
_ON_THE_CALL = re.compile(
    r"\b(?:share|sharing) (?:my|the|your) screen\b|\bshow you\b"
    r"|\bhand (?:it )?over(?: to \w+)?\W*$|\blet me ask (?:you|about)\b"
    r"|\blet me (?:just |quickly |first )*(?:run|walk|go|take you) through (?:the|our|this)\b"
    r"|\blet me (?:give|do|start with) (?:you )?(?:a |the )?(?:quick |short )?"
    r"(?:recap|summary|background|intro|overview)\b|\btake a (?:short |quick )?break\b"
    r"|\bwhen (?:he|she|they) joins?\b",
    re.IGNORECASE,
)
_RECAP = re.compile(
    r"\b(?:let me (?:just )?(?:quickly )?(?:recap|summari[sz]e|sum up)"
    r"|to (?:recap|summari[sz]e|sum up)|quick recap|in summary)\b",
    re.IGNORECASE,
)


def _not_a_promise(sentence: str, match: re.Match[str]) -> bool:
    who = match["who"].lower()
    before = sentence[: match.start()]
    clause = sentence[match.start() :]
    if _PURPOSE.search(before) and who in ("i can", "we can"):
        return True
    if who in ("i can", "we can") and _CONDITION.search(sentence):
        return True
    if who in ("you'll", "you will") and _RELATIVE.search(before):
        return True  # "deciding what you'll handle there": a description, not a request
    return bool(_HABIT.search(clause) or _ON_THE_CALL.search(clause[: len(match[0]) + 24]))


_RELATIVE = re.compile(r"\b(?:what|which|how|where|when|whether|if|that)\s*$", re.IGNORECASE)


def _afterthought(text: str, end: int) -> str:
    following = _SENTENCE.match(text, end)
    if following is None:
        return ""
    said = following[0].strip()
    if len(said.split()) > 6 or _COMMITMENT.search(said.replace("\u2019", "'")):
        return ""
    return said


def find_commitments(transcript: Transcript) -> list[Commitment]:
    segments = transcript.segments
    speakers = {s.speaker for s in segments if s.speaker != UNKNOWN_SPEAKER}
    clauses = _clauses(transcript)
    taken: set[tuple[int, int]] = set()  # clauses that are the answer to a request
    found: list[Commitment] = []
    for clause in clauses:
        if (clause.segment, clause.start) in taken:
            continue
        segment = segments[clause.segment]
        answer = _answer(transcript, clause) if clause.asked else None
        if answer == _DECLINED:
            continue
        if answer is not None:
            reply, number = answer
            taken.update(
                (c.segment, c.start)
                for c in clauses
                if c.segment == number and c.start < len(reply)
            )
            found.append(_taken_on(clause, segment, reply, segments[number]))
            continue
        owner = segment.speaker if segment.speaker != UNKNOWN_SPEAKER else ""
        due = _due(clause.text) or _due(clause.after)
        title = title_for(clause.text)
        if not clause.asked and not due and not _names_the_thing(title):
            continue  # "Ha, I'll take it.": nothing a rep could act on
        if clause.asked:
            # Asked on a call of two, the other one is who was asked; else nobody knows yet.
            others = speakers - {segment.speaker}
            owner = next(iter(others)) if len(speakers) == 2 and len(others) == 1 else ""
        found.append(Commitment(clause.text, segment, owner, due, title, recap=clause.recap))
    return found


def _taken_on(clause: _Clause, asked: Segment, reply: str, replier: Segment) -> Commitment:
    """A request and the answer that took it on: one commitment, the answerer's."""
    due = _due(reply) or _due(clause.text)
    said = title_for(reply) if _COMMITMENT.search(reply.replace("\u2019", "'")) else ""
    if _names_the_thing(said):
        # "Yes, I'll send the questionnaire this afternoon": the owner's own words lead.
        return Commitment(reply, replier, replier.speaker, due, said, clause.text, asked)
    # "Sure, I'll send it over": the ask says what "it" is.
    return Commitment(
        clause.text, asked, replier.speaker, due, title_for(clause.text), reply, replier
    )


# Words after the verb that name no thing: pronouns, prepositions and adverbs ("Send it over",
# "Chase them personally", "Get it to you earlier if I can", "Add you").
_VAGUE_OBJECT = frozenset(
    [
        "it",
        "that",
        "this",
        "them",
        "those",
        "these",
        "one",
        "over",
        "so",
        "what",
        "we",
        "i",
        "have",
        "you",
        "for",
        "with",
        "to",
        "about",
        "on",
        "personally",
        "myself",
        "ourselves",
        "directly",
        "again",
        "too",
        "also",
        "then",
        "now",
        "earlier",
        "sooner",
        "than",
        "if",
        "can",
        "possible",
        "quickly",
        "first",
        "out",
        "care",
        "of",
        "back",
    ]
)


# Reaching someone is the whole action: "I'll ping you", "I'll call you back".
_CONTACT = frozenset(
    {"ping", "call", "email", "e-mail", "text", "message", "ring", "circle", "follow", "reach"}
)


def _names_the_thing(title: str) -> bool:
    """Whether a title from an answer says what is done to what ("Send the questionnaire"),
    not only "Send it over" or "Do it"."""
    words = normalised_words(title)
    if words and (words[0] in _CONTACT or words[:2] == ["get", "back"]):
        return True
    return len(words) > 1 and not set(words[1:]) <= _VAGUE_OBJECT


def _due(text: str) -> str:
    deadline = _DEADLINE.search(text)
    return deadline[0].strip() if deadline else ""


_NO = re.compile(
    r"^\W*(?:no(?! problem| worries)|nope|unfortunately|sorry|i'm afraid|i am afraid|i'm sorry|"
    r"we can't|we cannot|i can't|i cannot|we don't|we won't|i won't|not really|not at the moment)\b"
    r"|\b(?:can't|cannot|won't be able to|not able to) (?:commit|promise|do that|agree)"
    r"|\b(?:that's|that is) not (?:possible|something we)",
    re.IGNORECASE,
)
_ALREADY = re.compile(r"\balready\b", re.IGNORECASE)
# A request the other side turned down (or had done already): no commitment at all.
_DECLINED = ("", -1)


def _answer(transcript: Transcript, clause: _Clause) -> tuple[str, int] | None:
    """The other side's reply when it takes the request on: its first sentence, or its whole
    turn when that sentence is only "Sure." (the rest of the turn often says when)."""
    asked = transcript.segments[clause.segment]
    later = transcript.segments[clause.segment + 1 : clause.segment + 1 + _ANSWER_TURNS]
    for number, segment in enumerate(later, start=clause.segment + 1):
        if segment.speaker == asked.speaker:
            continue
        if segment.speaker == UNKNOWN_SPEAKER or segment.start - asked.end > _ANSWER_SECONDS:
            return None
        first = _SENTENCE.match(segment.text)
        if first is not None and _NO.search(first[0].replace("\u2019", "'")):
            return _DECLINED
        if first is not None and not _YES.match(first[0]) and _ALREADY.search(first[0]):
            return _DECLINED  # "It's in annex one already": nothing left to do
        if first is None or not _YES.match(first[0]):
            return None
        reply = first[0].strip()
        # "Sure, I can do that. I'll send a hundred by Monday.": an acceptance that names no
        # action of its own is answered by the rest of the turn.
        names_action = _COMMITMENT.search(reply.replace("\u2019", "'")) is not None
        short = len(normalised_words(reply)) <= 2 or not names_action
        return (segment.text if short else reply), number
    return None


def _spans(index: TranscriptIndex, commitment: Commitment) -> list[tuple[int, int]]:
    """Where the commitment's words are in the call: the clause, and the other one if any."""
    found = (index.span(e.quote, e.at) for e in commitment.evidence())
    return [span for span in found if span is not None]


def _covered(commitment: Commitment, tasks: list[Task], index: TranscriptIndex) -> bool:
    """Whether a task's evidence is these words of the call: most of the clause lies in a
    verified quote, and the quote is mostly this clause or the task names its action."""
    clause_words = content_words(commitment.sentence)
    for said in _spans(index, commitment):
        for task in tasks:
            about = bool(content_words(task.title) & clause_words)
            for evidence in task.evidence:
                if not evidence.verified:
                    # Words the model wrote that are not in the call prove nothing was captured;
                    # letting them cover a commitment would lose it.
                    continue
                quoted = index.span(evidence.quote, evidence.at)
                if quoted is None:
                    continue
                shared = min(said[1], quoted[1]) - max(said[0], quoted[0]) + 1
                quoted_size = quoted[1] - quoted[0] + 1
                if shared >= 0.5 * (said[1] - said[0] + 1) and (
                    about or shared >= 0.5 * quoted_size
                ):
                    return True
                # The task quotes the promise inside a longer answer ("Yeah, I can pull that.
                # I'll get you the export early next week, our month-end…").
                if about and shared >= 0.8 * quoted_size:
                    return True
    return False


def uncovered_commitments(transcript: Transcript, tasks: list[Task]) -> list[Commitment]:
    index = TranscriptIndex(transcript)
    found = find_commitments(transcript)
    covered = [c for c in found if _covered(c, tasks, index)]
    return [
        c
        for c in found
        if not any(c is o for o in covered)
        and not _part_of_another(c, covered, found, tasks, index)
    ]


# Weaker than a promise: a need, an offer, a "let me", often said again about something
# already taken on, or on the way to it.
_WEAK = re.compile(r"^\W*(?:(?:i|we) (?:need to|have to|should|can)|let me|lemme)\b", re.IGNORECASE)
# Words two clauses share without being about the same thing.
_GENERIC = frozenset(
    {"send", "get", "make", "sure", "need", "check", "take", "give", "back", "over", "up", "all"}
)


def _about(text: str) -> set[str]:
    return content_words(text) - _GENERIC


def _weak(commitment: Commitment) -> bool:
    """A need, an offer or a "let me", or a request answered only with "yes"."""
    if _WEAK.match(commitment.sentence):
        return True
    reply = commitment.other if commitment.other_segment is not None else ""
    return bool(reply) and not _COMMITMENT.search(reply.replace("\u2019", "'"))


def _part_of_another(
    commitment: Commitment,
    covered: list[Commitment],
    found: list[Commitment],
    tasks: list[Task],
    index: TranscriptIndex,
) -> bool:
    """A clause that only prepares or restates a promise a task already holds: a weak one
    (a need, an offer, a "let me", a bare "yes") that a task of the same person is about
    ("I need to talk to my accountant" / "I'll go through it with Mathilde"); one in the same
    turn as a promise a task holds, without a deadline of its own and about the same thing
    ("Once it's signed, I'll raise the PO. I'll make sure the PO is out by the end of
    January"), or weak ("Let me go ask. I'll have an answer by Tuesday"); or words that name
    nothing after another promise of the same speaker in the turn ("…within two weeks. Even if
    it isn't final, I'll send what we have")."""
    words = _about(commitment.sentence)
    owner = [Person(commitment.owner)] if commitment.owner else []
    theirs = [t for t in tasks if owner and match_person(t.owner, owner) is not None]
    if commitment.recap and (
        any(words & _about(" ".join([t.title, *(e.quote for e in t.evidence)])) for t in theirs)
        or any(
            o.segment.start < commitment.segment.start
            and o.owner == commitment.owner
            and words & _about(o.sentence)
            for o in found
        )
    ):
        return True  # a recap says again what was promised
    weak = _weak(commitment)
    if weak and any(
        words & _about(" ".join([t.title, *(e.quote for e in t.evidence)])) for t in theirs
    ):
        return True
    in_turn = [t for t in theirs if _said_in(t, commitment.segment, index)]
    if in_turn and (
        weak
        or (
            not commitment.due_text
            and any(
                words & _about(" ".join([t.title, *(e.quote for e in t.evidence)])) for t in in_turn
            )
        )
    ):
        return True
    same_turn = [
        o
        for o in found
        if o is not commitment and o.segment is commitment.segment and o.owner == commitment.owner
    ]
    held = [o for o in same_turn if any(o is c for c in covered)]
    if any(words & _about(o.sentence) for o in held) or (held and weak):
        return True
    return bool(same_turn or in_turn) and not _names_the_thing(commitment.title)


def _said_in(task: Task, segment: Segment, index: TranscriptIndex) -> bool:
    """Whether a task's verified evidence is words of this turn."""
    for evidence in task.evidence:
        span = index.span(evidence.quote, evidence.at) if evidence.verified else None
        if span is not None and index.segment_of(span[0]) is segment:
            return True
    return False


def recall_tasks(transcript: Transcript, tasks: list[Task], context: CallContext) -> list[Task]:
    """The commitments no task covers, as tasks for the rep to keep or reject."""
    found = [
        Task(
            title=c.title or title_for(c.sentence),
            description=_description(c),
            owner=c.owner,
            due_text=c.due_text,
            due_date=resolve_deadline(
                c.due_text, context.started_at, context.timezone, context.country
            ),
            priority=Priority.LOW,
            evidence=c.evidence(),
            confidence=0.3,
            origin="recall_check",
        )
        for c in uncovered_commitments(transcript, tasks)
    ]
    # The same promise said twice in the call is one finding.
    return merge_duplicates(found, context.participants)


def _description(commitment: Commitment) -> str:
    if commitment.other_segment is None:
        return ""
    asker = min((commitment.segment, commitment.other_segment), key=lambda s: s.start).speaker
    return f"{asker} asked; {commitment.owner} took it on."


_OPENER = re.compile(
    r"^(?:(?:yes|yeah|sure|okay|ok|right|great|so|and|well|perfect|"
    r"of course|no problem)\b[\s,.!-]*)+",
    re.IGNORECASE,
)
# Words between "I'll" and the verb that are not the action: "I'll just quickly send".
_FILLER = frozenset(
    {
        "just",
        "also",
        "quickly",
        "definitely",
        "probably",
        "then",
        "please",
        "certainly",
        "actually",
        "personally",
        "still",
        "first",
        "gladly",
        "go",
        "ahead",
        "and",
        "try",
        "to",
        "make",
        "sure",
        "be",
        "able",
    }
)
_PRONOUN_OBJECTS = frozenset({"me", "us", "you", "them", "him", "her", "over"})
_TO_US = re.compile(r"\s+(?:to|for|with)\s+(?:you|me|us|them)\b", re.IGNORECASE)
_CLAUSE_END = re.compile(
    r"[,;:?!.]|\s(?:and|but|so|because|if|when|once|after|while)\s+"
    r"(?:i|we|you|they|he|she|it)\b|\s(?:so that|because|as soon as)\b",
    re.IGNORECASE,
)
_TITLE_WORDS = 8
_TRAILING = frozenset(
    {"the", "a", "an", "to", "and", "of", "with", "for", "on", "in", "at", "about", "from", "by"}
    | {"into", "your", "our", "my", "their", "this", "that"}
)


def title_for(sentence: str) -> str:
    """An action title for a commitment ("Can you send me the questionnaire today?" is
    "Send the questionnaire"): the verb and what it is done to, without the deadline."""
    text = sentence.replace("\u2019", "'")
    match = _COMMITMENT.search(text)
    if match is None:
        rest = _OPENER.sub("", text).strip() or text
    else:
        rest = text[match.end("who") :]
        action_at = match.start("action") - match.end("who")
        deadline = _DEADLINE.search(rest, action_at)
        if deadline is not None:
            rest = rest[: deadline.start()]
    end = _CLAUSE_END.search(rest, 1)
    rest = _TO_US.sub("", rest[: end.start()] if end else rest)
    words = rest.split()
    while len(words) > 1 and words[0].lower() in _FILLER:
        words.pop(0)
    if len(words) > 2 and words[1].lower() in _PRONOUN_OBJECTS:
        words.pop(1)
    words = words[:_TITLE_WORDS]
    while len(words) > 1 and words[-1].lower() in _TRAILING:
        words.pop()
    if not words:
        return sentence.strip()
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])
