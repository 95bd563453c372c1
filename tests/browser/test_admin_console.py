"""The admin console in headless Chromium, against the real service on loopback.

A tenant's history is seeded (seats in two cohorts, runs, and the reps' edits, decisions and
feedback through the review API); the admin signs in through the form, reads the overview
with its charts, narrows it to a cohort, downloads the per-rep CSV, filters the audit log and
downloads it, and signs out. axe-core checks every page; screenshots of each go to
``test-artifacts/admin-console/``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from smartnotes.auth import AdminCookieAuth
from smartnotes.settings import Settings
from tests.api_client import Api, running_api
from tests.browser.test_review_page import axe_violations, checked_page
from tests.integration.test_admin_console import (
    ADMIN,
    LEE,
    MARIA,
    OLGA,
    PRIYA,
    admin_token,
    seed_history,
)

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "admin-console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = ("active", "adoption", "feedback", "edits", "seats")


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `make browser` (Debian package chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def live(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(Settings(data_dir=tmp_path), process=False, queues=()) as api:
        await seed_history(api)
        yield api


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def charts_loaded(page: Page) -> None:
    """Every chart image has arrived and decoded (a refused or broken one has no width)."""
    images = page.locator(".chart img")
    await expect(images).to_have_count(len(CHARTS))
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.chart img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


async def download(page: Page, link: str) -> tuple[str, list[dict[str, str]]]:
    async with page.expect_download() as started:
        await page.get_by_role("link", name=link).click()
    done = await started.value
    path = await done.path()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    return done.suggested_filename, list(csv.DictReader(io.StringIO(text)))


async def test_an_admin_signs_in_reads_the_console_and_signs_out(
    live: Api, chromium: Browser
) -> None:
    page = await checked_page(chromium, viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A style or script the policy refused would show here.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await page.goto(live.url("/admin"))
    await expect(page).to_have_url(live.url("/admin/sign-in"))
    await expect(page.get_by_role("heading", name="Sign in to the admin console")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "1-sign-in")

    token = page.get_by_label("Admin token")
    await expect(token).to_have_attribute("type", "password")
    await token.fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not a valid admin token")
    assert await axe_violations(page) == []
    await shot(page, "2-sign-in-refused")
    errors.clear()  # the refused sign-in's 401 is logged by the browser as a failed resource

    await page.get_by_label("Admin token").fill(admin_token(live))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(live.url("/admin"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Overview")
    await expect(page.locator(".who")).to_contain_text(ADMIN)
    await charts_loaded(page)
    reps = page.get_by_role("table", name="Each rep's activity, last 30 days")
    for email in (MARIA, LEE, PRIYA):
        await expect(reps).to_contain_text(email)
    await expect(reps).not_to_contain_text(OLGA)
    await expect(page.locator("#active-users")).to_have_text("1")  # Maria worked on her notes
    await expect(page.locator(".comments")).to_contain_text("Spot on summary")
    alt = await page.locator("#chart-adoption img").get_attribute("alt")
    assert alt is not None
    assert "Target (60%)" in alt
    await page.locator("#chart-feedback summary").click()
    numbers = page.get_by_role("region", name="Numbers: likes and dislikes")
    await expect(numbers).to_contain_text("Summaries")
    assert await axe_violations(page) == []
    await shot(page, "3-overview")

    filename, rows = await download(page, "Download this table (CSV)")
    assert filename == "smartnotes-users-week.csv"
    assert {row["email"] for row in rows} == {MARIA, LEE, PRIYA, "jo@shared.test"}

    await page.get_by_label("Cohort", exact=True).select_option("deal-closer")
    await page.get_by_label("Period", exact=True).select_option("month")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(live.url("/admin?period=month&cohort=deal-closer"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("deal-closer, by month")
    await charts_loaded(page)
    await expect(reps).to_contain_text(MARIA)
    await expect(reps).not_to_contain_text(PRIYA)
    assert await axe_violations(page) == []
    await shot(page, "4-overview-deal-closer-by-month")

    await page.get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    entries = page.get_by_role("table", name="Audit entries")
    await expect(entries).to_contain_text("summary_edited")
    await expect(entries).to_contain_text("console_signed_in")
    await page.get_by_label("Action", exact=True).select_option("task_rejected")
    await page.get_by_label("Actor", exact=True).fill(MARIA)
    await page.get_by_role("button", name="Filter").click()
    await expect(entries.locator("tbody tr")).to_have_count(1)
    await expect(entries.locator("tbody tr")).to_contain_text("task_rejected")
    assert await axe_violations(page) == []
    await shot(page, "5-audit-filtered")
    filename, rows = await download(page, "Download these entries (CSV)")
    assert filename == "smartnotes-audit.csv"
    assert [(row["actor"], row["action"]) for row in rows] == [(MARIA, "task_rejected")]

    await page.get_by_role("link", name="People").click()
    await expect(page.get_by_role("heading", name="Erase a person")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "6-people")

    # An 800-pixel window at 200% zoom lays out as 400 CSS pixels: the page wraps, and wide
    # tables scroll in their own box.
    await page.set_viewport_size({"width": 400, "height": 900})
    await page.get_by_role("link", name="Overview").click()
    await charts_loaded(page)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await shot(page, "7-overview-narrow-200pct")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(live.url("/admin/sign-in"))
    await page.goto(live.url("/admin/audit"))
    await expect(page).to_have_url(live.url("/admin/sign-in"))
    assert not [c for c in await page.context.cookies() if c["name"] == AdminCookieAuth.COOKIE]
    assert not errors, errors
