"""The bot in a real Teams-like client: the Microsoft 365 Agents Playground (npm
``@microsoft/m365agentsplayground``, installed by ``make playground`` from
``tests/e2e/playground/package-lock.json``), its web page driven in headless Chromium.

The service runs with the real summarizer (Claude replaced by a local Messages API server) and
no bot app id, in the dangerous unauthenticated mode: the Playground sends activities without a
Bot Framework token and takes replies without one. It plays Maria Chen of
``playground/playground.yml``, a rep with a Smart Notes seat, and is her Teams: opening the page
installs the bot in her personal chat (installationUpdate and conversationUpdate at once, as
Teams does), the bot finds her seat by the e-mail the Playground's connector reports for her,
and greets her once. Her call is then processed; its card is posted to the chat and updated in
place; she rejects one task and saves, with the card's own ``Action.Execute`` buttons (the
Playground sends ``adaptiveCard/action`` invokes and shows the card the bot answers with, so the
``Action.Submit`` fallback the cards carry is not used here); the embedded CRM then holds the
note and the task she kept. Screenshots of the card in each state
go to ``test-artifacts/playground/``.

She also asks about her earlier calls, typed in the chat: the answer card cites the call, the
moment and the words; its source's dialog (which the Playground cannot open, so its press is
sent from the Playground's activity editor) links to the call's review page; a question nothing
matches gets "I don't know", and one that only another rep's confidential call answers gets
the same, though she attended that call. Claude answers through the local Messages API.

Everything listens on and talks to 127.0.0.1 only: the Playground is bound to it by a preloaded
script (``playground/loopback.cjs``; its CLI has no host option), and the page's requests for
web fonts on Microsoft's CDN are refused in the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, Route, async_playwright, expect
from pydantic import SecretStr
from sqlalchemy import select
from yarl import URL

from crm_adapters.embedded import EmbeddedCRM
from smartnotes.settings import BotSettings, Settings
from smartnotes.storage.models import TeamsConversation, User
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, Reply, tasks_reply, tool_call
from tests.integration.test_api_review import CLAUDE_TASKS, VTT
from tests.integration.test_ask import (
    DPA_TASK,
    QUESTION,
    AskingClaude,
    answer_call,
    indexed,
    source_saying,
    task,
)
from tests.integration.test_ask import VTT as ASK_VTT
from tests.seed import seed_run, seed_user

HERE = Path(__file__).parent
PLAYGROUND = HERE / "playground"
CLI = PLAYGROUND / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "playground"
NODE = shutil.which("node")
NPM = shutil.which("npm")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

TENANT = "northwind"
# The Playground's signed-in user (playground.yml): the rep, matched to her seat by e-mail.
REP = "maria@northwind.test"
REP_AAD_OBJECT_ID = "5d2e8a41-3c6f-4b7a-9e10-000000000020"
PERSONAL_CHAT = "a:smartnotes-e2e-personal-chat"
CUSTOMER = "Contoso Logistics"
CALL_URL = "https://calls.northwind.test/playground-call"
KEPT, REJECTED = (task["title"] for task in CLAUDE_TASKS)

pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(
        NODE is None or NPM is None,
        reason="Node.js and npm are not installed: the Agents Playground (npm) cannot run",
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed: run `make browser` (Debian package chromium)",
    ),
]


@dataclass
class Playground:
    url: str
    connector: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def start_playground(
    bot_url: str, workdir: Path
) -> tuple[asyncio.subprocess.Process, Playground]:
    """The Playground on a free loopback port, talking to the bot at ``bot_url``."""
    assert NODE is not None
    port = free_port()
    started = Playground(
        url=f"http://127.0.0.1:{port}/",
        connector=f"http://127.0.0.1:{port}/_connector",
        log=workdir / "playground.out",
    )
    env = {
        **os.environ,
        # No browser of its own (the test brings one), our Teams context, its log file here.
        "TEAMSAPPTESTER_BROWSER": "none",
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(PLAYGROUND / "playground.yml"),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(workdir / "playground.log"),
        "M365_AGENTS_PLAYGROUND_RECORDING_FILE": str(workdir / "activities.log"),
        "NODE_OPTIONS": f'--require "{PLAYGROUND / "loopback.cjs"}"',
    }
    command = [NODE, str(CLI), "-c", "msteams", "-e", bot_url, "-p", str(port)]
    # The connector address the activities carry as serviceUrl (it says "localhost" otherwise).
    command += ["--service-url", started.connector, "--disable-telemetry"]
    command += ["--enable-events-recording"]
    with started.log.open("wb") as out:
        # It writes a devTools/ folder into its working directory: the test's temp dir.
        process = await asyncio.create_subprocess_exec(
            *command, cwd=workdir, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    return process, started


async def wait_until_up(
    process: asyncio.subprocess.Process, playground: Playground, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while process.returncode is None and time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(playground.url + "_debug/ping") as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the Playground did not start:\n{playground.log.read_text()}")
    # Were its port taken in between, it would pick another one and miss its connector URL.
    port = playground.url.rstrip("/").rsplit(":", 1)[1]
    assert f"Listening on {port}" in playground.log.read_text(), playground.log.read_text()


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest_asyncio.fixture
async def live(tmp_path: Path, fake_claude: FakeAnthropic) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path / "data",
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=48,
        summarizer_context=4096,
        workers=1,
        # No app id: the Playground sends no token and accepts replies without one.
        dangerously_allow_unauthenticated=True,
        bot=BotSettings(tenant=TENANT, card_update_interval=0.5),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        await crm.add_customer(CUSTOMER, ["daniel@contoso.test"])
        yield api


@contextlib.asynccontextmanager
async def opened_playground(
    api: Api, tmp_path: Path, prefix: str = ""
) -> AsyncIterator[Playground]:
    """The Playground in front of the service of ``api``; its logs are kept in the artifacts,
    their names led by ``prefix``."""
    if not CLI.is_file():
        pytest.fail("the Agents Playground is not installed: run `make playground` (npm ci)")
    workdir = tmp_path / "playground"
    workdir.mkdir()
    process, started = await start_playground(api.url("/api/messages"), workdir)
    try:
        await wait_until_up(process, started)
        yield started
    finally:
        await stop(process)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # Every activity both ways, its log and its output: what to read when this fails in CI.
        for name in ("activities.log", "playground.log", "playground.out"):
            if (workdir / name).is_file():
                shutil.copyfile(workdir / name, ARTIFACTS / f"{prefix}{name}")


@pytest_asyncio.fixture
async def playground(live: Api, tmp_path: Path) -> AsyncIterator[Playground]:
    async with opened_playground(live, tmp_path) as started:
        yield started


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


async def loopback_only(route: Route) -> None:
    """The page asks Microsoft's CDN for fonts; nothing leaves the machine."""
    if route.request.url.startswith("http://127.0.0.1:"):
        await route.continue_()
    else:
        await route.abort()


