"""The running service: everything it owns, built from settings, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_adapters.contract import CRMAdapter
from pipeline.chat_model import ChatModel
from pipeline.prompting import Prompts
from smartnotes import tracing
from smartnotes.ask.asker import Asker, open_asker
from smartnotes.auth import ApiTokenAuth, Authenticator, ReviewTokenAuth, load_secret
from smartnotes.briefs.lookahead import LookAhead
from smartnotes.briefs.runtime import build_look_ahead
from smartnotes.coaching.runner import Coach
from smartnotes.coaching.runner import due as coaching_due
from smartnotes.crm.build import build_crm
from smartnotes.crm.outbox import Outbox
from smartnotes.engine import Engine, claude_client
from smartnotes.jobs.engine import (
    CRM,
    GRAPH,
    IO_CONCURRENCY,
    QUEUES,
    RUNS,
    UPKEEP,
    Jobs,
    job_app,
    work,
)
from smartnotes.jobs.tasks import (
    register_briefs,
    register_crm,
    register_graph,
    register_index,
    register_runs,
    register_upkeep,
)
from smartnotes.meetings.runtime import GraphRuntime, open_graph
from smartnotes.metrics import Metrics
from smartnotes.runs.autosave import AutoSaver
from smartnotes.runs.gate import SkipNotices
from smartnotes.runs.intake import CallEvent, Submitted, TranscriptStore, submit_call
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.live_bridge import LiveBridge
from smartnotes.runs.processor import RunProcessor
from smartnotes.runs.retention import Retention
from smartnotes.runs.review import Review, Viewer
from smartnotes.search.embeddings_api import open_embeddings_client
from smartnotes.search.follower import IndexFollower
from smartnotes.search.index import reconcile, reindex
from smartnotes.search.semantic import Semantic
from smartnotes.settings import Settings
from smartnotes.storage.database import libpq_conninfo
from smartnotes.storage.database import sessions as make_sessions
from smartnotes.storage.open import open_database
from smartnotes.teams.runtime import Teams, open_teams

log = logging.getLogger(__name__)


def load_review_secret(settings: Settings) -> bytes:
    """The review page's token key: shared with the CRM when configured, else generated."""
    configured = settings.review.token_secret
    return load_secret(
        configured.get_secret_value() if configured else None,
        settings.data_dir,
        name="review-token.key",
    )


class ViewerCache:
    """Who a verified identity is, remembered briefly: every API request needs it, and it
    changes only when an admin adds or removes a user (seen here within ``ttl`` seconds)."""

    def __init__(self, ttl: float = 30.0, size: int = 20_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple[str, str], tuple[float, Viewer]] = {}

    def get(self, key: tuple[str, str]) -> Viewer | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple[str, str], viewer: Viewer) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # crude but bounded; a miss costs one query
        self._entries[key] = (time.monotonic() + self.ttl, viewer)


