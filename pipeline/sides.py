"""Whose commitment a task is: the rep's side of the call or the customer's.

A task's owner is the name a model wrote ("Maria", "Daniel from Contoso", "we"). It is matched
against the call's participants: a participant whose e-mail domain is the rep's is on the rep's
side; one with another domain is the customer's. An owner that matches nobody stays on the
rep's side unless it names the customer: a task nobody took on is still the rep's to follow up,
and recall comes before tidiness.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Side = Literal["rep", "customer"]

# Owners that mean the rep or their team, whoever wrote them.
_OURS = frozenset({"", "i", "me", "we", "us", "our team", "the team", "rep", "the rep", "sales"})
_THEIRS = frozenset({"they", "them", "the customer", "customer", "the client", "client"})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Person:
    name: str
    email: str = ""

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].strip().lower() if "@" in self.email else ""


def task_side(
    owner: str,
    participants: Sequence[Person],
    rep_email: str,
    customer_name: str | None = None,
) -> Side:
    """The side of the call whose commitment this is (see the module docstring)."""
    text = " ".join(_WORD.findall(owner.lower()))
    if text in _OURS:
        return "rep"
    if text in _THEIRS:
        return "customer"
    rep_domain = Person("", rep_email).domain
    person = match_person(owner, participants)
    if person is not None:
        if person.email.strip().lower() == rep_email.strip().lower():
            return "rep"
        if person.domain and rep_domain:
            return "rep" if person.domain == rep_domain else "customer"
    if customer_name and _mentions(text, customer_name):
        return "customer"
    return "rep"


def match_person(owner: str, participants: Sequence[Person]) -> Person | None:
    """The participant an owner's name refers to: full name, first name or e-mail name, when
    exactly one participant fits (two Johns are nobody in particular)."""
    words = _WORD.findall(owner.lower())
    if not words:
        return None
    for rule in (_full_name, _first_name, _email_name):
        found = [p for p in participants if rule(words, p)]
        if found:
            # Ambiguous at the most specific rule that fits: a weaker rule must not decide.
            return found[0] if len(found) == 1 else None
    return None


def _full_name(words: list[str], person: Person) -> bool:
    name = _WORD.findall(person.name.lower())
    return bool(name) and _contains(words, name)


def _first_name(words: list[str], person: Person) -> bool:
    name = _WORD.findall(person.name.lower())
    return bool(name) and words[0] == name[0]


def _email_name(words: list[str], person: Person) -> bool:
    local = person.email.partition("@")[0].lower()
    parts = _WORD.findall(local)
    return bool(parts) and (words[0] == parts[0] or "".join(words) == "".join(parts))


def _contains(words: list[str], name: list[str]) -> bool:
    size = len(name)
    return any(words[i : i + size] == name for i in range(len(words) - size + 1))


def _mentions(text: str, customer_name: str) -> bool:
    name = _WORD.findall(customer_name.lower())
    return bool(name) and _contains(text.split(), name[:1])
