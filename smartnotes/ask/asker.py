"""The rep's question in, an answer with its sources out: Claude when it may answer, the
local model otherwise, and "I don't know" without any model when nothing matches."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.chat_model import ChatModel
from pipeline.usage import RunUsage
from smartnotes.ask.answers import Answer, AnsweredBy, dont_know
from smartnotes.ask.claude import ClaudeAnswerer, ClaudeFailedError
from smartnotes.ask.grounding import ground
from smartnotes.ask.local import local_answer
from smartnotes.ask.sources import Library, Sources
from smartnotes.engine import claude_client
from smartnotes.search.query import Searcher
from smartnotes.search.semantic import Semantic
from smartnotes.settings import Settings, UsageSettings
from smartnotes.usage.limits import Limited
from smartnotes.usage.metering import add_ask, ask_limit

log = logging.getLogger(__name__)

# What the first search, the question itself, brings back: enough to know whether anything
# matches, and the excerpts of a local answer.
FIRST_HITS = 20
NO_KEY = "no API key configured"
CONFIDENTIAL = "your confidential calls are read by local models only"
LEFT_OUT = "your confidential calls were left out: only local models read them"
NOTHING = "nothing in your calls matched"


class Asker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        claude: ClaudeAnswerer | None,
        model: ChatModel | None,
        semantic: Semantic | None = None,
        usage: UsageSettings | None = None,
    ) -> None:
        """``model``: the local model for the lead line of a local answer, when this process
        has one loaded (the web role loads none: its answers are the excerpts alone).
        ``semantic``: searches rank by meaning too. ``usage``: the cohort limits; Claude's
        tokens for a question count on the asking rep's seat like a call's."""
        self.sessions = sessions
        self.claude = claude
        self.model = model
        self.semantic = semantic
        self.usage = usage or UsageSettings()

    async def answer(
        self, question: str, searcher: Searcher, *, customer_id: str | None = None
    ) -> Answer:
        """Raises ``SearchError`` for a question with nothing to look for."""
        question = " ".join(question.split())
        library = Library(self.sessions, searcher, customer_id=customer_id, semantic=self.semantic)
        hits = await library.find(question, limit=FIRST_HITS)
        if not hits:
            return dont_know(question, library.searched, AnsweredBy("none", reason=NOTHING))
        secret = await library.confidential_among(hits)
        if self.claude is None:
            reason = NO_KEY
        elif len(secret) == len({h["run_id"] for h in hits}):
            reason = CONFIDENTIAL
        elif (limited := await self._limited(searcher)) is not None:
            reason = limited.reached
        else:
            spent = RunUsage()
            try:
                return await self._claude(
                    self.claude, question, library, left_out=bool(secret), usage=spent
                )
            except ClaudeFailedError as exc:
                log.warning("answering with the local model: %s", exc)
                reason = f"Claude unavailable ({exc})"
            finally:
                # Paid for whether the answer stood or not.
                await self._metered(searcher, spent)
        return await local_answer(question, hits, self.model, reason, library.searched)

    async def _limited(self, searcher: Searcher) -> Limited | None:
        async with self.sessions() as session:
            return await ask_limit(session, searcher.tenant_id, searcher.user_id, self.usage)

    async def _metered(self, searcher: Searcher, spent: RunUsage) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await add_ask(session, searcher.tenant_id, searcher.user_id, spent)
        except SQLAlchemyError:
            # The answer is worth more to the rep than the record; the operator sees the gap.
            log.exception("the usage of a question could not be saved")

    async def _claude(
        self,
        claude: ClaudeAnswerer,
        question: str,
        library: Library,
        *,
        left_out: bool,
        usage: RunUsage,
    ) -> Answer:
        sources = Sources()
        # Confidential calls' words go to no model outside this service, not even to answer
        # their owner: Claude searches the others, and the answer says some were left out.
        proposed = await claude.propose(question, library.without_confidential(), sources, usage)
        by = AnsweredBy("claude", claude.model_name, LEFT_OUT if left_out else None)
        text, citations = ground(proposed.text, proposed.citations, sources)
        dropped = len(proposed.citations) - len(citations)
        if dropped:
            log.info("dropped %d citation(s) that did not check out", dropped)
        if not citations:
            return dont_know(question, library.searched, by)
        return Answer(question, text, tuple(citations), by, tuple(library.searched))


@asynccontextmanager
async def open_asker(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    model: ChatModel | None = None,
    on_claude_usage: Callable[[int, int], None] | None = None,
    semantic: Semantic | None = None,
) -> AsyncIterator[Asker]:
    """An asker with the service's Claude configuration (the extractor's client settings,
    model and temperature); the client closes with it."""
    client = claude_client(settings)
    claude = (
        ClaudeAnswerer(
            client,
            model=settings.extractor_model,
            temperature=settings.extractor_temperature,
            on_usage=on_claude_usage,
        )
        if client is not None
        else None
    )
    try:
        yield Asker(sessions, claude=claude, model=model, semantic=semantic, usage=settings.usage)
    finally:
        if client is not None:
            await client.close()
