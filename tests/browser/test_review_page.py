"""The post-call review page in headless Chromium, against the real service on loopback.

A call is posted to the signed webhook, processed by the real demo model with Claude replaced
by a local Messages API server, and reviewed in the page the CRM embeds: steps advance, the
summary streams in, the rep edits it, rejects one task, moves another's due date, likes the
summary and saves; the embedded CRM then holds exactly that. Screenshots of each state go to
``test-artifacts/review-page/``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr
from sqlalchemy import select

from crm_adapters.embedded import EmbeddedCRM
from pipeline.coach_local import CallTask, local_coaching
from pipeline.formats import parse_transcript_text
from smartnotes.auth import issue_review_token
from smartnotes.settings import CallsSettings, ReviewSettings, Settings
from smartnotes.storage.models import Feedback, Run, RunStatus
from smartnotes.web.signing import sign_headers
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.integration.test_api_review import CLAUDE_TASKS, VTT
from tests.seed import TASKS, seed_run, seed_user

TENANT = "northwind"
REP = "maria@northwind.test"
OTHER = "lee@northwind.test"
SECRET = "calling-tool-secret-for-the-browser-test-0123"  # noqa: S105 - test-only key
CRM_ORIGIN = "https://crm.northwind.test"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "review-page"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `make browser` (Debian package chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def live(tmp_path: Path, fake_claude: FakeAnthropic) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=48,
        summarizer_context=4096,
        workers=1,
        calls=CallsSettings(secrets=SecretStr(SECRET), tenant=TENANT),
        review=ReviewSettings(frame_ancestors=CRM_ORIGIN),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        await seed_user(api.service.sessions, TENANT, OTHER, name="Lee")
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
        yield api


LATE_CUE = "\n00:02:00.000 --> 00:02:04.000\n<v Daniel Okafor>Talk soon.</v>\n"


async def post_call(api: Api, call_id: str, transcript: str = VTT) -> dict[str, Any]:
    body = json.dumps(
        {
            "call_id": call_id,
            "rep": {"email": REP, "name": "Maria Chen"},
            "participants": [{"name": "Daniel Okafor", "email": "daniel@contoso.test"}],
            "started_at": "2026-11-17T10:00:00-06:00",
            "timezone": "America/Chicago",
            "call_url": f"https://calls.northwind.test/{call_id}",
            "transcript": transcript,
        }
    ).encode()
    headers = {"Content-Type": "application/json", **sign_headers(SECRET, body)}
    async with api.http.post(api.url("/webhooks/calls"), data=body, headers=headers) as r:
        assert r.status == 202, await r.text()
        return dict(await r.json())


def review_url(api: Api, answer: dict[str, Any], email: str = REP, ttl: int = 600) -> str:
    token = issue_review_token(api.service.review_secret, TENANT, email, answer["run_id"], ttl=ttl)
    # The address the webhook answered, as the CRM would open it, on the test server's port.
    path = answer["review_url"].split("/review/", 1)[1]
    return api.url(f"/review/{path}") + f"?token={token}"


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def watch(page: Page, until: str, seconds: float = 240) -> list[tuple[str, int]]:
    """The header's status and the summary's length as they change, until ``until`` shows."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = (await page.locator("#status").text_content() or "").strip()
        length = len(await page.locator("#summary-text").input_value())
        if not seen or seen[-1] != (status, length):
            seen.append((status, length))
        if status == until:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"the page never showed {until!r}; it showed {seen[-5:]}")