async def shot(card: Locator, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await card.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def log_entries(page: Page, entry: str) -> Locator:
    """Lines of the Playground's log panel, e.g. ``invoke 200`` (what it sent, the answer)."""
    return page.get_by_text(entry, exact=True)


async def post_call(api: Api) -> str:
    status, body = await api.call(
        "POST",
        "/api/runs",
        as_user=(TENANT, REP),
        json_body={
            "call_id": "playground-call",
            "transcript": VTT,
            "started_at": "2026-11-17T10:00:00-06:00",
            "timezone": "America/Chicago",
            "call_url": CALL_URL,
            "participants": [{"name": "Daniel Okafor", "email": "daniel@contoso.test"}],
        },
    )
    assert status == 202, body
    run_id: str = body["run_id"]
    return run_id


async def test_a_rep_rejects_a_task_and_saves_from_the_card_in_the_playground(
    live: Api, playground: Playground, browser: Browser, fake_claude: FakeAnthropic
) -> None:
    # Tasks come a few seconds after the summary starts: the card shows the run working first.
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=4.0)
    # Tall enough that a whole run card is on screen for its screenshot.
    page = await browser.new_page(viewport={"width": 1280, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.route("**/*", loopback_only)
    cards = page.locator(".ac-adaptiveCard")

    # Opening the personal chat installs the bot: one welcome, however many activities.
    await page.goto(playground.url)
    await expect(log_entries(page, "installationUpdate 202")).to_have_count(1, timeout=30_000)
    await expect(log_entries(page, "conversationUpdate 202")).to_have_count(1)
    welcome = cards.filter(has_text="Welcome to Smart Notes")
    await expect(welcome).to_have_count(1)
    await shot(welcome, "1-welcome")
    async with live.service.sessions() as session:
        rep = (await session.execute(select(User).where(User.email == REP))).scalar_one()
        conversation = await session.get(TeamsConversation, rep.id)
    assert conversation is not None
    assert conversation.conversation_id == PERSONAL_CHAT
    assert conversation.reference["serviceUrl"] == playground.connector
    assert rep.aad_object_id == REP_AAD_OBJECT_ID

    run_id = await post_call(live)
    # The run's card: its header says "AI generated" on its own (the welcome, in a sentence).
    card = cards.filter(has=page.get_by_text("AI generated", exact=True))
    # Refresh is offered only while the run is working.
    await expect(card.get_by_role("button", name="Refresh")).to_be_visible(timeout=60_000)
    await shot(card, "2-processing")

    await expect(card.get_by_text("Ready for your review")).to_be_visible(timeout=180_000)
    view = await live.wait_for(run_id, (TENANT, REP), lambda v: v["status"] == "needs_review")
    await expect(card.get_by_text(CUSTOMER, exact=False).first).to_be_visible()
    await expect(card.get_by_role("button", name="Reject")).to_have_count(2)
    # Each task is a row; what it was said as, and the fields to edit, wait behind Details.
    await expect(card.get_by_role("button", name="Update", exact=True)).to_have_count(0)
    await card.get_by_role("button", name="Details").first.click()
    await expect(card.get_by_role("button", name="Update", exact=True)).to_have_count(1)
    await shot(card, "3-ready")

    teams = live.service.teams
    assert teams is not None
    # No update of an older state is still on its way to replace the card pressed next.
    await teams.cards.idle()
    await card.get_by_role("button", name="Reject").nth(1).click()
    await expect(card.get_by_role("button", name="Undo")).to_be_visible(timeout=30_000)
    await expect(card.get_by_role("button", name="Reject")).to_have_count(1)
    await shot(card, "4-rejected")
    rejected = await live.wait_for(
        run_id,
        (TENANT, REP),
        lambda v: [t["status"] for t in v["tasks"]] == ["proposed", "rejected"],
        seconds=10,
    )
    assert rejected["tasks"][1]["title"] == REJECTED

    await teams.cards.idle()
    # The button says what it writes: the note and the one task still kept.
    await card.get_by_role("button", name="Save note and 1 task").click()
    await expect(card.get_by_text(f"Saved to the CRM for {CUSTOMER}")).to_be_visible(timeout=30_000)
    await expect(card.get_by_text("In the CRM as task")).to_be_visible()
    await shot(card, "5-saved")
    await page.screenshot(path=str(ARTIFACTS / "6-playground.png"))

    # The presses went as Action.Execute invokes (not the Action.Submit fallback), and the
    # run kept one card, updated in place; still one welcome.
    await expect(log_entries(page, "invoke 200")).to_have_count(2)
    await expect(card).to_have_count(1)
    await expect(welcome).to_have_count(1)
    # The Playground renders no card refresh (Teams' "user specific view"), and says so in its
    # log; its list of unsupported card features also names dialogs (task/fetch) and the
    # typeahead. Those three are tested against the local Bot Framework instead
    # (tests/integration/test_bot.py), which answers them as Teams documents.
    unsupported = "User specific view is not supported yet in Microsoft 365 Agents playground"
    await expect(page.get_by_text(unsupported, exact=False).first).to_be_attached()
    assert not errors, errors

    saved = await live.wait_for(run_id, (TENANT, REP), lambda v: v["status"] == "saved")
    crm = live.service.crm
    assert isinstance(crm, EmbeddedCRM)
    (note,) = await crm.notes(saved["customer_id"])
    assert note.body == saved["summary"]["text"] == view["summary"]["text"]
    assert note.body
    assert note.ai_generated is True
    assert note.call_url == CALL_URL
    written = await crm.tasks()
    assert [t.title for t in written] == [KEPT]
    assert [(t["title"], t["status"]) for t in saved["tasks"]] == [
        (KEPT, "written"),
        (REJECTED, "rejected"),
    ]


# Asking about past calls ------------------------------------------------------------------

# Another rep of the Playground's tenant (playground.yml), whose confidential call Maria sat in.
LEE = "lee@northwind.test"
LEES_WORDS = "Agree the escrow clause before the audit"
ABOUT_LEES_CALL = "Did anyone agree to an escrow clause?"
NOTHING_MATCHES = "When is the Kubernetes migration?"
# How playground.yml names the bot, its tenant and the user; a mocked activity carries them.
BOT = {"id": "28:5d2e8a41-3c6f-4b7a-9e10-0000000000b0", "name": "Smart Notes"}
AAD_TENANT = "5d2e8a41-3c6f-4b7a-9e10-000000000001"
MARIA = {"id": "29:maria-chen", "name": "Maria Chen", "aadObjectId": REP_AAD_OBJECT_ID}


@dataclass
class AskWorld:
    api: Api
    claude: AskingClaude
    maria_run: str
    lees_secret_run: str


@pytest_asyncio.fixture
async def ask_world(tmp_path: Path, fake_claude: FakeAnthropic) -> AsyncIterator[AskWorld]:
    """Maria's earlier call with Contoso and a confidential call of Lee's that she attended,
    both indexed for search; no call is processed here, so no model is loaded."""
    claude = AskingClaude(fake_claude)
    # The port is chosen first: the dialog's link to the review page is built on it.
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        port=port,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        extractor_max_retries=0,
        dangerously_allow_unauthenticated=True,
        bot=BotSettings(tenant=TENANT),
    )
    async with running_api(settings, process=False, port=port) as api:
        sessions = api.service.sessions
        maria = await seed_user(sessions, TENANT, REP, name="Maria Chen")
        lee = await seed_user(sessions, TENANT, LEE, name="Lee Park")
        transcript = tmp_path / "maria-dpa.vtt"
        transcript.write_text(ASK_VTT, encoding="utf-8")
        maria_run = await seed_run(
            sessions,
            TENANT,
            maria,
            call_id="maria-dpa",
            customer=("c-1", CUSTOMER),
            tasks=[DPA_TASK],
            transcript_ref=str(transcript),
        )
        lees_secret_run = await seed_run(
            sessions,
            TENANT,
            lee,
            call_id="lee-secret",
            attendees=(REP,),
            confidential=True,
            tasks=[task(LEES_WORDS)],
        )
        for run_id in (maria_run, lees_secret_run):
            await indexed(api.service, run_id)
        yield AskWorld(api, claude, maria_run, lees_secret_run)


async def ask(page: Page, question: str) -> Locator:
    """Types the question in the chat's compose box and sends it; the bot's answer card."""
    box = page.get_by_role("textbox")
    await box.fill(question)
    await box.press("Enter")
    answer = page.locator(".ac-adaptiveCard").filter(has=page.get_by_text(question, exact=True))
    await expect(answer).to_have_count(1, timeout=30_000)
    return answer


async def log_details(page: Page, entry: Locator, tab: str) -> Any:
    """The JSON the Playground's log panel shows for an entry: the request or the response."""
    await entry.click()
    await page.get_by_role("tab", name=tab).click()
    shown = page.locator("div:has(> [role=tablist]) + [contenteditable]")
    await expect(shown).to_contain_text("{")
    return json.loads(await shown.inner_text())


async def mock_activity(page: Page, activity: dict[str, Any]) -> None:
    """Sends an activity of our own from the Playground's "Mock an Activity" editor."""
    await page.get_by_role("button", name="Mock an Activity").click()
    await page.get_by_role("menuitem", name="Custom activity").click()
    editor = page.locator(".monaco-editor")
    await editor.click()
    await page.keyboard.press("Control+A")
    # Pasted, not typed: the editor would close every bracket and quote a second time.
    await page.evaluate("text => navigator.clipboard.writeText(text)", json.dumps(activity))
    await page.keyboard.press("Control+V")
    await page.get_by_role("button", name="Send activity").click()
    await expect(editor).to_have_count(0)


def dialog_data(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The data of the card's buttons that open a Teams dialog (``task/fetch``)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            data = node.get("data")
            if (
                node.get("type") == "Action.Submit"
                and isinstance(data, dict)
                and (data.get("msteams") or {}).get("type") == "task/fetch"
            ):
                found.append(data)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def test_a_rep_asks_about_her_calls_in_the_playground(
    ask_world: AskWorld, tmp_path: Path, browser: Browser
) -> None:
    api, claude = ask_world.api, ask_world.claude

    def answer(body: dict[str, Any]) -> Reply:
        send = source_saying(body, "I will send the signed DPA by Friday.")
        return answer_call(
            f"Ana promised the signed DPA by Friday [{send}].",
            [{"source": send, "quote": "send the signed DPA by Friday"}],
        )

    claude.then(tool_call("search_calls", {"query": "Contoso DPA"}), answer)
    # Maria's Teams shows times in her own zone; the clipboard is how a mocked activity is
    # put into the Playground's editor.
    context = await browser.new_context(
        viewport={"width": 1280, "height": 1600},
        locale="en-US",
        timezone_id="America/Chicago",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.route("**/*", loopback_only)

    async with opened_playground(api, tmp_path, "ask-") as playground:
        await page.goto(playground.url)
        await expect(log_entries(page, "installationUpdate 202")).to_have_count(1, timeout=30_000)
        await expect(page.locator(".ac-adaptiveCard").filter(has_text="Welcome")).to_have_count(1)

        # A question her calls answer: Claude's answer, with the call, moment and words cited.
        card = await ask(page, QUESTION)
        await expect(card).to_contain_text("Ana promised the signed DPA by Friday [1].")
        await expect(card.get_by_text("Sources", exact=True)).to_be_visible()
        await expect(card).to_contain_text(f"[1] {CUSTOMER} \u00b7 Ana Lima at 0:05")
        await expect(card.get_by_text("Tue, Nov 17, 2026 10:00 AM")).to_be_visible()
        quote = card.get_by_text("\u201csend the signed DPA by Friday\u201d", exact=True)
        await expect(quote).to_be_visible()
        await expect(card).to_contain_text("Answered by Claude (claude-sonnet-4-6).")
        await expect(card.get_by_role("button", name="Open")).to_have_count(1)
        await shot(card, "ask-1-answer")
        assert claude.requests[0]["messages"][0]["content"].endswith(f"Question: {QUESTION}")

        # Its source opens the call's review page in a Teams dialog, which the Playground
        # does not open (it says so under the card). Teams' press of that button, the
        # task/fetch invoke with the button's data, is sent from the Playground's own
        # activity editor instead, and its answer read in the Playground's log.
        unsupported = "Task module (task/fetch) is not supported yet in Microsoft 365 Agents"
        await expect(page.get_by_text(unsupported, exact=False).first).to_be_attached()
        replies = log_entries(page, "message 201")
        await expect(replies).to_have_count(2)
        sent = await log_details(page, replies.last, "Request")
        [data] = dialog_data(sent["attachments"][0]["content"])
        # The id the Playground's connector gave the card: the message the press comes from.
        card_id = (await log_details(page, replies.last, "Response"))["id"]
        assert data["run_id"] == ask_world.maria_run
        await mock_activity(
            page,
            {
                "type": "invoke",
                "name": "task/fetch",
                "channelId": "msteams",
                "serviceUrl": playground.connector,
                "from": MARIA,
                "recipient": BOT,
                "conversation": {
                    "id": PERSONAL_CHAT,
                    "conversationType": "personal",
                    "tenantId": AAD_TENANT,
                },
                "replyToId": card_id,
                "value": {"data": data, "context": {"theme": "default"}},
            },
        )
        invoked = log_entries(page, "invoke 200")
        await expect(invoked).to_have_count(1, timeout=30_000)
        dialog = (await log_details(page, invoked, "Response"))["task"]
        assert dialog["type"] == "continue", dialog
        link = URL(dialog["value"]["url"])
        assert link.origin() == URL(api.url("/")).origin()
        assert link.path == f"/review/{ask_world.maria_run}"
        review = await context.new_page()
        await review.route("**/*", loopback_only)
        await review.goto(str(link))
        await expect(review.get_by_role("heading", level=1)).to_contain_text(CUSTOMER)
        await expect(review.get_by_role("link", name="Open the call")).to_have_attribute(
            "href", "https://calls.test/maria-dpa"
        )
        promise = review.get_by_text("I will send the signed DPA by Friday.")
        await expect(promise.first).to_be_visible()
        await review.screenshot(path=str(ARTIFACTS / "ask-2-review-page.png"), full_page=True)
        await review.close()

        # Nothing in her calls matches: "I don't know", no source, and no model asked.
        unknown = await ask(page, NOTHING_MATCHES)
        await expect(unknown).to_contain_text("I don't know: nothing in your calls answers this.")
        await expect(unknown).to_contain_text("Answered by no model: nothing in your calls")
        await expect(unknown.get_by_text("Sources", exact=True)).to_have_count(0)
        await expect(unknown.get_by_role("button", name="Open")).to_have_count(0)
        await shot(unknown, "ask-3-dont-know")

        # Lee's confidential call holds the answer, and Maria sat in it: she is still told
        # nothing. The same question finds it for Lee, so the rule is what hides it.
        status, lees = await api.call(
            "POST", "/api/ask", as_user=(TENANT, LEE), json_body={"question": ABOUT_LEES_CALL}
        )
        assert status == 200, lees
        assert {c["run_id"] for c in lees["citations"]} == {ask_world.lees_secret_run}
        assert any(LEES_WORDS in c["quote"] for c in lees["citations"]), lees
        secret = await ask(page, ABOUT_LEES_CALL)
        await expect(secret).to_contain_text("I don't know: nothing in your calls answers this.")
        await expect(secret.get_by_role("button", name="Open")).to_have_count(0)
        await expect(page.get_by_text(LEES_WORDS, exact=False)).to_have_count(0)
        await shot(secret, "ask-4-confidential")

    # Only the answered question went to Claude: its search, then its answer.
    assert len(claude.requests) == 2
    assert LEES_WORDS not in json.dumps(claude.fake.requests)
    assert not errors, errors
