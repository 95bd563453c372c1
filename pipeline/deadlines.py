"""Turn what was said about a deadline ("by Friday", "end of month") into a calendar date.

Relative expressions are resolved against the call's start in the rep's time zone, because
"tomorrow" said at 23:30 in Berlin is not "tomorrow" in UTC. Anything vague ("soon", "ASAP")
or unresolvable stays ``None``: a deadline nobody said is never invented.

The conventions, chosen to read the way a sales rep means them:
- a bare weekday ("by Friday") is its next occurrence after the call day;
- "this Friday" is the Friday of the current week (today included), or the next one if passed;
- "next Friday" is the Friday of next week (weeks start on Monday);
- "next week" and "end of next week" are next week's Friday, "early next week" its Monday;
- "end of week", "end of month", "end of quarter", "end of year" are the last (working) day;
- "next month" / "next quarter" are the last day of that period;
- a weekday with "next week" anywhere ("Thursday next week") is that day of next week;
- "right after this call" is the call's day; a named holiday is its next occurrence, and
  "before" it the day before ("before Christmas": 24 December), "before the holidays" 23
  December;
- parts of a month: early the 5th, mid the 15th, late the 25th, end the last day; "the second
  week of January" is that week's Friday (weeks counted from the 1st);
- "the 15th" / "the fifteenth of December" is that day (this month's, or the next one's once
  passed), and "before the fifteenth" the day before.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_RE = "|".join(_WEEKDAYS) + "|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "a couple": 2,
    "a couple of": 2,
    "couple of": 2,
    "few": 3,
    "a few": 3,
}
_VAGUE = re.compile(
    r"\b(asap|as soon as possible|soon|sometime|some time|later|at some point|"
    r"whenever|eventually|shortly)\b"
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|"
    "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)


def call_day(call_start: datetime, timezone: str | ZoneInfo) -> date:
    """The calendar day of the call where the rep is."""
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    if call_start.tzinfo is None:
        raise ValueError("call start time must be timezone-aware")
    return call_start.astimezone(zone).date()


def resolve_deadline(
    phrase: str | None, call_start: datetime, timezone: str | ZoneInfo
) -> date | None:
    """The date meant by ``phrase`` as said on a call that started at ``call_start``."""
    if not phrase or not phrase.strip():
        return None
    today = call_day(call_start, timezone)
    text = " ".join(re.sub(r"[^\w\s/.-]", " ", phrase.lower()).split())
    for rule in (_named, _relative_day, _span, _week, _weekday, _month_quarter_year):
        resolved = rule(text, today)
        if resolved is not None:
            return resolved if resolved >= today else None
    if _VAGUE.search(text):
        return None
    explicit = _explicit_date(text, today)
    return explicit if explicit is not None and explicit >= today else None


def is_vague(phrase: str) -> bool:
    """True for deadline words that name no date ("soon", "ASAP")."""
    return bool(_VAGUE.search(phrase.lower()))


_ORDINALS = {
    word: n
    for n, word in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
            "twenty-first",
            "twenty-second",
            "twenty-third",
            "twenty-fourth",
            "twenty-fifth",
            "twenty-sixth",
            "twenty-seventh",
            "twenty-eighth",
            "twenty-ninth",
            "thirtieth",
            "thirty-first",
        ],
        start=1,
    )
}
_ORDINAL_RE = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
# The holidays reps name for deadlines, as (month, day); Easter-based ones are not fixed.
_HOLIDAYS = {
    "christmas eve": (12, 24),
    "christmas": (12, 25),
    "xmas": (12, 25),
    "boxing day": (12, 26),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "new year s eve": (12, 31),  # the apostrophe is gone once the phrase is normalised
    "new year s day": (1, 1),
    "valentine s day": (2, 14),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "new year": (1, 1),
    "halloween": (10, 31),
    "valentine's day": (2, 14),
    "valentines day": (2, 14),
    "independence day": (7, 4),
}
_HOLIDAY_RE = "|".join(re.escape(h) for h in sorted(_HOLIDAYS, key=len, reverse=True))


def _month_number(word: str) -> int | None:
    for number, name in enumerate(_MONTH_NAMES, start=1):
        if word == name or (len(word) >= 3 and name.startswith(word)):
            return number
    return None


def _next_occurrence(today: date, month: int, day: int) -> date:
    """The date this month and day fall on next, today included."""
    last = calendar.monthrange(today.year, month)[1]
    this_year = date(today.year, month, min(day, last))
    if this_year >= today:
        return this_year
    last = calendar.monthrange(today.year + 1, month)[1]
    return date(today.year + 1, month, min(day, last))


def _named(text: str, today: date) -> date | None:
    """The call itself, holidays, parts of a named month, and ordinal days of the month."""
    for rule in (_after_the_call, _holiday, _part_of_month, _ordinal_day):
        resolved = rule(text, today)
        if resolved is not None:
            return resolved
    return None


def _after_the_call(text: str, today: date) -> date | None:
    if re.search(
        r"\b(right |straight |just |directly )?after (this|the|our) (call|meeting)\b", text
    ):
        return today
    return None


def _holiday(text: str, today: date) -> date | None:
    if re.search(r"\bbefore the (holidays|holiday break|christmas break|break)\b", text):
        return _next_occurrence(today, 12, 23)
    holiday = re.search(rf"\b(?P<before>before )?(?P<name>{_HOLIDAY_RE})\b", text)
    if holiday is None:
        return None
    month, day = _HOLIDAYS[holiday["name"]]
    when = _next_occurrence(today, month, day)
    return when - timedelta(days=1) if holiday["before"] else when


def _part_of_month(text: str, today: date) -> date | None:
    part = re.search(
        r"\b(?:(?P<part>early|beginning of|start of|mid|middle of|late|end of)[\s-]+"
        r"|(?P<nth>first|second|third|fourth|last) week of )"
        rf"(?P<month>{_MONTHS}|next month)\b",
        text,
    )
    if part is None:
        return None
    if part["month"] == "next month":
        first = _add_months(today.replace(day=1), 1)
    else:
        number = _month_number(part["month"])
        if number is None:
            return None
        first = _next_occurrence(today.replace(day=1), number, 1)
    last = calendar.monthrange(first.year, first.month)[1]
    if part["nth"] is not None:
        # The Friday of that week of the month (weeks counted from the month's first day).
        index = {"first": 1, "second": 2, "third": 3, "fourth": 4}.get(part["nth"])
        start = first.replace(day=last - 6 if index is None else 7 * index - 6)
        return start + timedelta(days=(4 - start.weekday()) % 7)
    day = _PART_DAY.get(part["part"], last)
    resolved = first.replace(day=min(day, last))
    return resolved if resolved >= today else None


_PART_DAY = {"early": 5, "beginning of": 5, "start of": 5, "mid": 15, "middle of": 15, "late": 25}


def _ordinal_day(text: str, today: date) -> date | None:
    ordinal = re.search(
        rf"\b(?P<before>before|by|on|until)?\s*(?P<the>the\s+)?"
        rf"(?P<n>{_ORDINAL_RE}|\d{{1,2}}(?:st|nd|rd|th))"
        rf"(?:\s+(?:of\s+)?(?P<month>{_MONTHS}))?\b",
        text,
    )
    if ordinal is None or not (ordinal["before"] or ordinal["month"] or ordinal["the"]):
        return None
    raw = ordinal["n"]
    day = _ORDINALS[raw] if raw in _ORDINALS else int(re.sub(r"\D", "", raw))
    if not 1 <= day <= 31:
        return None
    if ordinal["month"]:
        number = _month_number(ordinal["month"])
        if number is None:
            return None
        when = _next_occurrence(today, number, day)
    else:
        # This month's, or next month's once it has passed.
        month = today if day >= today.day else _add_months(today.replace(day=1), 1)
        when = month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))
    return when - timedelta(days=1) if ordinal["before"] == "before" else when


def _relative_day(text: str, today: date) -> date | None:
    if "day after tomorrow" in text:
        return today + timedelta(days=2)
    if re.search(r"\btomorrow\b|\btmrw\b|\btmr\b", text):
        return today + timedelta(days=1)
    if re.search(
        r"\b(today|tonight|eod|cob|eob|end of (the )?(day|business)|"
        r"close of business|this (afternoon|evening|morning))\b",
        text,
    ):
        return today
    return None


def _span(text: str, today: date) -> date | None:
    match = re.search(
        r"\b(?:in|within|inside of|after)\s+(?:the\s+next\s+)?"
        r"(?P<n>\d+|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|five|six|"
        r"seven|eight|nine|ten|eleven|twelve)\s+(?P<unit>business days?|working days?|days?|"
        r"weeks?|months?|hours?)\b",
        text,
    ) or re.search(
        r"\b(?P<n>\d+|a|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
        r"(?P<unit>business days?|working days?|days?|weeks?|months?)\s+from\s+(now|today)\b",
        text,
    )
    if match is None:
        return None
    count = int(match["n"]) if match["n"].isdigit() else _NUMBERS[match["n"]]
    unit = match["unit"]
    if unit.startswith(("business", "working")):
        return _add_business_days(today, count)
    if unit.startswith("day"):
        return today + timedelta(days=count)
    if unit.startswith("week"):
        return today + timedelta(weeks=count)
    if unit.startswith("hour"):
        return today + timedelta(days=math.ceil(count / 24))
    return _add_months(today, count)


def _week(text: str, today: date) -> date | None:
    monday = today - timedelta(days=today.weekday())
    if re.search(r"\b(early|beginning of|start of) next week\b", text):
        return monday + timedelta(days=7)
    if re.search(r"\b(mid|middle of) next week\b", text):
        return monday + timedelta(days=9)
    if re.search(r"\b(end of )?next week\b", text) and not re.search(_WEEKDAY_RE, text):
        return monday + timedelta(days=11)
    if re.search(r"\b(end of (the |this )?week|eow|this week|by the weekend)\b", text):
        friday = monday + timedelta(days=4)
        return friday if friday >= today else friday + timedelta(days=7)
    return None


def _weekday(text: str, today: date) -> date | None:
    match = re.search(rf"\b(?P<which>this|next|coming)?\s*(?P<day>{_WEEKDAY_RE})\b", text)
    if match is None:
        return None
    target = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(match["day"][:3]))
    monday = today - timedelta(days=today.weekday())
    # "Thursday next week", "next week Thursday": the weekday of next week, whatever its place.
    if match["which"] == "next" or re.search(r"\bnext week\b", text):
        return monday + timedelta(days=7 + target)
    if match["which"] == "this":
        candidate = monday + timedelta(days=target)
        return candidate if candidate >= today else candidate + timedelta(days=7)
    ahead = (target - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _month_quarter_year(text: str, today: date) -> date | None:
    if re.search(r"\b(end of |by )?next month\b", text):
        return _month_end(_add_months(today.replace(day=1), 1))
    if re.search(r"\b(end of (the |this )?month|eom|this month|month end|month-end)\b", text):
        return _month_end(today)
    quarter_end_month = ((today.month - 1) // 3 + 1) * 3
    if re.search(r"\bnext quarter\b", text):
        return _month_end(_add_months(date(today.year, quarter_end_month, 1), 3))
    if re.search(r"\b(end of (the |this )?quarter|eoq|this quarter|quarter end|q end)\b", text):
        return _month_end(date(today.year, quarter_end_month, 1))
    if re.search(r"\b(end of (the |this )?year|eoy|year end|year-end|this year)\b", text):
        return date(today.year, 12, 31)
    if re.search(r"\bnext year\b", text):
        return date(today.year + 1, 12, 31)
    return None


def _explicit_date(text: str, today: date) -> date | None:
    # Only hand text to dateparser when it names a date; it reads too much into prose.
    if not re.search(rf"\d|\b({_MONTHS})\b", text):
        return None
    import dateparser  # imported lazily: it costs about a second

    cleaned = re.sub(r"\b(by|before|until|no later than|on|due|the|of)\b", " ", text)
    parsed = dateparser.parse(
        " ".join(cleaned.split()),
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime(today.year, today.month, today.day),  # noqa: DTZ001
            "PREFER_DAY_OF_MONTH": "first",
            "REQUIRE_PARTS": ["day"],
        },
    )
    return parsed.date() if parsed is not None else None


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def _add_business_days(day: date, count: int) -> date:
    current = day
    while count > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            count -= 1
    return current
