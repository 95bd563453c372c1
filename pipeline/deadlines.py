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
  passed), and "before the fifteenth" the day before;
- "EOD", "COB", "end of day" and "first thing" only say when on the day: "COB Friday" is
  Friday, "EOD tomorrow" tomorrow;
- "in two hours" is counted from the call's start time; "over the weekend" is its Sunday;
  "Monday week" / "a week from Monday" are a week after that Monday; "the week after next"
  is that week's Friday; "Q1" to "Q4" end on their quarter's last day;
- business days skip weekends and the public holidays of the rep's country;
- a date past already ("last Friday", "yesterday") is no deadline;
- numeric dates are read month first in the US and day first elsewhere.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.holidays_named import country_of_zone, find_holiday, is_public_holiday

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
    phrase: str | None,
    call_start: datetime,
    timezone: str | ZoneInfo,
    country: str | None = None,
) -> date | None:
    """The date meant by ``phrase`` as said on a call that started at ``call_start``.

    ``country`` (ISO 3166 alpha-2) names the rep's holidays; without it, the time zone's.
    """
    if not phrase or not phrase.strip():
        return None
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    if call_start.tzinfo is None:
        raise ValueError("call start time must be timezone-aware")
    local = call_start.astimezone(zone)
    when = _Now(local.date(), local, country or country_of_zone(str(zone.key)))
    text = " ".join(
        re.sub(r"[^\w\s/.-]", " ", phrase.lower().replace("'", "").replace("\u2019", "")).split()
    )
    if _PAST.search(text):
        return None
    for rule in _RULES:
        resolved = rule(text, when)
        if resolved is not None:
            return resolved if resolved >= when.today else None
    if _VAGUE.search(text):
        return None
    explicit = _explicit_date(text, when)
    return explicit if explicit is not None and explicit >= when.today else None


@dataclass(frozen=True)
class _Now:
    today: date
    moment: datetime
    country: str | None


_PAST = re.compile(
    rf"\b(yesterday|last week(?! of)|last month(?! of)|(last|past) ({_WEEKDAY_RE}))\b|\bago\b"
)


def is_vague(phrase: str) -> bool:
    """True for deadline words that name no date ("soon", "ASAP")."""
    return bool(_VAGUE.search(phrase.lower()))


_ORDINAL_WORDS = [
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
]
_ORDINALS = {word: n for n, word in enumerate(_ORDINAL_WORDS, start=1)}
_ORDINALS.update({word.replace("-", " "): n for word, n in list(_ORDINALS.items())})
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
# Words that say when on a day, not which day: "COB Friday" is Friday.
_ON_THE_DAY = (
    r"today|tonight|eod|cob|eob|end of (the )?(day|business)|close of (business|play)|"
    r"this (afternoon|evening|morning)|later today|by noon|by lunch(time)?|before lunch(time)?|"
    r"right away|straight away|immediately|first thing|within the hour"
)
_NAMES_A_DAY = re.compile(
    rf"\b({_WEEKDAY_RE}|tomorrow|tmrw|tmr|{_MONTHS}|{_ORDINAL_RE}|\d+(st|nd|rd|th)?)\b"
)


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


def _after_the_call(text: str, now: _Now) -> date | None:
    if re.search(
        r"\b(right |straight |just |directly )?after (this|the|our) (call|meeting)\b", text
    ):
        return now.today
    return None


def _hours(text: str, now: _Now) -> date | None:
    """ "In two hours", "within 48 hours": the day that many hours after the call's start."""
    match = re.search(
        r"\b(?:in|within|inside of)\s+(?:the\s+next\s+)?(?P<n>\d+|a couple of|a couple|"
        r"couple of|a few|few|an|a|one|two|three|four|five|six|eight|twelve)\s+hours?\b",
        text,
    )
    if match is None:
        return None
    count = int(match["n"]) if match["n"].isdigit() else _NUMBERS[match["n"]]
    return (now.moment + timedelta(hours=count)).date()


def _holiday(text: str, now: _Now) -> date | None:
    if re.search(r"\bafter the (holidays|holiday break|christmas break|break)\b", text):
        new_year = _next_occurrence(now.today, 1, 1)
        return _add_business_days(new_year, 1, now.country)
    if re.search(r"\bbefore the (holidays|holiday break|christmas break|break)\b", text):
        return _next_occurrence(now.today, 12, 23)
    if re.search(r"\bafter\b|\bin the new year\b", text):
        return None  # "after Easter", "in the new year" name no day by which it is due
    day = find_holiday(text, now.today, now.country)
    if day is None:
        return None
    return day - timedelta(days=1) if re.search(r"\bbefore\b", text) else day


