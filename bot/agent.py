"""The Teams bot: one handler per activity kind, routed by exact match, never by substring.

Card presses (``adaptiveCard/action`` invokes) are answered with the refreshed card in the
invoke response, which Teams shows in place of the pressed one. The ``Action.Submit`` fallback
(a message with a ``value``) gets the same treatment by updating the message it came from.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    InvokeResponse,
)
from microsoft_agents.hosting.core import ChannelAdapter, TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.backend import (
    CardAction,
    MeetingEnded,
    SearchRefusedError,
    TeamsBackend,
    TeamsUser,
    UnknownUserError,
)
from cards import (
    build_error_card,
    build_help_card,
    build_switched_off_card,
    build_welcome_card,
    dataset_run,
)

log = logging.getLogger(__name__)

CARD = "application/vnd.microsoft.card.adaptive"
MEETING_END = "application/vnd.microsoft.meetingEnd"
CARD_ACTION = "adaptiveCard/action"
DIALOG_FETCH = "task/fetch"
# A typeahead (``Data.Query``) asking for the choices matching what the user typed.
SEARCH = "application/search"
SEARCH_RESPONSE = "application/vnd.microsoft.search.searchResponse"
ERROR_RESPONSE = "application/vnd.microsoft.error"
# Teams shows at most 15 choices in a typeahead's list.
SEARCH_LIMIT = 15
NOT_SET_UP = "Smart Notes is not set up for you yet. Ask your administrator for a Smart Notes seat."


def card_attachment(card: dict[str, Any]) -> Attachment:
    return Attachment(content_type=CARD, content=card)


def card_message(card: dict[str, Any]) -> Activity:
    return Activity(type=ActivityTypes.message, attachments=[card_attachment(card)])


class SmartNotesBot:
    """The Agents SDK ``Agent``: everything Teams sends to ``/api/messages`` arrives here."""

    def __init__(self, backend: TeamsBackend, *, aad_tenant_id: str = "") -> None:
        self.backend = backend
        self.aad_tenant_id = aad_tenant_id.lower()

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity
        user = _user(activity)
        if self.aad_tenant_id and (user is None or user.aad_tenant_id != self.aad_tenant_id):
            log.warning("refused an activity from another Microsoft 365 tenant")
            if activity.type == ActivityTypes.invoke:
                await self._answer(context, build_error_card(NOT_SET_UP))
            return
        kind = activity.type
        if kind == ActivityTypes.installation_update:
            await self._installation(context, user)
        elif kind == ActivityTypes.conversation_update:
            await self._conversation_update(context, user)
        elif kind == ActivityTypes.invoke and activity.name == CARD_ACTION:
            await self._card_action(context, user)
        elif kind == ActivityTypes.invoke and activity.name == DIALOG_FETCH:
            await self._dialog(context, user)
        elif kind == ActivityTypes.invoke and activity.name == SEARCH:
            await self._search(context, user)
        elif kind == ActivityTypes.message:
            if isinstance(activity.value, dict) and activity.value.get("verb"):
                await self._card_submit(context, user, activity.value)
            else:
                await self._command(context, user)
        elif kind == ActivityTypes.event and activity.name == MEETING_END:
            await self._meeting_end(context, user)

    async def _installation(self, context: TurnContext, user: TeamsUser | None) -> None:
        action = (context.activity.action or "").lower()
        if user is None:
            return
        if action.startswith("remove"):
            await self.backend.uninstall(user)
        elif action.startswith("add") and _personal(context.activity):
            await self._install(context, user)

    async def _conversation_update(self, context: TurnContext, user: TeamsUser | None) -> None:
        activity = context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = [m.id for m in activity.members_added or []]
        if user is not None and bot_id in added and _personal(activity):
            await self._install(context, user)

    async def _install(self, context: TurnContext, user: TeamsUser) -> None:
        user = replace(user, email=await _member_email(context, user))
        reference = context.activity.get_conversation_reference().model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        installed = await self.backend.install(user, reference)
        if not installed.known:
            await context.send_activity(NOT_SET_UP)
        elif installed.first_time and await self.backend.claim_greeting(user):
            await context.send_activity(card_message(build_welcome_card()))

    async def _command(self, context: TurnContext, user: TeamsUser | None) -> None:
        if user is None:
            return
        said = " ".join(TurnContext.remove_recipient_mention(context.activity).split())
        text = said.lower()
        try:
            if text in ("help", ""):
                await context.send_activity(card_message(build_help_card()))
            elif text == "status":
                await context.send_activity(card_message(await self.backend.status_card(user)))
            elif text == "on":
                await context.send_activity(await self.backend.switch(user, enabled=True))
            elif text == "off":
                await self.backend.switch(user, enabled=False)
                await context.send_activity(card_message(build_switched_off_card()))
            elif text in ("confidential on", "confidential off"):
                await context.send_activity(
                    await self.backend.switch(user, confidential=text.endswith("on"))
                )
            elif text == "brief" or text.startswith("brief "):
                answer = await self.backend.brief(user, said.partition(" ")[2])
                await context.send_activity(
                    card_message(answer) if isinstance(answer, dict) else answer
                )
            elif text == "confidential":
                await context.send_activity(
                    "Say confidential on to keep your calls to local models (the transcript is "
                    "deleted after processing and only you see the notes), or confidential off."
                )
            else:
                # Anything else is a question about the rep's calls.
                await context.send_activity(card_message(await self.backend.ask(user, said)))
        except UnknownUserError:
            await context.send_activity(NOT_SET_UP)

    async def _card_action(self, context: TurnContext, user: TeamsUser | None) -> None:
        action = _object(_object(context.activity.value).get("action"))
        verb = action.get("verb")
        data = _object(action.get("data"))
        if user is None or not isinstance(verb, str):
            await self._answer(context, build_error_card("This card action is not valid."))
            return
        pressed = CardAction(verb=verb, data=data, message_id=context.activity.reply_to_id)
        card = await self._act(user, pressed)
        await self._answer(context, card)

    async def _dialog(self, context: TurnContext, user: TeamsUser | None) -> None:
        """The review page in a Teams dialog, with a link minted now (a card may be old)."""
        data = _object(_object(context.activity.value).get("data"))
        run_id = data.get("run_id")
        answer: dict[str, Any]
        if user is None or not isinstance(run_id, str):
            answer = {"type": "message", "value": "This card action is not valid."}
        else:
            try:
                url = await self.backend.dialog_url(user, run_id)
            except UnknownUserError:
                url = None
            answer = (
                {"type": "message", "value": "These notes are not available to you."}
                if url is None
                else {
                    "type": "continue",
                    "value": {
                        "title": "Smart Notes",
                        "url": url,
                        "fallbackUrl": url,
                        "height": "large",
                        "width": "large",
                    },
                }
            )
        context.turn_state[ChannelAdapter.INVOKE_RESPONSE_KEY] = Activity(
            type=ActivityTypes.invoke_response,
            value=InvokeResponse(status=200, body={"task": answer}),
        )

    async def _search(self, context: TurnContext, user: TeamsUser | None) -> None:
        """The customer typeahead on a run card: the CRM's matches for what the rep typed."""
        value = _object(context.activity.value)
        run_id = dataset_run(value.get("dataset"))
        query = value.get("queryText")
        options = _object(value.get("queryOptions"))
        top = options.get("top")
        limit = min(top, SEARCH_LIMIT) if isinstance(top, int) and top > 0 else SEARCH_LIMIT
        body: dict[str, Any]
        if user is None or run_id is None or not isinstance(query, str):
            body = _search_error(400, "BadRequest", "This search is not valid.")
        elif not query.strip():
            body = {"type": SEARCH_RESPONSE, "value": {"results": []}}
        else:
            try:
                found = await self.backend.search_customers(user, run_id, query.strip(), limit)
            except UnknownUserError:
                body = _search_error(403, "Forbidden", NOT_SET_UP)
            except SearchRefusedError as exc:
                body = _search_error(403, "Forbidden", str(exc))
            else:
                results = [{"title": c.title, "value": c.value} for c in found]
                body = {"type": SEARCH_RESPONSE, "value": {"results": results}}
        context.turn_state[ChannelAdapter.INVOKE_RESPONSE_KEY] = Activity(
            type=ActivityTypes.invoke_response,
            value=InvokeResponse(status=200, body=body),
        )

    async def _card_submit(
        self, context: TurnContext, user: TeamsUser | None, value: dict[str, Any]
    ) -> None:
        if user is None:
            return
        replaced = context.activity.reply_to_id
        pressed = CardAction(verb=str(value["verb"]), data=value, message_id=replaced)
        card = await self._act(user, pressed)
        if replaced:
            update = card_message(card)
            update.id = replaced
            await context.update_activity(update)
        else:
            await context.send_activity(card_message(card))

    async def _act(self, user: TeamsUser, action: CardAction) -> dict[str, Any]:
        try:
            return (await self.backend.card_action(user, action)).card
        except UnknownUserError:
            return build_error_card(NOT_SET_UP)

    async def _meeting_end(self, context: TurnContext, user: TeamsUser | None) -> None:
        activity = context.activity
        value = _object(activity.value)
        meeting = _object(_object(activity.channel_data).get("meeting"))
        meeting_id = value.get("Id") or meeting.get("id")
        tenant = (activity.conversation.tenant_id if activity.conversation else None) or (
            user.aad_tenant_id if user else ""
        )
        if not meeting_id or not activity.conversation:
            log.warning("a meetingEnd event without a meeting id was ignored")
            return
        await self.backend.meeting_ended(
            MeetingEnded(
                aad_tenant_id=str(tenant).lower(),
                meeting_id=str(meeting_id),
                conversation_id=activity.conversation.id,
                join_url=value.get("JoinUrl"),
                title=str(value.get("Title") or ""),
                ended_at=_when(value.get("EndTime")),
                reported_by=user.aad_object_id if user else None,
            )
        )

    async def _answer(self, context: TurnContext, card: dict[str, Any]) -> None:
        """Answer an invoke with a card; anything else gets it as a message."""
        if context.activity.type == ActivityTypes.invoke:
            body = {"statusCode": 200, "type": CARD, "value": card}
            # Where send_activity would put it: an invoke response is not sent but kept for
            # the HTTP answer, and send_activity first deep-copies the activity, card and all
            # (a tenth of the time a press took).
            context.turn_state[ChannelAdapter.INVOKE_RESPONSE_KEY] = Activity(
                type=ActivityTypes.invoke_response,
                value=InvokeResponse(status=200, body=body),
            )
        else:
            await context.send_activity(card_message(card))


