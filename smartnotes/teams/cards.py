"""The run's card in the rep's Teams chat, kept in step with the run.

Every change to a run (a step, streamed summary text, an edit from the API or the page) marks
it dirty; at most once per ``interval`` the card is re-rendered and, if it shows something
new, the same message is updated in place. The first render posts the message and remembers
its id in the database, so a restart keeps updating the same message. Teams does not notify
on an update, so "ready" (for a rep who asked to be told) and "failed" also get a message of
their own, once. A rep who blocked the bot is recorded and left alone; other delivery errors
are retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.publisher import BlockedError, CardPublisher, DeliveryError, MessageGoneError
from cards import build_failure_card, build_run_card
from pipeline.events import utcnow
from smartnotes.runs.review import NotFoundError, Review, Viewer
from smartnotes.storage.models import Run, RunCard, RunStatus, TeamsConversation, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# A change is shown after this short pause, so a burst of changes makes one update.
SETTLE = 0.25


class CardSync:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        review: Review,
        publisher: CardPublisher,
        *,
        interval: float,
        review_url_for: Callable[[Viewer, str], str | None],
    ) -> None:
        self.sessions = sessions
        self.review = review
        self.publisher = publisher
        self.interval = interval
        self.review_url_for = review_url_for
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._last: dict[str, float] = {}
        self._answering: dict[str, int] = {}
        self._answered: dict[str, asyncio.Event] = {}
        self._closed = False

    @contextlib.asynccontextmanager
    async def answering(self, run_id: str) -> AsyncIterator[None]:
        """A press on the run's card is being answered with the new card, which replaces the
        message in place: the update waits for the answer (which records what it showed) and
        then has nothing left to send, instead of sending the same card a second time."""
        self._answering[run_id] = self._answering.get(run_id, 0) + 1
        try:
            yield
        finally:
            left = self._answering.pop(run_id) - 1
            if left:
                self._answering[run_id] = left
            elif (answered := self._answered.pop(run_id, None)) is not None:
                answered.set()

    def touch(self, run_id: str) -> None:
        """The run changed: its card is brought up to date soon (coalesced)."""
        if self._closed:
            return
        self._dirty.add(run_id)
        if run_id not in self._pending:
            self._pending[run_id] = asyncio.get_running_loop().create_task(self._flush(run_id))

    async def idle(self) -> None:
        """Wait until every card shows its run (tests and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for task in self._pending.values():
            task.cancel()
        for task in list(self._pending.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _flush(self, run_id: str) -> None:
        attempt = 0
        try:
            while run_id in self._dirty:
                wait = self._last.get(run_id, 0.0) + self.interval - time.monotonic()
                await asyncio.sleep(max(wait, SETTLE))
                while run_id in self._answering:
                    await self._answered.setdefault(run_id, asyncio.Event()).wait()
                self._dirty.discard(run_id)
                self._last[run_id] = time.monotonic()
                try:
                    await self.sync(run_id)
                    attempt = 0
                except BlockedError:
                    return
                except DeliveryError as exc:
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS:
                        log.error("the card of run %s could not be delivered: %s", run_id, exc)
                        return
                    delay = exc.retry_after or min(2.0**attempt, 60.0)
                    log.warning(
                        "card delivery for run %s failed (%s); retry in %.0fs", run_id, exc, delay
                    )
                    await asyncio.sleep(delay)
                    self._dirty.add(run_id)
        except Exception:
            log.exception("the card of run %s could not be brought up to date", run_id)
        finally:
            self._pending.pop(run_id, None)
            if run_id in self._dirty and not self._closed:
                self.touch(run_id)

    async def sync(self, run_id: str) -> None:
        """Show the run as it is now in its owner's chat (post, or update in place)."""
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(Run, User, TeamsConversation, RunCard)
                    .join(User, User.id == Run.owner_id)
                    .join(TeamsConversation, TeamsConversation.user_id == Run.owner_id)
                    .outerjoin(RunCard, RunCard.run_id == Run.id)
                    .where(Run.id == run_id)
                )
            ).first()
        if found is None:
            return  # the rep has no Teams chat with the bot: the page and the CRM carry it
        run, owner, conversation, shown = found
        if conversation.blocked_at is not None or not self._behind(run, shown):
            return
        viewer = Viewer(tenant_id=run.tenant_id, user_id=owner.id, email=owner.email)
        try:
            view = await self.review.get(viewer, run_id)
        except NotFoundError:
            return
        review_url = self.review_url_for(viewer, run_id)
        card = build_run_card(
            view, review_url=review_url, customer_search=self.review.directory() is not None
        )
        try:
            await self._show(conversation, shown, view, card)
            await self._announce(conversation, view, review_url)
        except BlockedError:
            await self._blocked(owner.id)
            raise

    def _behind(self, run: Run, shown: RunCard | None) -> bool:
        """Whether the chat lacks something of the run, from the rows alone (most changes are
        presses on the card, whose answer already showed them)."""
        if shown is None:
            return True
        streaming = (
            run.summary_generated is None
            and run.summary_edited is None
            and self.review.live.partial_summary(run.id) is not None
        )
        if streaming or shown.shown_version != run.version or shown.shown_step != run.step:
            return True
        announced = run.status == RunStatus.FAILED or (
            run.status == RunStatus.NEEDS_REVIEW and run.notify_when_done
        )
        return announced and shown.announced_status != run.status

    async def _show(
        self,
        conversation: TeamsConversation,
        shown: RunCard | None,
        view: dict[str, Any],
        card: dict[str, Any],
    ) -> None:
        streaming = bool(view["summary"]["streaming"])
        if (
            shown is not None
            and not streaming
            and shown.shown_version == view["version"]
            and (shown.shown_step == view["step"])
        ):
            return
        activity_id = shown.activity_id if shown is not None else None
        if activity_id is not None:
            try:
                await self.publisher.update(conversation.reference, activity_id, card)
            except MessageGoneError:
                activity_id = None
        if activity_id is None:
            activity_id = await self.publisher.post(conversation.reference, card)
        async with self.sessions() as session, session.begin():
            row = await session.get(RunCard, view["id"])
            if row is None:
                row = RunCard(run_id=view["id"], conversation_id=conversation.conversation_id)
                session.add(row)
            row.activity_id = activity_id
            row.shown_version = view["version"]
            row.shown_step = view["step"]

    async def _announce(
        self, conversation: TeamsConversation, view: dict[str, Any], review_url: str | None
    ) -> None:
        status = view["status"]
        if status == "failed":
            message: dict[str, Any] | str = build_failure_card(view, review_url)
        elif status == "needs_review" and view["notify_when_done"]:
            message = f"Your notes for {view['customer_name'] or 'your call'} are ready to review."
        else:
            return
        async with self.sessions() as session, session.begin():
            row = await session.get(RunCard, view["id"])
            if row is None or row.announced_status == status:
                return
            # Claimed before sending: a crash in between loses one message, never doubles it.
            row.announced_status = status
        if isinstance(message, str):
            await self.publisher.post_text(conversation.reference, message)
        else:
            await self.publisher.post(conversation.reference, message)

    async def _blocked(self, user_id: str) -> None:
        log.warning("user %s blocked the bot; no more Teams messages until they return", user_id)
        async with self.sessions() as session, session.begin():
            conversation = await session.get(TeamsConversation, user_id)
            if conversation is not None:
                conversation.blocked_at = utcnow()