def _quarter_name(text: str, now: _Now) -> date | None:
    """ "End of Q1", "by Q3": the last day of that quarter, this year's or the next one;
    "end of H1" the end of June, "H2" of December."""
    half = re.search(r"\b(?:end of )?h(?P<n>[12])\b", text)
    if half is not None:
        return _next_occurrence(now.today, 6 if half["n"] == "1" else 12, 31)
    match = re.search(r"\b(?:(?P<start>start of|beginning of|early) )?q(?P<n>[1-4])\b", text)
    if match is None:
        return None
    quarter = int(match["n"])
    if match["start"]:
        return _next_occurrence(now.today.replace(day=1), quarter * 3 - 2, 1)
    return _next_occurrence(now.today, quarter * 3, 31)


def _part_of_month(text: str, now: _Now) -> date | None:
    today = now.today
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


def _ordinal_day(text: str, now: _Now) -> date | None:
    today = now.today
    ordinal = re.search(
        rf"\b(?P<before>before|by|on|until)?\s*(?P<the>the\s+)?"
        rf"(?P<n>{_ORDINAL_RE}|\d{{1,2}}(?:st|nd|rd|th))"
        rf"(?:\s+(?:of\s+)?(?P<month>{_MONTHS}))?\b",
        text,
    )
    if ordinal is None or not (ordinal["before"] or ordinal["month"] or ordinal["the"]):
        return None
    if re.match(r"\s*(week|thing|quarter|half)\b", text[ordinal.end() :]):
        return None  # "the first week of", "first thing": not a day of the month
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


def _relative_day(text: str, now: _Now) -> date | None:
    today = now.today
    if "day after tomorrow" in text:
        return today + timedelta(days=2)
    if re.search(r"\b(week from|a week) (tomorrow|tmrw)\b|\btomorrow week\b", text):
        return today + timedelta(days=8)
    if re.search(r"\btomorrow\b|\btmrw\b|\btmr\b", text):
        return today + timedelta(days=1)
    if re.search(r"\b(a week from today|this time next week)\b", text):
        return today + timedelta(days=7)
    if re.search(r"\bnext (business|working) day\b", text):
        return _add_business_days(today, 1, now.country)
    if re.search(rf"\b({_ON_THE_DAY})\b", text) and not _NAMES_A_DAY.search(text):
        return today
    return None


def _span(text: str, now: _Now) -> date | None:
    today = now.today
    if re.search(r"\b(in|within) (a|one) fortnight\b|\bfortnight\b", text):
        return today + timedelta(days=14)
    match = re.search(
        r"\b(?:in|within|inside of|after|over)\s+(?:the\s+next\s+)?"
        r"(?P<n>\d+|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|five|six|"
        r"seven|eight|nine|ten|eleven|twelve)\s+(?P<unit>business days?|working days?|days?|"
        r"weeks?|months?)\b",
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
        return _add_business_days(today, count, now.country)
    if unit.startswith("day"):
        return today + timedelta(days=count)
    if unit.startswith("week"):
        return today + timedelta(weeks=count)
    return _add_months(today, count)


def _week(text: str, now: _Now) -> date | None:
    today = now.today
    monday = today - timedelta(days=today.weekday())
    if re.search(r"\b(end of )?(the )?week after next\b", text) and not re.search(
        _WEEKDAY_RE, text
    ):
        return monday + timedelta(days=18)
    if re.search(r"\b(early|beginning of|start of)[\s-]next week\b", text):
        return monday + timedelta(days=7)
    if re.search(r"\b(mid|middle of)[\s-]next week\b", text):
        return monday + timedelta(days=9)
    if re.search(r"\b(end of |late )?next week\b", text) and not re.search(
        rf"\b({_WEEKDAY_RE})\b", text
    ):
        return monday + timedelta(days=11)
    if re.search(r"\b(over|on|during) the weekend\b|\bthis weekend\b", text):
        return monday + timedelta(days=6)
    if re.search(
        r"\b(end of (the |this )?(working |work )?week|eow|this week|by the weekend)\b", text
    ):
        friday = monday + timedelta(days=4)
        return friday if friday >= today else friday + timedelta(days=7)
    return None


def _weekday(text: str, now: _Now) -> date | None:
    today = now.today
    match = re.search(rf"\b(?P<which>this|next|coming)?\s*(?P<day>{_WEEKDAY_RE})\b", text)
    if match is None:
        return None
    target = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(match["day"][:3]))
    monday = today - timedelta(days=today.weekday())
    after = text[match.end() :]
    # "Thursday next week", "next week Thursday": the weekday of next week, whatever its place.
    if match["which"] == "next" or re.search(r"\bnext week\b", text):
        day = monday + timedelta(days=7 + target)
    elif re.search(r"\bweek after next\b", text):
        day = monday + timedelta(days=14 + target)
    elif match["which"] == "this":
        candidate = monday + timedelta(days=target)
        day = candidate if candidate >= today else candidate + timedelta(days=7)
    else:
        day = today + timedelta(days=(target - today.weekday()) % 7 or 7)
    # "Monday week", "a week from Friday", "two weeks from Monday": that many weeks later.
    weeks = re.search(r"\b(?P<n>a|one|two|three|\d+) weeks? from\s*$", text[: match.start()])
    if weeks is not None:
        count = int(weeks["n"]) if weeks["n"].isdigit() else _NUMBERS[weeks["n"]]
        day += timedelta(weeks=count)
    elif re.match(r"\s+week\b", after):
        day += timedelta(weeks=1)
    return day