async def test_a_rep_reviews_and_saves_a_call_in_the_page(
    live: Api, browser: Browser, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=2.0)
    answer = await post_call(live, "call-page")
    page = await checked_page(browser, viewport={"width": 720, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = await page.goto(review_url(live, answer))
    assert response is not None
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert f"frame-ancestors {CRM_ORIGIN}" in csp
    assert "script-src 'self'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    await expect(page.locator(".ai-label").first).to_have_text("AI generated")

    seen = await watch(page, "Ready for your review")
    statuses = [status for status, _ in seen]
    assert any("Summarizing" in s for s in statuses), statuses
    assert any("analyzing" in s.lower() for s in statuses), statuses
    streaming = [n for status, n in seen if status != "Ready for your review" and n > 0]
    assert streaming, "the summary appeared while the run was still working"
    await expect(page.locator('#steps li[data-step="ready"]')).to_have_class("done")
    await expect(page.locator(".meta time")).to_contain_text("10:00 (America/Chicago)")
    await shot(page, "1-ready")

    # A narrow modal at 200% zoom: everything wraps, nothing scrolls sideways.
    zoomed = await browser.new_page(viewport={"width": 360, "height": 800}, device_scale_factor=2)
    await zoomed.goto(review_url(live, answer))
    await expect(zoomed.locator("#status")).to_have_text("Ready for your review")
    overflow = await zoomed.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await shot(zoomed, "1-ready-narrow-200pct")
    await zoomed.close()

    summary = page.locator("#summary-text")
    await expect(summary).to_be_editable()
    edited = "Contoso wants annual pricing and a demo for the finance team."
    await summary.fill(edited)
    await summary.press("Tab")
    tasks = page.locator(".group-mine .task")
    await expect(tasks.nth(0)).to_contain_text("I will send you a revised quote")
    await expect(tasks.nth(0).locator(".evidence figcaption")).to_contain_text("at 0:01")
    await expect(page.locator("#extractor")).to_contain_text("Claude")
    # Both tasks are the rep's own: Save says it writes the note and both of them.
    await expect(page.locator("#save")).to_have_text("Save note and 2 tasks")

    # Reject the demo task; move the quote's due date, in place.
    quote_title, demo_title = CLAUDE_TASKS[0]["title"], CLAUDE_TASKS[1]["title"]
    await page.get_by_role("button", name=f"Reject task: {demo_title}").click()
    await expect(tasks.nth(1)).to_have_class(re.compile(r"\bdecision-rejected\b"))
    await expect(page.locator("#save")).to_have_text("Save note and 1 task")
    await page.get_by_role("button", name=f"Edit task: {quote_title}").click()
    due = tasks.nth(0).locator('input[type="date"]')
    await due.fill("2026-11-19")
    await tasks.nth(0).get_by_role("button", name=f"Save changes to task: {quote_title}").click()
    await expect(tasks.nth(0).locator(".facts")).to_contain_text("Due 2026-11-19")
    # The words said stay visible, struck through: the rep changed the date they gave.
    await expect(tasks.nth(0).locator("s.said")).to_contain_text("by Friday")
    await page.get_by_role("button", name="Like the summary", exact=True).click()
    await expect(page.get_by_role("button", name="Like the summary", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await shot(page, "2-edited")

    run_id = answer["run_id"]
    view = await live.wait_for(
        run_id,
        (TENANT, REP),
        lambda v: bool(v["summary"]["edited"]) and v["tasks"][0]["due_date"] == "2026-11-19",
        seconds=10,
    )
    assert view["summary"]["text"] == edited
    assert view["feedback"]["summary"]["rating"] == "like"
    kept = [t for t in view["tasks"] if t["status"] != "rejected"]

    await page.get_by_role("button", name="Save note and 1 task").click()
    await expect(page.locator("#status")).to_have_text("Saved to the CRM", timeout=30_000)
    await expect(page.locator("#save")).to_have_text("Saved the note and 1 task to the CRM")
    await shot(page, "3-saved")
    assert await axe_violations(page) == [], "the saved page is accessible too"
    assert not errors, errors

    crm = live.service.crm
    assert isinstance(crm, EmbeddedCRM)
    (note,) = await crm.notes()
    assert note.body == edited
    assert note.ai_generated is True
    assert note.call_url == "https://calls.northwind.test/call-page"
    written = await crm.tasks()
    assert sorted(t.title for t in written) == sorted(t["title"] for t in kept)
    assert CLAUDE_TASKS[1]["title"] not in {t.title for t in written}
    quote = next(t for t in written if t.title == CLAUDE_TASKS[0]["title"])
    assert quote.due_date is not None
    assert quote.due_date.isoformat() == "2026-11-19"


async def test_expired_or_foreign_tokens_show_nothing(
    live: Api, browser: Browser, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=0.1)
    answer = await post_call(live, "call-private")
    await live.wait_for(answer["run_id"], (TENANT, REP), lambda v: v["status"] == "needs_review")
    page = await browser.new_page()
    secret = live.service.review_secret
    other_run = await post_call(live, "call-other")
    urls = {
        "expired": live.url(f"/review/{answer['run_id']}?token=") + _expired(secret, answer),
        "another user": review_url(live, answer, email=OTHER),
        "token for another run": live.url(f"/review/{answer['run_id']}?token=")
        + issue_review_token(secret, TENANT, REP, other_run["run_id"]),
        "no token": live.url(f"/review/{answer['run_id']}"),
        "forged": live.url(f"/review/{answer['run_id']}?token=")
        + issue_review_token(b"x" * 40, TENANT, REP, answer["run_id"]),
    }
    for case, url in urls.items():
        response = await page.goto(url)
        assert response is not None
        assert response.status == 404, case
        await expect(page.locator("h1")).to_have_text("Not available")
        content = await page.content()
        assert "revised quote" not in content, case
        assert answer["run_id"] not in content, case
    await shot(page, "4-not-available")


def _expired(secret: bytes, answer: dict[str, Any]) -> str:
    """A correctly signed token that expired an hour ago (well past the clock-skew leeway)."""
    past = int(time.time()) - 3600
    claims = {
        "aud": "smartnotes-review",
        "sub": REP,
        "tid": TENANT,
        "run": answer["run_id"],
        "iat": past,
        "exp": past + 600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_close_and_inform_me_later(
    live: Api, browser: Browser, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=4.0)
    answer = await post_call(live, "call-later")
    page = await browser.new_page()
    await page.goto(review_url(live, answer))
    later = page.get_by_role("button", name="Close and inform me later")
    await expect(later).to_be_enabled()
    await later.click()
    await expect(page.locator("#notice")).to_contain_text("We'll let you know")
    await shot(page, "5-inform-me-later")
    await page.close()  # the rep closed the modal; the run carries on

    await live.wait_for(answer["run_id"], (TENANT, REP), lambda v: v["status"] == "needs_review")
    status, body = await live.call("GET", "/api/notifications", as_user=(TENANT, REP))
    assert status == 200
    ready = [n for n in body["notifications"] if n["run_id"] == answer["run_id"]]
    assert [n["kind"] for n in ready] == ["run_ready"]


async def test_a_failure_on_the_open_page_says_what_failed_and_offers_a_retry(
    tmp_path: Path, browser: Browser
) -> None:
    """Processing fails while the rep watches: the page says what failed and how to go on,
    and the failure is also a notification with the retry kept on the record."""
    settings = Settings(
        data_dir=tmp_path,
        max_call_minutes=1,  # the call below is longer, so processing fails with a reason
        summarizer_context=4096,
        summary_max_tokens=32,
        workers=1,
        calls=CallsSettings(secrets=SecretStr(SECRET), tenant=TENANT),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
        answer = await post_call(api, "call-long", transcript=VTT + LATE_CUE)
        page = await browser.new_page()
        await page.goto(review_url(api, answer))
        await expect(page.locator("#status")).to_have_text("Something went wrong")
        alert = page.locator("#alert")
        await expect(alert).to_be_visible()
        await expect(alert).to_contain_text("longer than")
        await expect(alert).to_contain_text("finish the note by hand and save it, or retry")
        await expect(page.get_by_role("button", name="Retry")).to_be_visible()
        await shot(page, "6-failed")
        status, body = await api.call("GET", "/api/notifications", as_user=(TENANT, REP))
        assert status == 200
        assert [n["kind"] for n in body["notifications"]] == ["run_failed"]

        # Finishing by hand: the rep writes the summary and saves it.
        summary = page.locator("#summary-text")
        await expect(summary).to_be_editable()
        await summary.fill("Daniel asked for a revised quote by Friday.")
        await summary.press("Tab")
        await expect(page.locator("#summary-hint")).to_contain_text("your version")
        await page.get_by_role("button", name=re.compile(r"^Save note and")).click()
        await expect(page.locator("#status")).to_have_text("Saved to the CRM", timeout=30_000)
        (note,) = await crm.notes()
    assert note.body == "Daniel asked for a revised quote by Friday."


AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


async def checked_page(browser: Browser, **options: Any) -> Page:
    """A page with axe-core loaded before the review page's own scripts (as a script the
    browser injects, so the page's strict CSP stays as it is)."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make axe` (npm)")
    page = await browser.new_page(**options)
    await page.add_init_script(path=str(AXE))
    return page


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong on the page as it stands (WCAG 2.1 A and AA rules)."""
    result = await page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


async def seeded(live: Api, call_id: str, *, customer: bool = True) -> dict[str, Any]:
    """A run ready for review, put straight into the database (no models)."""
    sessions = live.service.sessions
    owner = await seed_user(sessions, TENANT, REP, name="Maria Chen")
    crm = live.service.crm
    assert isinstance(crm, EmbeddedCRM)
    found = (await crm.customers())[0][0] if customer else None
    run_id = await seed_run(
        sessions,
        TENANT,
        owner,
        call_id=call_id,
        customer=(found.id, found.name) if found else None,
        tasks=SEEDED_TASKS,
    )
    async with sessions() as session, session.begin():
        run = await session.get(Run, run_id)
        assert run is not None
        run.participants = [
            {"name": "Maria Chen", "email": REP},
            {"name": "Daniel Okafor", "email": "daniel@contoso.test"},
        ]
    return {"run_id": run_id, "review_url": f"http://x/review/{run_id}"}


SEEDED_TASKS: list[dict[str, Any]] = [
    {**TASKS[0], "owner": "Maria Chen"},
    {**TASKS[1], "owner": "Maria Chen"},
    {
        **TASKS[0],
        "title": "Send the security questionnaire",
        "owner": "Daniel",
        "evidence": [{"quote": "I'll send the questionnaire", "at": 50.0, "verified": True}],
    },
    {
        **TASKS[1],
        "title": "Loop in legal",
        "owner": "",
        "origin": "recall_check",
        "evidence": [{"quote": "can you loop in legal", "at": 70.0, "verified": True}],
    },
]


async def test_tasks_are_grouped_named_for_screen_readers_and_accessible(
    live: Api, browser: Browser
) -> None:
    answer = await seeded(live, "call-groups")
    page = await checked_page(browser, viewport={"width": 900, "height": 1000})
    await page.goto(review_url(live, answer))
    await expect(page.locator("#status")).to_have_text("Ready for your review")
    await expect(page.locator(".group-mine h3")).to_have_text("Your tasks (2)")
    await expect(page.locator(".group-customer h3")).to_have_text("Waiting on the customer (1)")
    await expect(page.locator(".group-check h3")).to_have_text("To check (1)")
    # One named control per task, not a row of identical "Accept" buttons.
    await expect(page.get_by_role("button", name="Accept task: Loop in legal")).to_be_visible()
    await expect(page.get_by_role("heading", name="Loop in legal")).to_be_visible()
    await expect(page.locator("#save")).to_have_text("Save note and 2 tasks")
    assert await axe_violations(page) == []
    await shot(page, "7-grouped")

    await page.get_by_role("button", name="Accept all my tasks").click()
    await expect(page.locator(".group-mine .decision-accepted")).to_have_count(2)
    await expect(page.locator(".group-check .decision-suggested")).to_have_count(1)
    await page.get_by_role("button", name="Accept task: Send the security questionnaire").click()
    await expect(page.locator("#save")).to_have_text("Save note and 3 tasks")
    # Save is reachable from the top of the page in a few key presses, not 150.
    await page.reload()
    await expect(page.locator("#save")).to_have_text("Save note and 3 tasks")
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#save")).to_be_focused()


async def test_a_page_opened_while_the_call_is_processed_is_accessible(
    live: Api, browser: Browser
) -> None:
    """What the rep sees before anything is ready: the steps, the summary being written."""
    answer = await seeded(live, "call-processing")
    async with live.service.sessions() as session, session.begin():
        run = await session.get(Run, answer["run_id"])
        assert run is not None
        run.status, run.step = RunStatus.RUNNING, "summarizing"
        run.summary_generated = None
    page = await checked_page(browser)
    await page.goto(review_url(live, answer))
    await expect(page.locator("#status")).to_have_text("Working on it…")
    assert await axe_violations(page) == []
    await shot(page, "9-processing")


async def test_discarding_asks_first_and_leaves_nothing(live: Api, browser: Browser) -> None:
    answer = await seeded(live, "call-discard")
    page = await checked_page(browser)
    await page.goto(review_url(live, answer))
    discard = page.get_by_role("button", name="Discard these notes")
    await discard.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("cannot be undone")
    assert await axe_violations(page) == []
    await dialog.get_by_role("button", name="Keep them").click()
    await expect(dialog).to_be_hidden()
    _, view = await live.call("GET", f"/api/runs/{answer['run_id']}", as_user=(TENANT, REP))
    assert view["status"] == "needs_review"

    await discard.click()
    await dialog.get_by_role("button", name="Discard them").click()
    await expect(page.locator("#status")).to_contain_text("Not processed")
    await expect(page.locator("#summary-text")).to_be_hidden()
    await expect(page.locator("#task-groups")).to_have_text("Nothing is kept of this call.")
    await expect(page.get_by_role("button", name="Close", exact=True)).to_be_visible()
    await expect(page.locator("#save")).to_be_hidden()
    await shot(page, "8-discarded")
    _, view = await live.call("GET", f"/api/runs/{answer['run_id']}", as_user=(TENANT, REP))
    assert (view["status"], view["summary"]["text"], view["tasks"]) == ("cancelled", None, [])


async def test_a_new_prospect_is_created_from_the_page_and_errors_stay(
    live: Api, browser: Browser
) -> None:
    answer = await seeded(live, "call-prospect", customer=False)
    page = await browser.new_page()
    await page.goto(review_url(live, answer))
    await expect(page.locator("#customer")).to_be_visible()
    await expect(page.locator("#save")).to_be_disabled()
    search = page.get_by_label("Search the CRM's customers")
    await search.fill("Umbrella")
    await expect(page.locator("#customer-results")).to_contain_text("No customer")
    # A contact the CRM already has: the refusal is shown, and a redraw does not hide it.
    await page.get_by_label("Contact's e-mail (optional)").fill("daniel@contoso.test")
    await page.get_by_role("button", name="Create “Umbrella” as a prospect").click()
    error = page.locator("#action-error")
    await expect(error).to_contain_text("the CRM refused the new customer")
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await expect(page.locator("#status")).to_have_text("Ready for your review")
    await expect(error).to_be_visible()
    await shot(page, "9-prospect-refused")

    await page.get_by_label("Contact's e-mail (optional)").fill("alice@umbrella.test")
    await page.get_by_role("button", name="Create “Umbrella” as a prospect").click()
    await expect(error).to_be_hidden()
    await expect(page.locator("#customer")).to_be_hidden()
    await expect(page.locator("#save")).to_be_enabled()
    await page.locator("#save").click()
    await expect(page.locator("#status")).to_have_text("Saved to the CRM", timeout=30_000)
    crm = live.service.crm
    assert isinstance(crm, EmbeddedCRM)
    [prospect] = [c for c, _ in await crm.customers() if c.name == "Umbrella"]
    assert [n.customer_id for n in await crm.notes(prospect.id)] == [prospect.id]


async def test_ten_review_pages_in_one_browser_all_load_and_act(
    live: Api, browser: Browser
) -> None:
    context = await browser.new_context()
    answers = [await seeded(live, f"call-tab-{n}") for n in range(10)]
    pages = [await context.new_page() for _ in answers]
    for page, answer in zip(pages, answers, strict=True):
        await page.goto(review_url(live, answer))
    for page in pages:
        await expect(page.locator("#status")).to_have_text("Ready for your review")
    title = SEEDED_TASKS[1]["title"]
    for page in pages:
        await page.get_by_role("button", name=f"Reject task: {title}").click()
    for page, answer in zip(pages, answers, strict=True):
        await expect(page.get_by_role("button", name=f"Reject task: {title}")).to_have_attribute(
            "aria-pressed", "true"
        )
        _, view = await live.call("GET", f"/api/runs/{answer['run_id']}", as_user=(TENANT, REP))
        assert [t["status"] for t in view["tasks"] if t["title"] == title] == ["rejected"]
    await context.close()


COACHED_CALL = """WEBVTT

00:00:06.000 --> 00:00:12.000
<v Daniel Okafor>Honestly the price is too high for our budget this year.

00:00:13.000 --> 00:00:18.000
<v Daniel Okafor>Maybe we can start with a pilot, I'm not sure yet.

00:00:19.000 --> 00:00:24.000
<v Maria Chen>I will send you a revised quote by Friday.

00:00:25.000 --> 00:00:30.000
<v Daniel Okafor>Great, that sounds good.
"""


async def test_the_deal_coach_shows_where_each_suggestion_comes_from(
    live: Api, browser: Browser
) -> None:
    answer = await seeded(live, "call-coached")
    coaching = local_coaching(
        parse_transcript_text(COACHED_CALL),
        "Maria Chen",
        [],
        [
            CallTask(
                "Send revised quote",
                "2026-11-20",
                "I will send you a revised quote by Friday",
                19.0,
                "Maria Chen",
            )
        ],
        "no Claude API key is configured",
    )
    async with live.service.sessions() as session, session.begin():
        run = await session.get(Run, answer["run_id"])
        assert run is not None
        run.coaching = coaching.model_dump(mode="json")
    page = await checked_page(browser, viewport={"width": 900, "height": 1000})
    await page.goto(review_url(live, answer))
    coach = page.locator("#coach")
    await expect(coach.get_by_role("heading", name="Deal coach")).to_be_visible()
    await expect(page.locator("#coach-by")).to_have_text(
        "by the local analysis (no Claude API key is configured)"
    )
    await expect(coach.locator(".coach-list").first.locator("> li")).to_have_count(2)
    await expect(coach.get_by_text("80% confident")).to_be_visible()
    # The objection, and the next step to answer it, both quote where it was said.
    await expect(
        coach.get_by_text("Daniel Okafor at 0:06: \u201cHonestly the price is too high")
    ).to_have_count(2)
    await coach.get_by_text("Suggested answers").click()
    await expect(coach.get_by_text("concise", exact=True)).to_be_visible()
    mood = coach.locator(".mood")
    await expect(mood.locator("figcaption")).to_have_text(
        "Daniel Okafor: positive (0.67), hesitation 33%, warming up over the call"
    )
    # The line over the call, with the two moments that drove it on it, numbered as listed.
    chart = mood.get_by_role("img", name=re.compile(r"^Daniel Okafor's sentiment over the call"))
    await expect(chart.locator("polyline")).to_have_count(1)
    await expect(chart.locator("circle > title")).to_have_text(
        [
            "1. 0:13 hesitant: \u201cMaybe we can start with a pilot, I'm not sure yet.\u201d",
            re.compile(r"^2\. 0:25 positive"),
        ]
    )
    await expect(mood.locator(".sources li").first).to_have_text(
        re.compile(r"^1\. Daniel Okafor at 0:13")
    )
    # Its numbers, for a screen reader: one row per stretch of the 30 s call Daniel spoke in.
    table = mood.get_by_role("table", name="Daniel Okafor, sentiment and hesitation over the call")
    await expect(table.locator("tbody td")).to_have_text(
        [
            *("0:03 to 0:07", "0.00", "0%"),
            *("0:11 to 0:15", "0.00", "100%"),
            *("0:22 to 0:26", "0.67", "0%"),
        ]
    )
    assert await axe_violations(page) == []
    await shot(page, "11-deal-coach")

    await coach.get_by_role(
        "button", name="Like suggestion: Send revised quote", exact=True
    ).click()
    await expect(page.locator("#notice")).to_have_text("Thanks for the feedback.")
    async with live.service.sessions() as session:
        given = (await session.execute(select(Feedback.target, Feedback.rating))).all()
    assert [tuple(row) for row in given] == [("next_step:0", "like")]

    # Coaching kept without the series still shows each speaker, as bars for the whole call.
    async with live.service.sessions() as session, session.begin():
        run = await session.get(Run, answer["run_id"])
        assert run is not None
        kept = coaching.model_dump(mode="json", exclude={"duration"})
        for speaker in kept["sentiment"]:
            del speaker["series"], speaker["trend"]
        run.coaching = kept
    await page.reload()
    await expect(mood.locator("figcaption")).to_have_text(
        "Daniel Okafor: positive (0.67), hesitation 33%"
    )
    await expect(mood.locator("svg rect")).to_have_count(2)
    await expect(mood.locator("polyline, table")).to_have_count(0)
