"""Every database connection busy: callers are told to come back (503), nothing breaks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text

from smartnotes.settings import Settings
from tests.api_client import running_api
from tests.conftest import postgres_database
from tests.seed import seed_user

TENANT, REP = "contoso", "maria@northwind.test"


async def test_a_saturated_pool_answers_503_with_retry_after_and_recovers(tmp_path: Path) -> None:
    async with postgres_database() as url:
        settings = Settings(
            data_dir=tmp_path,
            database_url=SecretStr(url),
            db_pool_size=1,
            db_pool_overflow=0,
            db_pool_timeout=0.3,
        )
        async with running_api(settings, process=False) as api:
            await seed_user(api.service.sessions, TENANT, REP)
            headers = api.headers(TENANT, REP)
            status, _ = await api.call("GET", "/api/runs", headers=headers)
            assert status == 200
            engine = api.service.sessions.kw["bind"]
            release = asyncio.Event()
            held = asyncio.Event()

            async def hold() -> None:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                    held.set()
                    await release.wait()

            holder = asyncio.create_task(hold())
            await held.wait()
            async with api.http.get(api.url("/api/runs"), headers=headers) as response:
                body = await response.json()
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
            assert body["error"]["code"] == "busy"
            release.set()
            await holder
            status, _ = await api.call("GET", "/api/runs", headers=headers)
            assert status == 200
