"""Request bodies of the review API's customer, bulk and question routes (see ``schemas`` for
the rest)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from smartnotes.ask.answers import MAX_QUESTION
from smartnotes.web.schemas import Body, Version

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A contact's address as the CRM keeps it; the CRM checks it further.
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


class AcceptAllIn(Body):
    version: Version | None = None


class CustomerChoiceIn(Body):
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    version: Version | None = None


class ProspectIn(Body):
    """A new prospect: the company's name and, when known, the contact's e-mail."""

    run_id: RunId
    name: Name
    email: Email | None = None
    version: Version | None = Field(default=None)


class AskIn(Body):
    """A question about the caller's calls, optionally about one CRM customer's calls."""

    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION)
    ]
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