@dataclass
class Service:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    crm: CRMAdapter
    store: TranscriptStore
    live: LiveEvents
    outbox: Outbox
    review: Review
    jobs: Jobs
    authenticators: list[Authenticator]
    token_secret: bytes
    review_secret: bytes
    processor: RunProcessor | None = None
    asker: Asker | None = None
    teams: Teams | None = None
    graph: GraphRuntime | None = None
    # Briefs before customer meetings: with the bot, Graph and briefs on.
    briefs: LookAhead | None = None
    metrics: Metrics | None = None
    # Search by meaning, with an embeddings endpoint configured (SMARTNOTES_SEARCH__*).
    semantic: Semantic | None = None
    stopping: bool = field(default=False)
    viewers: ViewerCache = field(default_factory=ViewerCache)
    notices: SkipNotices = field(default_factory=lambda: SkipNotices(None))

    async def submit(self, event: CallEvent) -> Submitted:
        """A finished call from any source: its run, queued for processing when it is new."""
        submitted = await submit_call(
            self.sessions,
            self.store,
            event,
            self.settings.default_timezone,
            terms_version=self.settings.terms_version,
        )
        if submitted.skipped is not None:
            self.notices.skipped(event.tenant_id, submitted.skipped, self.settings.terms_version)
        if submitted.created and submitted.run_id is not None:
            await self.jobs.enqueue(submitted.run_id)
        return submitted

    def meeting_ended(self) -> None:
        """The bot saw a meeting end: the Graph side looks for its transcript right away."""
        if self.graph is not None:
            self.graph.notify()

    async def cancel(self, run_id: str) -> bool:
        return await self.jobs.cancel(run_id)

    async def ready(self) -> bool:
        if self.stopping:
            return False
        try:
            async with self.db.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("readiness check: the database does not answer")
            return False
        return True

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        *,
        process: bool = True,
        queues: Sequence[str] | None = None,
    ) -> AsyncIterator[Service]:
        """Open the database and the CRM, and work the job ``queues`` (all of them with
        ``process``, none without: the web role): the models when runs are among them; jobs
        that dead workers or a previous process left are taken up again. Stops gracefully."""
        if queues is None:
            queues = QUEUES if process else ()
        process = RUNS in queues
        # A worker has no web application to install it first.
        tracing.install(settings, role="worker" if process else "web")
        secret_value = settings.api_token_secret
        secret = load_secret(
            secret_value.get_secret_value() if secret_value else None, settings.data_dir
        )
        review_secret = load_review_secret(settings)
        async with contextlib.AsyncExitStack() as stack:
            db = await stack.enter_async_context(
                open_database(settings.database(), settings.pool())
            )
            tracing.trace_engine(settings, db)
            sessions = make_sessions(db)
            crm = build_crm(settings, db)
            stack.push_async_callback(crm.aclose)
            live = LiveEvents()
            metrics = Metrics(sessions)
            if db.dialect.name == "postgresql":
                bridge = LiveBridge(libpq_conninfo(db), live)
                await bridge.start()
                stack.push_async_callback(bridge.stop)
            store = TranscriptStore(settings.data_dir / "transcripts", settings.sealer())
            swept = await asyncio.to_thread(store.sweep_incoming)
            if swept:
                log.info("removed %d upload(s) a stopped process left unfinished", swept)
            jobs_app = job_app(
                db, workers=(settings.workers if process else 0) + (IO_CONCURRENCY if queues else 0)
            )
            await jobs_app.open_async()
            stack.push_async_callback(jobs_app.close_async)
            jobs = Jobs(jobs_app)
            outbox = Outbox(sessions, crm, jobs=jobs, live=live)
            processor: RunProcessor | None = None
            local_model: ChatModel | None = None
            if process:
                models = await asyncio.to_thread(
                    Engine, settings, on_claude_usage=metrics.claude_used
                )
                stack.callback(models.close)
                stack.push_async_callback(models.aclose)
                processor = RunProcessor(
                    sessions,
                    models.pipeline,
                    models.transcriber,
                    crm,
                    store,
                    live=live,
                    metrics=metrics,
                    terms_version=settings.terms_version,
                    usage=settings.usage,
                )
                register_runs(jobs_app, processor.process, time_limit=settings.run_time_limit)
                local_model = models.model
            embeddings = await stack.enter_async_context(open_embeddings_client(settings.search))
            semantic = Semantic(embeddings, settings.search) if embeddings is not None else None
            asker = await stack.enter_async_context(
                open_asker(
                    settings,
                    sessions,
                    model=local_model,
                    on_claude_usage=metrics.claude_used,
                    semantic=semantic,
                )
            )
            service = cls(
                settings=settings,
                db=db,
                sessions=sessions,
                crm=crm,
                store=store,
                live=live,
                outbox=outbox,
                review=Review(sessions, store, outbox, jobs, live),
                jobs=jobs,
                authenticators=[ReviewTokenAuth(review_secret), ApiTokenAuth(secret)],
                token_secret=secret,
                review_secret=review_secret,
                processor=processor,
                asker=asker,
                metrics=metrics,
                semantic=semantic,
                notices=SkipNotices(metrics),
            )
            stack.callback(live.close)
            follower = IndexFollower(jobs.index)
            live.record_listeners.append(follower)
            stack.push_async_callback(follower.aclose)
            service.teams = await stack.enter_async_context(
                open_teams(
                    settings,
                    sessions,
                    service.review,
                    live,
                    cancel=service.cancel,
                    review_secret=review_secret,
                    meeting_ended=service.meeting_ended,
                    asker=asker,
                )
            )
            service.graph = await stack.enter_async_context(
                open_graph(settings, sessions, service.submit, jobs=jobs, notices=service.notices)
            )
            service.briefs = build_look_ahead(
                settings, service.review, service.teams, service.graph, review_secret
            )
            if queues:
                await _start_worker(service, stack, queues)
            yield service
            service.stopping = True


