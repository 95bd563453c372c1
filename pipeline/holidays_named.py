"""Holidays a rep names for a deadline ("before Thanksgiving", "by Easter Monday").

The rep's country decides which holidays there are and when (Thanksgiving in the US, Boxing
Day in the UK, Whit Monday in Germany): the public holidays come from the ``holidays``
package, in English. Days every rep names whatever their country (Christmas Eve, New Year's
Eve, Easter, Valentine's Day) are added to every country's list. Without a country, only those.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

import holidays
from dateutil.easter import easter

_WORD = re.compile(r"[a-z]+")
# Words that name no holiday by themselves.
_FILLER = frozenset({"day", "the", "s", "of", "observed", "estimated", "holiday"})


def _common(year: int) -> dict[date, str]:
    sunday = easter(year)
    return {
        date(year, 2, 14): "Valentine's Day",
        sunday - timedelta(days=2): "Good Friday",
        sunday: "Easter",
        sunday + timedelta(days=1): "Easter Monday",
        sunday + timedelta(days=49): "Pentecost",
        sunday + timedelta(days=50): "Whit Monday",
        date(year, 10, 31): "Halloween",
        date(year, 12, 24): "Christmas Eve",
        date(year, 12, 25): "Christmas Day",
        date(year, 12, 26): "Boxing Day",
        date(year, 12, 31): "New Year's Eve",
        date(year, 1, 1): "New Year's Day",
    }


@lru_cache(maxsize=64)
def holiday_calendar(country: str | None, year: int) -> dict[date, tuple[str, ...]]:
    """Every named day of ``year`` where the rep is, each with the names it goes by."""
    named: dict[date, set[str]] = {}
    for day, name in _common(year).items():
        named.setdefault(day, set()).add(name)
    if country:
        try:
            public = holidays.country_holidays(country, years=year, language="en_US")
        except (NotImplementedError, KeyError):
            public = None
        if public is not None:
            for day, names in public.items():
                for name in str(names).split("; "):
                    named.setdefault(day, set()).add(name)
    return {day: tuple(sorted(names)) for day, names in sorted(named.items())}


def is_public_holiday(country: str | None, day: date) -> bool:
    """A day off where the rep works (the country's public holidays only)."""
    if not country:
        return False
    return day in _public_days(country, day.year)


@lru_cache(maxsize=64)
def _public_days(country: str, year: int) -> frozenset[date]:
    # Counting business days asks about every day in turn: the year's list is built once.
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except (NotImplementedError, KeyError):
        return frozenset()


def _key(name: str) -> tuple[str, ...]:
    words = [w for w in _WORD.findall(name.lower().replace("'", "")) if w not in _FILLER]
    # "xmas" and "new year" are what people say for Christmas and New Year's Day.
    return tuple({"xmas": "christmas", "years": "year"}.get(w, w) for w in words)


# Holidays said without "day"; every other one-word name needs it ("Memorial Day", not a
# memorial, "Australia Day", not Australia).
_SAID_ALONE = frozenset({"christmas", "thanksgiving", "easter", "halloween", "pentecost"})


def _says(words: tuple[str, ...], text_words: list[str], name: str) -> bool:
    size = len(words)
    for i in range(len(text_words) - size + 1):
        if tuple(text_words[i : i + size]) != words:
            continue
        needs_day = size == 1 and "day" in name.lower().split() and words[0] not in _SAID_ALONE
        if not needs_day or text_words[i + size : i + size + 1] == ["day"]:
            return True
    return False


def find_holiday(text: str, today: date, country: str | None) -> date | None:
    """The next holiday named in ``text``, today included: the longest name said wins
    ("Christmas Eve" over "Christmas", "Easter Monday" over "Easter"), then the nearest day."""
    text_words = [
        {"xmas": "christmas", "years": "year"}.get(w, w)
        for w in _WORD.findall(text.lower().replace("'", ""))
        if w not in ("the", "s", "of")
    ]
    best: tuple[int, date] | None = None
    for year in (today.year, today.year + 1):
        for day, names in holiday_calendar(country, year).items():
            if day < today:
                continue
            for name in names:
                key = _key(name)
                if key and _says(key, text_words, name):
                    rank = len(key)
                    if best is None or rank > best[0] or (rank == best[0] and day < best[1]):
                        best = (rank, day)
    return best[1] if best is not None else None


def _packaged_zone_tab() -> str:
    return resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    table: dict[str, str] = {}
    for read in (_packaged_zone_tab, Path("/usr/share/zoneinfo/zone.tab").read_text):
        try:
            text = read()
        except (OSError, ModuleNotFoundError):
            continue
        for line in text.splitlines():
            if line and not line.startswith("#"):
                fields = line.split("\t")
                if len(fields) >= 3:
                    table.setdefault(fields[2], fields[0])
    return table


def country_of_zone(zone: str) -> str | None:
    """The country of an IANA time zone (``Europe/Berlin`` is DE); None for ``UTC``."""
    return _zone_countries().get(zone)
