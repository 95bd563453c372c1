"""The bot's backend: Teams users mapped onto ours, card presses turned into review actions.

A Teams user is one of ours when their Entra object id (or, at installation, their e-mail as
Teams reports it) matches a user with a seat in the bot's tenant. Every card press goes
through ``Review`` exactly like the API and the review page, with the same rules: only the
run's owner may act from a card, and an edit made against an older version of the run is not
applied; the rep gets the current card and a line saying why.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backend import (
    CardAction,
    CardAnswer,
    Choice,
    Installed,
    MeetingEnded,
    SearchRefusedError,
    TeamsUser,
    UnknownUserError,
)
from cards import (
    CUSTOMER_INPUT,
    Switches,
    Verb,
    build_answer_card,
    build_error_card,
    build_run_card,
    build_status_card,
    parse_inputs,
)
from pipeline.events import utcnow
from smartnotes import consent, directory
from smartnotes.ask.answers import MAX_QUESTION
from smartnotes.ask.asker import Asker
from smartnotes.briefs.facts import Rep
from smartnotes.briefs.on_demand import brief_on_demand
from smartnotes.runs.review import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    Review,
    UnavailableError,
    Viewer,
)
from smartnotes.search.query import Searcher, SearchError
from smartnotes.storage.models import (
    MeetingEnd,
    Run,
    RunCard,
    Seat,
    TeamsConversation,
    Tenant,
    User,
)

log = logging.getLogger(__name__)

NOT_YOURS = "Only the rep who owns this call can change its notes."
GONE = "This call's notes are not available to you."
STALE = "This card was out of date, so nothing was changed. Here is the current state."
# Verbs that change the run: pressed on an out-of-date card they are not applied.
CHANGING = frozenset(
    {
        Verb.SUMMARY_EDIT,
        Verb.TASK_EDIT,
        Verb.TASK_ACCEPT,
        Verb.TASK_REJECT,
        Verb.TASKS_RECREATE,
        Verb.SAVE,
        Verb.CUSTOMER_CHOOSE,
    }
)


class TeamsBackendImpl:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        review: Review,
        *,
        tenant_id: str,
        cancel: Callable[[str], Awaitable[bool]],
        review_url_for: Callable[[Viewer, str], str | None],
        meeting_ended_hook: Callable[[], None] | None = None,
        answering: Callable[[str], AbstractAsyncContextManager[None]] | None = None,
        asker: Asker | None = None,
        terms_version: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.terms_version = terms_version
        self.asker = asker
        self.answering = answering
        self.review = review
        self.tenant_id = tenant_id
        self.cancel = cancel
        self.review_url_for = review_url_for
        self.meeting_ended_hook = meeting_ended_hook

    # Users --------------------------------------------------------------------------------

    async def viewer(self, user: TeamsUser) -> Viewer:
        async with self.sessions() as session:
            found = await self._user(session, user)
        if found is None:
            raise UnknownUserError(user.aad_object_id)
        if user.timezone and found.timezone != user.timezone:
            await self._remember_zone(found.id, user.timezone)
        return Viewer(tenant_id=found.tenant_id, user_id=found.id, email=found.email)

    async def _remember_zone(self, user_id: str, zone: str) -> None:
        """The zone the rep's Teams client reports: their next calls' deadlines are read in it."""
        async with self.sessions() as session, session.begin():
            found = await session.get(User, user_id, with_for_update=True)
            if found is not None:
                found.timezone = zone

    async def _user(self, session: AsyncSession, user: TeamsUser) -> User | None:
        match = User.aad_object_id == user.aad_object_id
        if user.email:
            match = or_(match, User.email == user.email.strip().lower())
        query = (
            select(User)
            .join(Seat, (Seat.user_id == User.id) & (Seat.tenant_id == User.tenant_id))
            .where(User.tenant_id == self.tenant_id, match)
        )
        return (await session.execute(query)).scalars().first()

    async def install(self, user: TeamsUser, reference: dict[str, Any]) -> Installed:
        # Teams sends installationUpdate and conversationUpdate together: when both insert the
        # first row at once, the one that loses finds the row on its second try.
        try:
            return await self._install(user, reference)
        except IntegrityError:
            return await self._install(user, reference)

    async def _install(self, user: TeamsUser, reference: dict[str, Any]) -> Installed:
        async with self.sessions() as session, session.begin():
            found = await self._user(session, user)
            if found is None:
                return Installed(known=False, first_time=False)
            if found.aad_object_id != user.aad_object_id:
                found.aad_object_id = user.aad_object_id
            if user.timezone:
                found.timezone = user.timezone
            conversation = await session.get(TeamsConversation, found.id)
            conversation_id = str(reference.get("conversation", {}).get("id", ""))
            if conversation is None:
                conversation = TeamsConversation(
                    user_id=found.id, conversation_id=conversation_id, reference=reference
                )
                session.add(conversation)
            else:
                conversation.conversation_id = conversation_id
                conversation.reference = reference
                conversation.blocked_at = None
            return Installed(known=True, first_time=conversation.greeted_at is None)

    async def claim_greeting(self, user: TeamsUser) -> bool:
        """True for exactly one caller per installation: the one that sends the welcome.

        A single conditional update, so two installation activities handled at once cannot
        both see "not greeted yet". Claimed before sending: a failed send loses the welcome,
        never doubles it.
        """
        async with self.sessions() as session, session.begin():
            found = await self._user(session, user)
            if found is None:
                return False
            claimed = await session.execute(
                update(TeamsConversation)
                .where(
                    TeamsConversation.user_id == found.id,
                    TeamsConversation.greeted_at.is_(None),
                )
                .values(greeted_at=utcnow())
            )
            return bool(getattr(claimed, "rowcount", 0) == 1)

    async def uninstall(self, user: TeamsUser) -> None:
        async with self.sessions() as session, session.begin():
            found = await self._user(session, user)
            if found is not None:
                await session.execute(
                    delete(TeamsConversation).where(TeamsConversation.user_id == found.id)
                )

    async def switch(
        self, user: TeamsUser, *, enabled: bool | None = None, confidential: bool | None = None
    ) -> str:
        viewer = await self.viewer(user)
        async with self.sessions() as session, session.begin():
            if enabled is not None:
                await directory.set_user_enabled(
                    session, viewer.tenant_id, viewer.email, enabled, by=viewer.email
                )
            if confidential is not None:
                await directory.set_confidential_default(
                    session, viewer.tenant_id, viewer.email, confidential, by=viewer.email
                )
        if enabled is True:
            return "Smart Notes is on: your calls get notes and tasks again. Type off to stop."
        if enabled is False:
            return (
                "Smart Notes is off for you: your calls are not processed and nothing about "
                "them is kept. Type on to switch it back on."
            )
        if confidential:
            return (
                "Confidential mode is on for your calls: only local models run, the transcript "
                "is deleted after processing, and only you see the notes."
            )
        return "Confidential mode is off for your calls."

    async def status_card(self, user: TeamsUser) -> dict[str, Any]:
        viewer = await self.viewer(user)
        async with self.sessions() as session:
            found = await session.get(User, viewer.user_id)
            tenant = await session.get(Tenant, viewer.tenant_id)
            agreed = (
                self.terms_version is None
                or await consent.in_force(session, viewer.tenant_id, self.terms_version) is not None
            )
        switches = Switches(
            on=found is not None and found.enabled,
            confidential=found is not None and found.confidential_default,
            tenant_on=tenant is None or tenant.enabled,
            agreed=agreed,
        )
        runs = await self.review.list_runs(viewer, limit=5)
        return build_status_card(runs, lambda run_id: self.review_url_for(viewer, run_id), switches)

    async def ask(self, user: TeamsUser, question: str) -> dict[str, Any]:
        viewer = await self.viewer(user)
        if self.asker is None:
            return build_error_card("Questions about your calls are not available here.")
        if len(question) > MAX_QUESTION:
            return build_error_card(f"Ask in at most {MAX_QUESTION} characters.")
        searcher = Searcher(viewer.tenant_id, viewer.user_id, viewer.email)
        try:
            answer = await self.asker.answer(question, searcher)
        except SearchError as exc:
            return build_error_card(_sentence(exc))
        return build_answer_card(answer.to_json())

    # Card presses --------------------------------------------------------------------------

    async def card_action(self, user: TeamsUser, action: CardAction) -> CardAnswer:
        run_id = action.data.get("run_id")
        in_place = (
            self.answering(run_id)
            if self.answering is not None and action.message_id and isinstance(run_id, str)
            else contextlib.nullcontext()
        )
        async with in_place:
            answer, view = await self._answer(user, action)
            if view is not None and action.message_id:
                await self._shown(view, action.message_id)
        return answer

    async def _shown(self, view: dict[str, Any], message_id: str) -> None:
        """The answer replaced the pressed message with the run's card: the card sync need not
        send it again. A run whose card message is not known yet takes the pressed one."""
        try:
            async with self.sessions() as session, session.begin():
                shown = await session.get(RunCard, view["id"], with_for_update=True)
                if shown is None:
                    conversation = (
                        await session.execute(
                            select(TeamsConversation.conversation_id)
                            .join(Run, Run.owner_id == TeamsConversation.user_id)
                            .where(Run.id == view["id"])
                        )
                    ).scalar_one_or_none()
                    if conversation is None:
                        return
                    shown = RunCard(
                        run_id=view["id"], conversation_id=conversation, activity_id=message_id
                    )
                    session.add(shown)
                elif shown.activity_id != message_id:
                    return
                shown.shown_version = view["version"]
                shown.shown_step = view["step"]
        except IntegrityError:
            pass  # the card sync posted the run's card at the same moment; it keeps its own

    async def _answer(
        self, user: TeamsUser, action: CardAction
    ) -> tuple[CardAnswer, dict[str, Any] | None]:
        viewer = await self.viewer(user)
        run_id = action.data.get("run_id")
        if action.verb == Verb.USER_ON:
            await self.switch(user, enabled=True)
            return CardAnswer(build_error_card("Smart Notes is on again for your calls.")), None
        if not isinstance(run_id, str):
            return CardAnswer(build_error_card("This card action names no call.")), None
        try:
            view = await self.review.get(viewer, run_id)
        except NotFoundError:
            return CardAnswer(build_error_card(GONE)), None
        if view["role"] != "owner":
            return CardAnswer(build_error_card(NOT_YOURS)), None
        if action.verb in CHANGING and action.data.get("version") != view["version"]:
            return self._card(viewer, view, STALE), view
        try:
            view = await self._apply(viewer, run_id, view, action)
        except ConflictError as exc:
            view = await self.review.get(viewer, run_id)
            return self._card(viewer, view, _sentence(exc)), view
        except InvalidError as exc:
            view = await self.review.get(viewer, run_id)
            return self._card(viewer, view, _sentence(exc)), view
        except ForbiddenError as exc:
            if action.verb != Verb.CUSTOMER_CHOOSE:
                return CardAnswer(build_error_card(NOT_YOURS)), None
            # The CRM's refusal of that customer: shown on the card, the choice still open.
            view = await self.review.get(viewer, run_id)
            return self._card(viewer, view, _sentence(exc)), view
        except UnavailableError as exc:
            view = await self.review.get(viewer, run_id)
            return self._card(viewer, view, _sentence(exc)), view
        except NotFoundError:
            return CardAnswer(build_error_card(GONE)), None
        return self._card(viewer, view, None), view

    async def dialog_url(self, user: TeamsUser, run_id: str) -> str | None:
        viewer = await self.viewer(user)
        try:
            await self.review.check_visible(viewer, run_id)
        except (NotFoundError, ForbiddenError):
            return None
        return self.review_url_for(viewer, run_id)

    async def search_customers(
        self, user: TeamsUser, run_id: str, query: str, limit: int
    ) -> list[Choice]:
        viewer = await self.viewer(user)
        try:
            view = await self.review.get(viewer, run_id)
            if view["role"] != "owner":
                raise SearchRefusedError(NOT_YOURS)
            found = await self.review.search_customers(viewer, run_id, query, limit=limit)
        except NotFoundError as exc:
            raise SearchRefusedError(GONE) from exc
        except (ForbiddenError, UnavailableError) as exc:
            raise SearchRefusedError(_sentence(exc)) from exc
        return [Choice(title=c["name"], value=c["id"]) for c in found]

    def _card(self, viewer: Viewer, view: dict[str, Any], notice: str | None) -> CardAnswer:
        card = build_run_card(
            view,
            review_url=self.review_url_for(viewer, view["id"]),
            notice=notice,
            customer_search=self.review.directory() is not None,
        )
        return CardAnswer(card)

    async def _apply(
        self, viewer: Viewer, run_id: str, view: dict[str, Any], action: CardAction
    ) -> dict[str, Any]:
        verb, data = action.verb, action.data
        task_id = data.get("task_id")
        if verb in (Verb.REFRESH, Verb.CANCEL):
            return (
                view
                if verb == Verb.REFRESH
                else await self.review.stop(viewer, run_id, self.cancel)
            )
        # A press sends every input on the card and the answer replaces the card: what the rep
        # typed is applied first, or it would be lost with the old card.
        if view["status"] in ("needs_review", "failed"):
            view = await self._edits(viewer, run_id, view, data)
        if verb in (Verb.SUMMARY_EDIT, Verb.TASK_EDIT):
            return view
        if verb in (Verb.TASK_ACCEPT, Verb.TASK_REJECT) and isinstance(task_id, str):
            return await self.review.decide_task(
                viewer, run_id, task_id, accept=verb == Verb.TASK_ACCEPT, version=None
            )
        if verb == Verb.TASKS_RECREATE:
            if view["status"] == "failed":
                return await self.review.retry(viewer, run_id)
            return await self.review.retrigger_tasks(viewer, run_id, view["version"])
        if verb in (Verb.FEEDBACK_LIKE, Verb.FEEDBACK_DISLIKE):
            target = data.get("target")
            if not isinstance(target, str):
                raise InvalidError("target", "the feedback names nothing")
            comment = parse_inputs(data).comments.get(target, "")
            rating = "like" if verb == Verb.FEEDBACK_LIKE else "dislike"
            return await self.review.feedback(viewer, run_id, target, rating, comment)
        return await self._run_action(viewer, run_id, view, verb, data)

    async def _run_action(
        self,
        viewer: Viewer,
        run_id: str,
        view: dict[str, Any],
        verb: str,
        data: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The verbs that act on the run as a whole."""
        if verb == Verb.LATER:
            return await self.review.later(viewer, run_id)
        if verb == Verb.SAVE:
            return await self.review.save(viewer, run_id, version=view["version"])
        if verb == Verb.CUSTOMER_CHOOSE:
            chosen = data.get(CUSTOMER_INPUT)
            if not isinstance(chosen, str) or not chosen.strip():
                raise InvalidError("customer", "type a customer's name and pick one first")
            return await self.review.choose_customer(
                viewer, run_id, chosen.strip(), view["version"]
            )
        raise InvalidError("verb", f"unknown card action {verb!r}")

    async def _edits(
        self,
        viewer: Viewer,
        run_id: str,
        view: dict[str, Any],
        data: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Apply what the rep typed into the card's inputs, only where it differs."""
        inputs = parse_inputs(data)
        summary = inputs.summary_change(view["summary"]["text"])
        if summary:
            view = await self.review.edit_summary(viewer, run_id, summary, view["version"])
        for task in view["tasks"]:
            if task["status"] in ("rejected", "written"):
                continue
            # An emptied title is left as it was; other emptied fields mean "no value".
            changes = {
                name: value or None
                for name, value in inputs.task_changes(task).items()
                if name != "title" or value
            }
            if changes:
                view = await self.review.edit_task(
                    viewer, run_id, task["id"], changes, task["version"]
                )
        return view

    async def brief(self, user: TeamsUser, customer: str) -> dict[str, Any] | str:
        viewer = await self.viewer(user)
        async with self.sessions() as session:
            found = await session.get(User, viewer.user_id)
        rep = Rep(viewer.tenant_id, viewer.user_id, viewer.email, found.timezone if found else None)
        return await brief_on_demand(
            self.sessions,
            self.review.directory(),
            rep,
            customer,
            review_url_for=self.review_url_for,
        )

    # Meetings ------------------------------------------------------------------------------

    async def meeting_ended(self, meeting: MeetingEnded) -> bool:
        """Record the event for the transcript fetch; the same meeting twice is one record."""
        try:
            async with self.sessions() as session, session.begin():
                await directory.ensure_tenant(session, self.tenant_id)
                session.add(
                    MeetingEnd(
                        tenant_id=self.tenant_id,
                        meeting_id=meeting.meeting_id,
                        join_url=meeting.join_url,
                        title=meeting.title[:500],
                        ended_at=meeting.ended_at,
                        conversation_id=meeting.conversation_id,
                        reported_by=meeting.reported_by,
                    )
                )
        except IntegrityError:
            return False
        log.info("meeting %s ended; recorded for the transcript fetch", meeting.meeting_id)
        if self.meeting_ended_hook is not None:
            self.meeting_ended_hook()  # look for the transcript now, not at the next tick
        return True


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else "That did not work."
