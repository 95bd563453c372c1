"""Proactive messages: the bot writes into a rep's personal chat without being spoken to, from
the conversation reference stored at installation. Connector errors become our own."""

from __future__ import annotations

from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, ConversationReference
from microsoft_agents.hosting.core import ChannelServiceAdapter, TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity

from bot.agent import card_message


class DeliveryError(Exception):
    """A message did not reach Teams; worth retrying later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BlockedError(DeliveryError):
    """The rep blocked the bot (Teams answers 403): nothing more is sent until they return."""


class MessageGoneError(DeliveryError):
    """The message to update no longer exists (deleted by the rep): post a new one."""


class CardPublisher:
    def __init__(self, adapter: ChannelServiceAdapter, app_id: str) -> None:
        self.adapter = adapter
        self.app_id = app_id

    async def post(self, reference: dict[str, Any], card: dict[str, Any]) -> str:
        """Send a card to the conversation; the new message's id."""
        return await self._send(reference, card_message(card))

    async def post_text(self, reference: dict[str, Any], text: str) -> str:
        return await self._send(reference, Activity(type=ActivityTypes.message, text=text))

    async def update(
        self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]
    ) -> None:
        """Replace a card message in place."""
        activity = card_message(card)
        activity.id = activity_id

        async def callback(context: TurnContext) -> None:
            await context.update_activity(activity)

        await self._continue(reference, callback)

    async def _send(self, reference: dict[str, Any], activity: Activity) -> str:
        sent: list[str] = []

        async def callback(context: TurnContext) -> None:
            response = await context.send_activity(activity)
            sent.append(response.id or "")

        await self._continue(reference, callback)
        if not sent or not sent[0]:
            raise DeliveryError("Teams accepted the message without an id")
        return sent[0]

    async def _continue(self, reference: dict[str, Any], callback: Any) -> None:
        continuation = ConversationReference.model_validate(reference).get_continuation_activity()
        try:
            if self.app_id:
                await self.adapter.continue_conversation(self.app_id, continuation, callback)
            else:
                # No app id: only in the dangerous mode, for a local client that takes
                # unsigned replies. The SDK sends without a token only for an identity with no
                # claims; ``continue_conversation`` would make claims of the empty app id and
                # then fail for want of the bot's token.
                await self.adapter.continue_conversation_with_claims(
                    ClaimsIdentity({}), continuation, callback
                )
        except aiohttp.ClientResponseError as exc:
            raise _translate(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Teams is unreachable: {exc}") from exc


def _translate(exc: aiohttp.ClientResponseError) -> DeliveryError:
    if exc.status == 403:
        return BlockedError("the rep blocked the bot or removed it")
    if exc.status == 404:
        return MessageGoneError("the message is gone")
    retry_after = None
    header = exc.headers.get("Retry-After") if exc.headers else None
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    return DeliveryError(f"Teams answered {exc.status}", retry_after=retry_after)