def _search_error(status: int, code: str, message: str) -> dict[str, Any]:
    """A typeahead's error answer, in the shape Teams reads for invoke errors."""
    return {
        "statusCode": status,
        "type": ERROR_RESPONSE,
        "value": {"code": code, "message": message},
    }


def _user(activity: Activity) -> TeamsUser | None:
    sender = activity.from_property
    if sender is None or not sender.aad_object_id:
        return None
    tenant = activity.conversation.tenant_id if activity.conversation else None
    if not tenant and isinstance(activity.channel_data, dict):
        tenant = (activity.channel_data.get("tenant") or {}).get("id")
    return TeamsUser(
        aad_object_id=sender.aad_object_id.lower(),
        teams_id=sender.id,
        name=sender.name or "",
        aad_tenant_id=(tenant or "").lower(),
        timezone=_client_zone(activity),
    )


def _client_zone(activity: Activity) -> str | None:
    """The user's time zone as their Teams client reports it (the ``clientInfo`` entity, or
    ``localTimezone``); only a zone this machine knows counts."""
    reported = [
        getattr(e, "timezone", None) for e in activity.entities or [] if e.type == "clientInfo"
    ]
    for zone in [*reported, activity.local_timezone]:
        if isinstance(zone, str) and 0 < len(zone) <= 64:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return zone
    return None


async def _member_email(context: TurnContext, user: TeamsUser) -> str | None:
    """The installing user's e-mail, as Teams knows it: how a first-time user is matched to
    their Smart Notes seat (later activities carry only the Entra object id)."""
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    conversation = context.activity.conversation
    if not isinstance(client, TeamsConnectorClient) or conversation is None:
        return None
    try:
        member = await client.get_conversation_member(conversation.id, user.teams_id)
    except Exception:  # an unreadable profile is not a failed installation
        log.warning("could not read the installing user's profile", exc_info=True)
        return None
    email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
    return str(email).lower() if email else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _personal(activity: Activity) -> bool:
    conversation = activity.conversation
    kind = conversation.conversation_type if conversation else None
    return kind in (None, "personal") and not (conversation and conversation.is_group)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
