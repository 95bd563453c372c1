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

from smartnotes.jobs.engine import CRM, DELIVER_CRM, PROCESS_RUN, RUNS, Jobs, crm_lock

log = logging.getLogger(__name__)

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
        delay = await deliver(run_id)
        if delay is None:
            return
        if await jobs.waiting(crm_lock(run_id), besides=context.job.id):
            return  # a delivery deferred meanwhile sends what is left; one retry is enough
        raise RetryLaterError(delay, f"CRM writes of run {run_id} are not all delivered")