def _month_quarter_year(text: str, now: _Now) -> date | None:
    today = now.today
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


def _numeric_date(text: str, now: _Now) -> date | None:
    """ "12/15", "15.01.", "4/1/2027": month first in the US with slashes, day first elsewhere
    and always with dots (the German and Nordic way)."""
    match = re.search(
        r"(?<![\d./-])(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?:(?P=sep)(?P<y>\d{2}|\d{4}))?"
        r"(?![\d/-]|\.\d)",
        text,
    )
    if match is None:
        return None
    first, second = int(match["a"]), int(match["b"])
    month_first = match["sep"] == "/" and now.country in _MONTH_FIRST
    month, day = (first, second) if month_first else (second, first)
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(2024, month)[1]):
        return None
    if match["y"]:
        year = int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
        try:
            return date(year, month, day)
        except ValueError:
            return None
    return _next_occurrence(now.today, month, day)


def _explicit_date(text: str, now: _Now) -> date | None:
    # Only hand text to dateparser when it names a date; it reads too much into prose.
    if not re.search(rf"\d|\b({_MONTHS})\b", text):
        return None
    import dateparser  # imported lazily: it costs about a second

    today = now.today
    cleaned = re.sub(r"\b(by|before|until|no later than|on|due|the|of)\b", " ", text)
    parsed = dateparser.parse(
        " ".join(cleaned.split()).strip(". "),
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime(today.year, today.month, today.day),  # noqa: DTZ001
            "PREFER_DAY_OF_MONTH": "first",
            "REQUIRE_PARTS": ["day"],
            "DATE_ORDER": "MDY" if now.country in _MONTH_FIRST else "DMY",
        },
    )
    return parsed.date() if parsed is not None else None


# Where 3/4 is the fourth of March.
_MONTH_FIRST = frozenset({"US", "PH", "CA", "FM", "MH", "PW"})


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def _add_business_days(day: date, count: int, country: str | None = None) -> date:
    current = day
    while count > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and not is_public_holiday(country, current):
            count -= 1
    return current


def agrees_with_words(phrase: str, proposed: date, call_start: datetime, timezone: str) -> bool:
    """Whether a date a model proposed for ``phrase`` can be what was meant: within a year of
    the call, and not against any weekday, month, day of the month or week the words name."""
    today = call_day(call_start, timezone)
    if not today <= proposed <= _add_months(today, 12):
        return False
    text = " ".join(re.sub(r"[^\w\s]", " ", phrase.lower().replace("'", "")).split())
    weekdays = {_weekday_index(m[1]) for m in re.finditer(rf"\b({_WEEKDAY_RE})\b", text)}
    if weekdays and proposed.weekday() not in weekdays:
        return False
    months = {_month_number(m[1]) for m in re.finditer(rf"\b({_MONTHS})\b", text)}
    if months and proposed.month not in months:
        return False
    days = {
        _ORDINALS[m[1]] if m[1] in _ORDINALS else int(re.sub(r"\D", "", m[1]))
        for m in re.finditer(
            rf"\b({_ORDINAL_RE}|\d{{1,2}}(?:st|nd|rd|th)?)\b(?!\s*(am|pm|h)\b)", text
        )
    }
    if days and proposed.day not in days:
        return False
    monday = today - timedelta(days=today.weekday())
    if re.search(r"\bnext week\b", text):
        return monday + timedelta(days=7) <= proposed < monday + timedelta(days=14)
    if re.search(r"\bthis week\b", text):
        return proposed < monday + timedelta(days=7)
    return True


def _weekday_index(word: str) -> int:
    return next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(word[:3]))


_RULES: tuple[Callable[[str, _Now], date | None], ...] = (
    _after_the_call,
    _hours,
    _holiday,
    _quarter_name,
    _part_of_month,
    _ordinal_day,
    _relative_day,
    _span,
    _week,
    _weekday,
    _month_quarter_year,
    _numeric_date,
)
