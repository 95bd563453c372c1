"""The jobs a worker runs, one definition each, and how each is retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import procrastinate
from procrastinate import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from smartnotes.jobs.engine import (
    AUTO_SAVE,
    BRIEF_LOOKAHEAD,
    COACH_RUN,
    CRM,
    DELIVER_CRM,
    GRAPH,
    GRAPH_CATCH_UP,
    GRAPH_LOCK,
    GRAPH_RENEW,
    GRAPH_WORK,
    INDEX_RECONCILE,
    INDEX_RUN,
    PROCESS_RUN,
    PURGE_EXPIRED,
    PURGE_JOBS,
    RUNS,
    UPKEEP,
    Jobs,
    crm_lock,
)
from smartnotes.logs import about_run
from smartnotes.tracing import job_span

log = logging.getLogger(__name__)

# Every five seconds (croniter's sixth field is the second).
GRAPH_WORK_CRON = "* * * * * */5"
# A job that failed in a way nobody planned for (a bug, the database gone for a moment) is
# tried again after this long, without end: what it concerns must not be lost.
UNPLANNED_RETRY_SECONDS = 60.0


class RetryLaterError(Exception):
    """The job's work is not done and is to be tried again in ``delay`` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class UntilDone(BaseRetryStrategy):
    """Retried until it succeeds, after the delay the job asked for (``RetryLaterError``)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLaterError):
            delay = exception.delay
        else:
            delay = UNPLANNED_RETRY_SECONDS
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=max(delay, 0.0)))


def register_runs(
    app: procrastinate.App, process: Callable[[str], Awaitable[None]], *, time_limit: float
) -> None:
    """Processing a run. A run records its own failures; an exception here is a bug."""

    @app.task(name=PROCESS_RUN, queue=RUNS)
    async def process_run(run_id: str) -> None:
        with about_run(run_id), job_span(PROCESS_RUN, run_id):
            try:
                await asyncio.wait_for(process(run_id), timeout=time_limit)
            except TimeoutError:
                log.error("run %s exceeded its time limit of %.0f s", run_id, time_limit)


def register_crm(
    app: procrastinate.App, jobs: Jobs, deliver: Callable[[str], Awaitable[float | None]]
) -> None:
    """Delivering a run's CRM writes: ``deliver`` sends what is pending and answers when to
    try again (``None``: everything landed)."""

    @app.task(name=DELIVER_CRM, queue=CRM, retry=UntilDone(), pass_context=True)
    async def deliver_crm_writes(context: JobContext, run_id: str) -> None:
        with about_run(run_id), job_span(DELIVER_CRM, run_id):
            delay = await deliver(run_id)
        if delay is None:
            return
        if await jobs.waiting(crm_lock(run_id), besides=context.job.id):
            return  # a delivery deferred meanwhile sends what is left; one retry is enough
        raise RetryLaterError(delay, f"CRM writes of run {run_id} are not all delivered")


def catch_up_cron(minutes: float) -> str:
    """A cron line for "every ``minutes``", rounded to what cron can say: whole minutes that
    divide an hour, else whole hours."""
    whole = max(1, round(minutes))
    if whole < 60:
        every = next(step for step in range(whole, 61) if 60 % step == 0)
        return f"*/{every} * * * *"
    hours = max(1, round(whole / 60))
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


def register_graph(
    app: procrastinate.App,
    *,
    work: Callable[[], Awaitable[None]],
    renew: Callable[[], Awaitable[int]],
    catch_up: Callable[[], Awaitable[int]],
    catch_up_minutes: float,
) -> None:
    """Graph's side, periodic and deferred once per cluster per period (whichever worker's
    deferrer gets there first), under one lock: notifications, downloads and meeting-end polls
    every few seconds (and at once when something arrives), subscription renewals every
    minute, a catch-up pass for meetings Graph did not tell us about."""

    @app.periodic(cron=GRAPH_WORK_CRON, periodic_id=GRAPH_WORK)
    @app.task(name=GRAPH_WORK, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=GRAPH_WORK)
    async def graph_work(timestamp: int | None = None) -> None:
        with job_span(GRAPH_WORK):
            await work()

    @app.periodic(cron="* * * * *", periodic_id=GRAPH_RENEW)
    @app.task(name=GRAPH_RENEW, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=GRAPH_RENEW)
    async def graph_renew_subscriptions(timestamp: int | None = None) -> None:
        with job_span(GRAPH_RENEW):
            await renew()

    @app.periodic(cron=catch_up_cron(catch_up_minutes), periodic_id=GRAPH_CATCH_UP)
    @app.task(name=GRAPH_CATCH_UP, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=GRAPH_CATCH_UP)
    async def graph_catch_up(timestamp: int | None = None) -> None:
        with job_span(GRAPH_CATCH_UP):
            await catch_up()


def register_briefs(app: procrastinate.App, *, look_ahead: Callable[[], Awaitable[object]]) -> None:
    """Briefs before customer meetings: once a minute, reps' calendars are read for the
    meetings about to start. It reads Graph, so it runs on Graph's queue under Graph's lock."""

    @app.periodic(cron="* * * * *", periodic_id=BRIEF_LOOKAHEAD)
    @app.task(name=BRIEF_LOOKAHEAD, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=BRIEF_LOOKAHEAD)
    async def brief_look_ahead(timestamp: int | None = None) -> None:
        with job_span(BRIEF_LOOKAHEAD):
            await look_ahead()


def register_upkeep(
    app: procrastinate.App,
    *,
    auto_save: Callable[[], Awaitable[object]],
    purge_expired: Callable[[], Awaitable[object]],
    keep_hours: int,
) -> None:
    """Once a minute, the notes due for an auto-save; once an hour, finished jobs older than
    ``keep_hours`` leave the job table (failed and cancelled ones stay for an operator), and
    what is past its retention is deleted."""

    @app.periodic(cron="* * * * *", periodic_id=AUTO_SAVE)
    @app.task(name=AUTO_SAVE, queue=UPKEEP, lock=AUTO_SAVE, queueing_lock=AUTO_SAVE)
    async def auto_save_due(timestamp: int | None = None) -> None:
        with job_span(AUTO_SAVE):
            await auto_save()

    @app.periodic(cron="43 * * * *", periodic_id=PURGE_EXPIRED)
    @app.task(name=PURGE_EXPIRED, queue=UPKEEP, lock=PURGE_EXPIRED, queueing_lock=PURGE_EXPIRED)
    async def purge_expired_data(timestamp: int | None = None) -> None:
        with job_span(PURGE_EXPIRED):
            await purge_expired()

    @app.periodic(cron="17 * * * *", periodic_id=PURGE_JOBS)
    @app.task(name=PURGE_JOBS, queue=UPKEEP, lock=PURGE_JOBS, queueing_lock=PURGE_JOBS)
    async def purge_finished_jobs(timestamp: int | None = None) -> None:
        with job_span(PURGE_JOBS):
            await app.job_manager.delete_old_jobs(nb_hours=keep_hours)


def register_index(
    app: procrastinate.App,
    *,
    reindex: Callable[[str], Awaitable[object]],
    reconcile: Callable[[], Awaitable[object]],
    coach: Callable[[str], Awaitable[None]],
) -> None:
    """The search index: a run's segments rebuilt when it changed, and every five minutes the
    runs whose change was not followed by a rebuild (a process gone between the two). The
    deal coach runs for a ready run once, deferred by ``reindex`` when it finds one due."""

    @app.task(name=COACH_RUN, queue=UPKEEP)
    async def coach_run(run_id: str) -> None:
        with about_run(run_id), job_span(COACH_RUN, run_id):
            await coach(run_id)

    @app.task(name=INDEX_RUN, queue=UPKEEP)
    async def index_run(run_id: str) -> None:
        with about_run(run_id), job_span(INDEX_RUN, run_id):
            await reindex(run_id)

    @app.periodic(cron="*/5 * * * *", periodic_id=INDEX_RECONCILE)
    @app.task(
        name=INDEX_RECONCILE, queue=UPKEEP, lock=INDEX_RECONCILE, queueing_lock=INDEX_RECONCILE
    )
    async def index_reconcile(timestamp: int | None = None) -> None:
        with job_span(INDEX_RECONCILE):
            await reconcile()
