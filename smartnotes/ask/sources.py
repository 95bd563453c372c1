"""The calls an answer may draw on: the rep's search, within what the review lets them see,
and the numbers under which a model is shown each match."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smartnotes.search.query import MAX_HITS, SNIPPET, Searcher, search
from smartnotes.search.semantic import Semantic
from smartnotes.storage.models import Run

Hit = Mapping[str, Any]
# What makes two matches one source, whichever search found them.
_IDENTITY = ("run_id", "kind", "task_id", "speaker", "at_seconds", "text")


def stored_text(hit: Hit) -> str:
    """The match's words as stored: a long one is a prefix whose cut the search marked."""
    text = str(hit["text"])
    return text[:-1] if len(text) == SNIPPET and text.endswith("\u2026") else text


class Library:
    """One rep's searches for one question, each recorded in ``searched``.

    Matches come from ``smartnotes.search``, so the review's visibility rule holds (own runs,
    attended non-confidential runs, never another tenant's). ``customer_id`` keeps every
    search to that customer's calls; ``confidential=False`` leaves out confidential runs,
    for a model outside this service."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        searcher: Searcher,
        *,
        customer_id: str | None = None,
        confidential: bool = True,
        searched: list[str] | None = None,
        semantic: Semantic | None = None,
    ) -> None:
        self.sessions = sessions
        self.semantic = semantic
        self.searcher = searcher
        self.customer_id = customer_id
        self.confidential = confidential
        self.searched = searched if searched is not None else []

    def without_confidential(self) -> Library:
        """The same rep and customer, searches recorded in the same list, no confidential run."""
        return Library(
            self.sessions,
            self.searcher,
            customer_id=self.customer_id,
            confidential=False,
            searched=self.searched,
            semantic=self.semantic,
        )

    async def find(self, query: str, *, customer: str | None = None, limit: int = 8) -> list[Hit]:
        """The best matches, best first; ``customer`` narrows them to a customer named or
        identified as the matches name it. Raises ``SearchError`` for a query of no words."""
        narrowed = bool(customer) or not self.confidential
        async with self.sessions() as session:
            found = await search(
                session,
                self.searcher,
                query,
                customer_id=self.customer_id,
                limit=MAX_HITS if narrowed else limit,
                semantic=self.semantic,
            )
            hits: list[Hit] = list(found)
            if not self.confidential:
                secret = await confidential_runs(session, {h["run_id"] for h in hits})
                hits = [h for h in hits if h["run_id"] not in secret]
        self.searched.append(query)
        if customer:
            hits = [h for h in hits if _customer_is(h, customer)]
        return hits[:limit]

    async def confidential_among(self, hits: Iterable[Hit]) -> set[str]:
        async with self.sessions() as session:
            return await confidential_runs(session, {h["run_id"] for h in hits})


async def confidential_runs(session: AsyncSession, run_ids: set[str]) -> set[str]:
    if not run_ids:
        return set()
    rows = await session.execute(
        select(Run.id).where(Run.id.in_(run_ids), Run.confidential.is_(True))
    )
    return set(rows.scalars())


def _customer_is(hit: Hit, customer: str) -> bool:
    wanted = customer.strip().casefold()
    name = str(hit.get("customer_name") or "").casefold()
    return hit.get("customer_id") == customer.strip() or (bool(wanted) and wanted in name)


class Sources:
    """Matches numbered in the order a model first saw them: the numbers its answer cites,
    and the only sources a citation can point to."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[Any, ...], int] = {}
        self._hits: dict[int, Hit] = {}

    def number(self, hits: Iterable[Hit]) -> list[tuple[int, Hit]]:
        numbered: list[tuple[int, Hit]] = []
        for hit in hits:
            key = tuple(hit.get(name) for name in _IDENTITY)
            found = self._numbers.get(key)
            if found is None:
                found = self._numbers[key] = len(self._numbers) + 1
                self._hits[found] = hit
            numbered.append((found, hit))
        return numbered

    def get(self, number: int) -> Hit | None:
        return self._hits.get(number)

    def __len__(self) -> int:
        return len(self._hits)
