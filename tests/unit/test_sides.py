"""Whose commitment a task is, from its owner's name and the call's participants."""

from __future__ import annotations

import pytest

from pipeline.sides import Person, match_person, task_side

REP = "maria.chen@northwind.test"
PEOPLE = (
    Person("Maria Chen", REP),
    Person("John Miller", "john@northwind.test"),
    Person("Daniel Ortiz", "daniel@contoso.test"),
    Person("Priya Shah", "priya@contoso.test"),
)


@pytest.mark.parametrize(
    ("owner", "side"),
    [
        ("Maria Chen", "rep"),
        ("Maria", "rep"),
        ("John", "rep"),  # a colleague: the rep's team
        ("John Miller", "rep"),
        ("we", "rep"),
        ("", "rep"),
        ("Daniel", "customer"),
        ("Daniel Ortiz (Contoso)", "customer"),
        ("priya", "customer"),
        ("the customer", "customer"),
        ("Contoso", "customer"),  # the company named as the owner
        ("Somebody Unknown", "rep"),  # nobody took it on: the rep follows up
    ],
)
def test_side_of_an_owner(owner: str, side: str) -> None:
    assert task_side(owner, PEOPLE, REP, customer_name="Contoso Logistics") == side


def test_an_owner_matches_one_participant_or_none() -> None:
    assert match_person("john", PEOPLE) == PEOPLE[1]
    assert match_person("maria.chen", PEOPLE) == PEOPLE[0]  # the e-mail's name
    two_johns = (*PEOPLE, Person("John Park", "jp@contoso.test"))
    assert match_person("John", two_johns) is None
    assert match_person("John Park", two_johns) == two_johns[-1]
    assert match_person("", PEOPLE) is None


def test_without_e_mails_a_named_owner_stays_the_reps() -> None:
    people = (Person("Maria Chen"), Person("Daniel Ortiz"))
    assert task_side("Daniel", people, REP) == "rep"