async def _start_worker(
    service: Service, stack: contextlib.AsyncExitStack, queues: Sequence[str]
) -> None:
    """This process works ``queues``: the jobs are registered, what dead workers and a
    previous process left is taken up, and the worker starts."""
    settings, jobs, outbox = service.settings, service.jobs, service.outbox
    register_crm(jobs.app, jobs, outbox.deliver)
    if UPKEEP in queues:
        saver = AutoSaver(service.sessions, service.review, settings.review)
        retention = Retention(service.sessions, settings.retention)
        register_upkeep(
            jobs.app,
            auto_save=saver.save_due,
            purge_expired=retention.purge,
            keep_hours=settings.jobs_keep_hours,
        )
        coach = Coach(
            service.sessions,
            service.store,
            service.live,
            Prompts.load(settings.prompts_dir),
            client=claude_client(settings),
            model=settings.extractor_model,
            usage=settings.usage,
            material_dir=settings.coach_material_dir,
            on_usage=service.metrics.claude_used if service.metrics else None,
        )

        async def index_then_coach(run_id: str) -> None:
            await reindex(service.sessions, service.store, run_id)
            if await coaching_due(service.sessions, run_id):
                await jobs.coach(run_id)
            if service.semantic is not None:
                await service.semantic.embed_run(service.sessions, run_id)

        register_index(
            jobs.app,
            reindex=index_then_coach,
            reconcile=partial(reconcile, service.sessions, jobs.index, semantic=service.semantic),
            coach=coach.run,
        )
    graph = service.graph
    if graph is not None and GRAPH in queues:
        register_graph(
            jobs.app,
            work=graph.work_alone,
            renew=graph.subscriptions.renew_due,
            catch_up=graph.catch_up_alone,
            catch_up_minutes=graph.config.catchup_minutes,
        )
        # Notifications sent while no worker was up are lost: look for what they announced.
        await jobs.catch_up_now()
    if service.briefs is not None and GRAPH in queues:
        register_briefs(jobs.app, look_ahead=service.briefs.run)
    unfinished = await service.processor.unfinished() if service.processor is not None else []
    delivering: list[str] = []
    if CRM in queues:
        await outbox.finish_saved_runs()
        delivering = await outbox.delivering()
    await jobs.recover(
        unfinished, embedded=service.db.dialect.name == "sqlite", delivering=delivering
    )
    if unfinished:
        log.info("resuming %d unfinished run(s)", len(unfinished))
    worker = asyncio.create_task(
        work(jobs.app, queues=queues, concurrency=settings.workers, grace=settings.shutdown_grace),
        name="smartnotes-worker",
    )
    stack.push_async_callback(_stop, worker)


async def _stop(worker: asyncio.Task[None]) -> None:
    """The worker stops taking jobs; running ones get the shutdown grace, then resume at the
    next start."""
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
