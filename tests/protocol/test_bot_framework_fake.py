"""The local Bot Framework fake, checked against the real Agents SDK client and PyJWT.

If these pass, the fake answers the way the SDK's ``TeamsConnectorClient`` expects (URLs,
bodies, status codes, the errors it raises) and its channel tokens verify against its own
published keys the way Microsoft documents Bot Connector tokens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    Attachment,
    ChannelAccount,
    ConversationParameters,
)
from microsoft_agents.activity.teams import MeetingEndEventDetails
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from tests.fakes.bot_framework import (
    ADAPTIVE_CARD_ACTION,
    BOT_FRAMEWORK_ISSUER,
    CONNECTOR_SCOPE,
    MEETING_END,
    FakeBotFramework,
)

APP_ID = "0b7a2c1e-5d0f-4a8b-9c3e-2f6d8e1a4b70"
APP_PASSWORD = "s3cret-for-the-fake"  # noqa: S105 - the fake's test credential

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


@pytest_asyncio.fixture
async def bf() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD) as fake:
        yield fake


async def _post_form(url: str, form: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as response:
        return response.status, await response.json()


def _grant(**changes: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": APP_PASSWORD,
        "scope": CONNECTOR_SCOPE,
    }
    form.update(changes)
    return form


async def _connector_token(bf: FakeBotFramework) -> str:
    status, body = await _post_form(bf.token_url, _grant())
    assert status == 200, body
    return str(body["access_token"])


@asynccontextmanager
async def _connector(bf: FakeBotFramework, token: str) -> AsyncIterator[TeamsConnectorClient]:
    # As the SDK's RestChannelServiceClientFactory builds it: the activity's service URL and
    # the bot's connector token.
    client = TeamsConnectorClient(bf.service_url, token)
    try:
        yield client
    finally:
        await client.close()


def _card(text: str) -> Attachment:
    return Attachment(
        content_type=CARD_TYPE,
        content={
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": text}],
        },
    )


async def _keys_client(bf: FakeBotFramework) -> jwt.PyJWKClient:
    # PyJWKClient fetches with blocking urllib: off the loop, which is also serving the fake.
    async with aiohttp.ClientSession() as http, http.get(bf.openid_url) as response:
        metadata = await response.json()
    return jwt.PyJWKClient(metadata["jwks_uri"])


async def _verify(bf: FakeBotFramework, keys: jwt.PyJWKClient, token: str) -> dict[str, Any]:
    key = await asyncio.to_thread(keys.get_signing_key_from_jwt, token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=APP_ID, issuer=bf.issuer
    )
    return claims


# -- OpenID metadata, keys and channel tokens -----------------------------------------------


async def test_openid_metadata_names_its_own_keys_with_endorsements(bf: FakeBotFramework) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(bf.openid_url) as response:
            metadata = await response.json()
        async with http.get(metadata["jwks_uri"]) as response:
            keys = (await response.json())["keys"]
    assert metadata["issuer"] == BOT_FRAMEWORK_ISSUER == bf.issuer
    assert metadata["jwks_uri"] == bf.jwks_url
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    (key,) = keys
    assert key["kid"] == bf.signing_key.kid
    assert (key["kty"], key["use"]) == ("RSA", "sig")
    assert "msteams" in key["endorsements"]
    assert key["x5c"]
    assert key["x5t"]


async def test_channel_token_verifies_against_the_published_keys(bf: FakeBotFramework) -> None:
    keys = await _keys_client(bf)
    claims = await _verify(bf, keys, bf.channel_token())
    assert claims["aud"] == APP_ID
    assert claims["iss"] == "https://api.botframework.com"
    assert claims["serviceurl"] == bf.service_url
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    other = await _verify(bf, keys, bf.channel_token(service_url="https://elsewhere.test/"))
    assert other["serviceurl"] == "https://elsewhere.test/"


async def test_bad_channel_tokens_are_rejected(bf: FakeBotFramework) -> None:
    keys = await _keys_client(bf)
    bad: list[tuple[str, type[Exception]]] = [
        (bf.channel_token(signing_key=bf.stranger_key), jwt.PyJWKClientError),
        (
            bf.channel_token(signing_key=bf.stranger_key, kid=bf.signing_key.kid),
            jwt.InvalidSignatureError,
        ),
        (bf.channel_token(audience="someone-else"), jwt.InvalidAudienceError),
        (bf.channel_token(issuer="https://evil.test"), jwt.InvalidIssuerError),
        (bf.channel_token(expires_in=-600), jwt.ExpiredSignatureError),
    ]
    for token, error in bad:
        with pytest.raises(error):
            await _verify(bf, keys, token)


async def test_a_rotated_key_is_published_beside_the_old_one(bf: FakeBotFramework) -> None:
    old = bf.channel_token()
    new_key = bf.rotate_signing_key()
    new = bf.channel_token()
    assert jwt.get_unverified_header(new)["kid"] == new_key.kid
    keys = await _keys_client(bf)
    assert (await _verify(bf, keys, old))["aud"] == APP_ID
    assert (await _verify(bf, keys, new))["aud"] == APP_ID


# -- the bot's token endpoint ---------------------------------------------------------------


async def test_token_endpoint_grants_the_bot_and_no_one_else(bf: FakeBotFramework) -> None:
    status, body = await _post_form(bf.token_url, _grant())
    assert status == 200
    assert body["token_type"] == "Bearer"  # noqa: S105
    assert body["expires_in"] == body["ext_expires_in"] == 3600
    assert isinstance(body["access_token"], str)
    assert body["access_token"]

    refusals = [
        (_grant(client_secret="wrong"), 401, "invalid_client"),  # noqa: S106
        (_grant(client_id="another-app"), 401, "invalid_client"),
        (_grant(scope="https://graph.microsoft.com/.default"), 400, "invalid_scope"),
        (_grant(grant_type="password"), 400, "unsupported_grant_type"),
    ]
    for form, expected_status, error in refusals:
        status, body = await _post_form(bf.token_url, form)
        assert (status, body["error"]) == (expected_status, error)
        assert body["error_description"].startswith("AADSTS")
    assert bf.tokens_issued == 1
    secrets_seen = [r.body.get("client_secret") for r in bf.requests if isinstance(r.body, dict)]
    assert set(secrets_seen) == {"***"}


async def test_a_single_tenant_bot_uses_its_tenant_token_url(bf: FakeBotFramework) -> None:
    status, _ = await _post_form(bf.token_url_for(bf.tenant_id), _grant())
    assert status == 200
    status, body = await _post_form(bf.token_url_for("contoso.onmicrosoft.test"), _grant())
    assert (status, body["error"]) == (400, "invalid_tenant")


# -- the connector, through the SDK's client ------------------------------------------------


@pytest.mark.parametrize("region", [None, "amer"])
async def test_sdk_client_sends_replies_updates_deletes_and_reads_members(
    region: str | None,
) -> None:
    async with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD, region=region) as bf:
        ada = bf.add_user("Ada Lovelace", email="ada@contoso.test")
        assert bf.service_url == (f"{bf.base_url}/{region}/" if region else f"{bf.base_url}/")
        token = await _connector_token(bf)
        async with _connector(bf, token) as client:
            conversations = client.conversations
            sent = await conversations.send_to_conversation(
                ada.conversation_id, Activity(type="message", attachments=[_card("Working…")])
            )
            assert sent.id
            reply = await conversations.reply_to_activity(
                ada.conversation_id, sent.id, Activity(type="message", text="noted")
            )
            assert reply.id
            assert reply.id != sent.id
            for text in ("Summary ready", "Saved to CRM"):
                updated = await conversations.update_activity(
                    ada.conversation_id,
                    sent.id,
                    Activity(type="message", id=sent.id, attachments=[_card(text)]),
                )
                assert updated.id == sent.id
            await conversations.delete_activity(ada.conversation_id, reply.id)

            member = await client.get_conversation_member(ada.conversation_id, ada.id)
            assert (member.aad_object_id, member.email) == (ada.aad_object_id, ada.email)
            assert (member.user_principal_name, member.tenant_id) == (ada.email, ada.tenant_id)
            by_object_id = await client.get_conversation_member(
                ada.conversation_id, ada.aad_object_id
            )
            assert by_object_id.id == ada.id

            created = await conversations.create_conversation(
                ConversationParameters(
                    is_group=False,
                    bot=ChannelAccount(id=bf.bot_id),
                    members=[ChannelAccount(id=ada.id)],
                    tenant_id=ada.tenant_id,
                    activity=Activity(type="message", text="hello again"),
                )
            )
            assert created.id == ada.conversation_id
            assert created.service_url == bf.service_url
            assert created.activity_id

        shown = bf.messages(ada.conversation_id)
        assert [m["id"] for m in shown] == [sent.id, created.activity_id]
        assert shown[0]["attachments"][0]["content"]["body"][0]["text"] == "Saved to CRM"
        assert bf.updates(sent.id) == 2
        assert bf.versions(sent.id)[0]["attachments"][0]["content"]["body"][0]["text"] == (
            "Working…"
        )
        assert bf.is_deleted(reply.id)
        assert bf.activity(reply.id)["replyToId"] == sent.id
        assert [(c.method, c.status) for c in bf.calls()] == [
            ("POST", 201),
            ("POST", 201),
            ("PUT", 200),
            ("PUT", 200),
            ("DELETE", 200),
            ("GET", 200),
            ("GET", 200),
            ("POST", 201),
        ]
        assert {c.authorization for c in bf.calls()} == {f"Bearer {token}"}
        assert bf.calls("put")[0].path.endswith(
            f"/v3/conversations/{ada.conversation_id}/activities/{sent.id}"
        )


async def test_connector_refuses_missing_unknown_and_expired_tokens(bf: FakeBotFramework) -> None:
    ada = bf.add_user("Ada Lovelace")
    message = Activity(type="message", text="hi")
    good = await _connector_token(bf)
    bf.expire_tokens()
    # An empty token makes the SDK send no Authorization header at all.
    for token in ("", "never-issued", good):
        async with _connector(bf, token) as client:
            with pytest.raises(aiohttp.ClientResponseError) as caught:
                await client.conversations.send_to_conversation(ada.conversation_id, message)
        assert caught.value.status == 401
    assert [c.authorization for c in bf.calls()] == [None, "Bearer never-issued", f"Bearer {good}"]
    assert bf.messages(ada.conversation_id) == []
    async with _connector(bf, await _connector_token(bf)) as client:
        await client.conversations.send_to_conversation(ada.conversation_id, message)
    assert len(bf.messages(ada.conversation_id)) == 1


async def test_a_blocked_conversation_answers_403_conversation_blocked_by_user(
    bf: FakeBotFramework,
) -> None:
    ada = bf.add_user("Ada Lovelace")
    async with _connector(bf, await _connector_token(bf)) as client:
        first = await client.conversations.send_to_conversation(
            ada.conversation_id, Activity(type="message", attachments=[_card("v1")])
        )
        assert first.id
        bf.block(ada.conversation_id)
        attempts: list[Callable[[], Any]] = [
            lambda: client.conversations.send_to_conversation(
                ada.conversation_id, Activity(type="message", text="hi")
            ),
            lambda: client.conversations.update_activity(
                ada.conversation_id, str(first.id), Activity(type="message", text="v2")
            ),
        ]
        for attempt in attempts:
            with pytest.raises(aiohttp.ClientResponseError) as caught:
                await attempt()
            assert caught.value.status == 403
            # For send, reply and update the SDK puts the response body in ``message``.
            assert json.loads(caught.value.message) == {
                "error": {
                    "code": "ConversationBlockedByUser",
                    "message": "User blocked the conversation with the bot.",
                }
            }
        bf.unblock(ada.conversation_id)
        await client.conversations.send_to_conversation(
            ada.conversation_id, Activity(type="message", text="welcome back")
        )
    assert [m.get("text") for m in bf.messages(ada.conversation_id)] == [None, "welcome back"]
    assert bf.updates(str(first.id)) == 0


async def test_throttled_requests_get_429_with_retry_after(bf: FakeBotFramework) -> None:
    ada = bf.add_user("Ada Lovelace")
    bf.throttle(2, retry_after=3)
    message = Activity(type="message", text="hi")
    async with _connector(bf, await _connector_token(bf)) as client:
        for _ in range(2):
            with pytest.raises(aiohttp.ClientResponseError) as caught:
                await client.conversations.send_to_conversation(ada.conversation_id, message)
            assert caught.value.status == 429
            assert caught.value.headers is not None
            assert caught.value.headers["Retry-After"] == "3"
            assert json.loads(caught.value.message)["error"]["code"] == "Throttled"
        await client.conversations.send_to_conversation(ada.conversation_id, message)
    assert [c.status for c in bf.calls()] == [429, 429, 201]
    assert bf.tokens_issued == 1


async def test_unknown_activities_conversations_and_members_are_404(
    bf: FakeBotFramework,
) -> None:
    ada = bf.add_user("Ada Lovelace")
    async with _connector(bf, await _connector_token(bf)) as client:
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            await client.conversations.update_activity(
                ada.conversation_id, "1700000000000", Activity(type="message", text="x")
            )
        assert caught.value.status == 404
        assert json.loads(caught.value.message)["error"]["code"] == (
            "ActivityNotFoundInConversation"
        )
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            await client.conversations.send_to_conversation(
                "a:1no-such-chat", Activity(type="message", text="x")
            )
        assert json.loads(caught.value.message)["error"]["code"] == "ConversationNotFound"
        # TeamsConnectorClient's own methods raise_for_status(): the body is not kept.
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            await client.get_conversation_member(ada.conversation_id, "29:1stranger")
        assert (caught.value.status, caught.value.message) == (404, "Not Found")
    body = await _error_body(bf, "GET", f"v3/conversations/{ada.conversation_id}/members/29:1x")
    assert body["error"]["code"] == "MemberNotFoundInConversation"


async def _error_body(bf: FakeBotFramework, method: str, path: str) -> Any:
    token = await _connector_token(bf)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, bf.service_url + path, headers=headers) as response,
    ):
        return await response.json()


# -- activities from Teams, and delivering them to a bot ------------------------------------


async def test_activity_builders_make_teams_personal_scope_activities(
    bf: FakeBotFramework,
) -> None:
    ada = bf.add_user("Ada Lovelace", timezone="Europe/London")
    built = {
        "install": bf.installation_add(ada),
        "uninstall": bf.installation_remove(ada),
        "added": bf.members_added(ada),
        "message": bf.message(ada, "help"),
        "execute": bf.card_action(ada, "approve", {"run": "r1"}, reply_to_id="1700000000001"),
        "submit": bf.card_submit(ada, {"run": "r1"}, reply_to_id="1700000000001"),
    }
    for raw in built.values():
        activity = Activity.model_validate(raw)
        assert activity.channel_id == "msteams"
        assert activity.service_url == bf.service_url
        assert activity.recipient is not None
        assert activity.recipient.id == f"28:{APP_ID}"
        assert activity.from_property.aad_object_id == ada.aad_object_id
        assert activity.conversation.id == ada.conversation_id
        assert activity.conversation.conversation_type == "personal"
        assert activity.conversation.tenant_id == ada.tenant_id
        assert activity.locale == "en-US"
        assert raw["channelData"]["tenant"]["id"] == ada.tenant_id
    assert len({raw["id"] for raw in built.values()}) == len(built)
    assert built["install"]["action"] == "add"
    assert built["uninstall"]["action"] == "remove"
    assert built["added"]["membersAdded"] == [{"id": f"28:{APP_ID}"}]
    execute = Activity.model_validate(built["execute"])
    assert (execute.type, execute.name) == ("invoke", ADAPTIVE_CARD_ACTION)
    assert execute.reply_to_id == "1700000000001"
    action = built["execute"]["value"]["action"]
    assert action == {
        "type": "Action.Execute",
        "id": action["id"],
        "verb": "approve",
        "data": {"run": "r1"},
    }
    submit = Activity.model_validate(built["submit"])
    assert submit.type == "message"
    assert submit.text is None
    assert submit.value == {"run": "r1"}


async def test_meeting_end_arrives_in_a_meeting_chat_the_bot_can_post_to(
    bf: FakeBotFramework,
) -> None:
    ada = bf.add_user("Ada Lovelace")
    join_url = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0"
    raw = bf.meeting_end(ada, "MCMxOTptZWV0aW5nX2FiYw==", join_url, title="Acme renewal")
    event = Activity.model_validate(raw)
    assert (event.type, event.name) == ("event", MEETING_END)
    assert event.conversation.is_group is True
    assert event.conversation.conversation_type == "groupChat"
    assert raw["channelData"]["meeting"]["id"] == "MCMxOTptZWV0aW5nX2FiYw=="
    assert set(raw["value"]) == {"Id", "MeetingType", "JoinUrl", "Title", "EndTime"}
    assert raw["value"]["JoinUrl"] == join_url
    assert raw["value"]["EndTime"].endswith("Z")
    # A trap for the bot: the SDK's model reads camelCase keys, so Teams' PascalCase value
    # parses into an empty one. Read the keys from the raw value instead.
    assert MeetingEndEventDetails.model_validate(raw["value"]).end_time is None
    chat = event.conversation.id
    assert bf.meeting_end(ada, "MCMxOTptZWV0aW5nX2FiYw==", join_url)["conversation"]["id"] == chat
    async with _connector(bf, await _connector_token(bf)) as client:
        await client.conversations.send_to_conversation(
            chat, Activity(type="message", text="Notes are coming")
        )
        members = await client.conversations.get_conversation_members(chat)
    assert [m.id for m in members] == [ada.id]
    assert [m["text"] for m in bf.messages(chat)] == ["Notes are coming"]


async def test_deliver_posts_with_a_channel_token_and_returns_the_answer(
    bf: FakeBotFramework,
) -> None:
    keys = await _keys_client(bf)
    seen: list[dict[str, Any]] = []

    async def messages(request: web.Request) -> web.Response:
        # A minimal bot endpoint: check the token, then answer like a bot would.
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = await _verify(bf, keys, token)
        except (jwt.PyJWTError, ValueError):
            return web.json_response({"error": "unauthorized"}, status=401)
        activity = await request.json()
        seen.append({"claims": claims, "activity": activity})
        if activity["type"] == "invoke":
            card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
            return web.json_response({"statusCode": 200, "type": CARD_TYPE, "value": card})
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/messages"
    try:
        ada = bf.add_user("Ada Lovelace")
        status, body = await bf.deliver(bot_url, bf.message(ada, "hello"))
        assert (status, body) == (202, None)
        invoke = bf.card_action(ada, "approve", {"run": "r1"}, reply_to_id="1700000000001")
        status, body = await bf.deliver(bot_url, invoke)
        assert status == 200
        assert body["type"] == CARD_TYPE
        assert body["statusCode"] == 200
        assert (await bf.deliver(bot_url, bf.message(ada, "x"), token=None))[0] == 401
        stranger = bf.channel_token(signing_key=bf.stranger_key)
        assert (await bf.deliver(bot_url, bf.message(ada, "x"), token=stranger))[0] == 401
    finally:
        await runner.cleanup()
    assert [s["claims"]["serviceurl"] for s in seen] == [bf.service_url] * 2
    assert [d[1] for d in bf.delivered] == [202, 200, 401, 401]
