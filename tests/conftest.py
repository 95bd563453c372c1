"""Shared fixtures: the real demo models (loaded once) and a local Messages API server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anthropic
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pipeline.claude import ClaudeExtractor
from pipeline.demo_models import demo_asr_model, demo_summarizer_model
from pipeline.local_extractor import LocalExtractor
from pipeline.local_llm import LocalModel
from pipeline.process import Pipeline
from pipeline.prompting import Prompts
from pipeline.summarizer import Summarizer, SummaryOptions
from tests.fakes.anthropic_server import FakeAnthropic

TEST_KEY = "sk-ant-test-key"


@pytest.fixture(scope="session")
def prompts() -> Prompts:
    return Prompts.load()


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalModel]:
    model = LocalModel(demo_summarizer_model(), n_ctx=4096)
    yield model
    model.close()


@pytest.fixture(scope="session")
def asr_model_path() -> str:
    return str(demo_asr_model())


@pytest_asyncio.fixture
async def fake_claude() -> AsyncIterator[FakeAnthropic]:
    server = FakeAnthropic()
    await server.start()
    yield server
    await server.close()


def claude_extractor(
    server: FakeAnthropic,
    prompts: Prompts,
    *,
    timeout: float = 10.0,
    max_retries: int = 2,
    part_tokens: int = 60_000,
    model: str = "claude-sonnet-4-6",
) -> ClaudeExtractor:
    client = anthropic.AsyncAnthropic(
        api_key=TEST_KEY, base_url=server.base_url, timeout=timeout, max_retries=max_retries
    )
    return ClaudeExtractor(client, prompts, model=model, part_tokens=part_tokens)


def make_pipeline(
    model: LocalModel,
    prompts: Prompts,
    remote: ClaudeExtractor | None = None,
    *,
    summary_tokens: int = 48,
    local_tasks: int = 2,
) -> Pipeline:
    """A pipeline on the real demo model, with short outputs so tests stay quick."""
    return Pipeline(
        summarizer=Summarizer(
            model, prompts, SummaryOptions(max_tokens=summary_tokens, part_tokens=48)
        ),
        local_extractor=LocalExtractor(model, prompts, max_tasks_per_part=local_tasks),
        remote_extractor=remote,
    )


# Another server for the PostgreSQL side of the tests (one with pgvector, for search by
# meaning in the database): SMARTNOTES_TEST_POSTGRES_URL, same form.
POSTGRES_URL = os.environ.get(
    "SMARTNOTES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[AsyncEngine]:
    """An engine on the local PostgreSQL whose tables live in a fresh schema, dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # In the URL, not in connect_args: the job engine opens its own connections from it.
    engine = create_async_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a fresh, migrated database on the local PostgreSQL, dropped after: for a
    service that opens its database by URL like a production deployment."""
    from smartnotes.storage.migrate import upgrade

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = create_async_engine(url)
        await upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def service_database(request: pytest.FixtureRequest) -> AsyncIterator[SecretStr | None]:
    """The database a service under test opens (``Settings.database_url``): its embedded
    SQLite file (``None``), or a fresh, migrated PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    async with postgres_database() as url:
        yield SecretStr(url)


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database: a SQLite file, or a fresh schema on the local PostgreSQL."""
    from smartnotes.storage.database import make_engine

    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            sqlite = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'smartnotes.db'}")
            stack.push_async_callback(sqlite.dispose)
            yield sqlite
        else:
            yield await stack.enter_async_context(postgres_schema())


@pytest_asyncio.fixture
async def migrated(db_engine: AsyncEngine) -> AsyncEngine:
    from smartnotes.storage.migrate import upgrade

    await upgrade(db_engine)
    return db_engine
