"""Transcripts and recordings sealed at rest in a running service: what lands on disk is
ciphertext, and calls are still transcribed, summarized, reviewed and shown line by line."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from smartnotes.storage.models import Run
from smartnotes.storage.sealed import MAGIC
from tests.api_client import running_api
from tests.integration.test_calls_webhook import (
    REP,
    SAMPLE_WAV,
    TENANT,
    call_body,
    encode,
    post,
    post_form,
    settings,
)
from tests.seed import seed_user

pytestmark = pytest.mark.models

KEY = "2026-11:" + base64.b64encode(os.urandom(32)).decode()


async def test_calls_are_sealed_on_disk_and_processed_all_the_same(tmp_path: Path) -> None:
    sealed_settings = settings(tmp_path).model_copy(update={"storage_keys": SecretStr(KEY)})
    async with running_api(sealed_settings) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        form = aiohttp.FormData()
        form.add_field("call", json.dumps(call_body("sealed-audio", transcript=None)))
        form.add_field(
            "audio", SAMPLE_WAV.read_bytes(), filename="call.wav", content_type="audio/wav"
        )
        status, audio = await post_form(api, form)
        assert status == 202, audio
        # The demo call: the bundled model summarizes it without copying a line.
        demo = (SAMPLE_WAV.parent / "sales_call.vtt").read_text()
        status, text = await post(api, encode(call_body("sealed-text", transcript=demo)))
        assert status == 202, text

        async with api.service.sessions() as session:
            refs = dict((await session.execute(select(Run.call_id, Run.transcript_ref))).all())
        on_disk = {call: await asyncio.to_thread(_raw, ref) for call, ref in refs.items()}
        assert all(raw.startswith(MAGIC) for raw in on_disk.values())
        assert b"revised quote" not in on_disk["sealed-text"]
        assert SAMPLE_WAV.read_bytes()[1000:1064] not in on_disk["sealed-audio"]
        # The plain upload that came in is not left beside the sealed copy.
        assert not await asyncio.to_thread(_listed, tmp_path / "transcripts" / "incoming")

        views = {}
        for answer in (audio, text):
            views[answer["run_id"]] = await api.wait_for(
                answer["run_id"], (TENANT, REP), lambda v: v["status"] in ("needs_review", "failed")
            )
        for view in views.values():
            assert view["status"] == "needs_review", view["error"]
        quotes = " ".join(
            e["quote"] for t in views[audio["run_id"]]["tasks"] for e in t["evidence"]
        )
        assert "revised quote" in quotes.lower(), "the recording was opened and transcribed"

        status, lines = await api.call(
            "GET", f"/api/runs/{text['run_id']}/transcript", as_user=(TENANT, REP)
        )
        assert status == 200
        assert "revised quote" in " ".join(s["text"] for s in lines["segments"])
    # Opened copies for the steps are gone once they are done.
    assert not await asyncio.to_thread(_listed, tmp_path / "transcripts" / ".plain")


def _raw(ref: str | None) -> bytes:
    assert ref is not None
    return Path(ref).read_bytes()


def _listed(folder: Path) -> list[Path]:
    return sorted(folder.glob("*")) if folder.is_dir() else []
