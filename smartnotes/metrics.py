"""Prometheus metrics: what an operator graphs and alerts on.

Two kinds. Per process: how long requests and pipeline steps take, which extractor made the
tasks (Claude, or the local fallback and why), which calls the gate turned away and why. For
the whole deployment, read from the database when scraped, so that any replica answers the
same: runs by state, jobs waiting and how long the oldest has waited, CRM writes not yet
delivered (how many, how old, how many failing), Graph notifications not yet worked and
parked. Every service owns its registry: nothing is global, so several services in one
process (the tests) do not mix their figures.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.storage.models import CrmWrite, GraphInbox, Run

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STEP_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram(
            "smartnotes_http_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["route", "method", "status"],
            registry=r,
        )
        self.steps = Histogram(
            "smartnotes_run_step_seconds",
            "How long a pipeline step took, by step and outcome.",
            ["step", "status"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.extractions = Counter(
            "smartnotes_extractions",
            "Task extractions by extractor; fallback says why the local one stood in.",
            ["extractor", "fallback"],
            registry=r,
        )
        self.claude_tokens = Counter(
            "smartnotes_claude_tokens",
            "Claude tokens used for task extraction, as the API counted them.",
            ["kind"],
            registry=r,
        )
        self.calls_skipped = Counter(
            "smartnotes_calls_skipped",
            "Calls the gate did not process, by reason (no_consent, tenant_off, no_seat, ...).",
            ["reason"],
            registry=r,
        )
        self.runs = Gauge("smartnotes_runs", "Runs by state.", ["status"], registry=r)
        self.jobs = Gauge(
            "smartnotes_jobs", "Jobs by queue and state.", ["queue", "status"], registry=r
        )
        self.job_wait = Gauge(
            "smartnotes_jobs_oldest_waiting_seconds",
            "How long the oldest job due to run has waited, by queue.",
            ["queue"],
            registry=r,
        )
        self.crm_pending = Gauge(
            "smartnotes_crm_writes_pending", "CRM writes not yet delivered.", registry=r
        )
        self.crm_failing = Gauge(
            "smartnotes_crm_writes_failing",
            "CRM writes not yet delivered whose last attempt failed.",
            registry=r,
        )
        self.crm_lag = Gauge(
            "smartnotes_crm_oldest_pending_seconds",
            "Age of the oldest CRM write not yet delivered.",
            registry=r,
        )
        self.graph_pending = Gauge(
            "smartnotes_graph_notifications_pending",
            "Graph notifications kept and not yet worked.",
            registry=r,
        )
        self.graph_lag = Gauge(
            "smartnotes_graph_oldest_pending_seconds",
            "Age of the oldest Graph notification not yet worked.",
            registry=r,
        )
        self.graph_failed = Gauge(
            "smartnotes_graph_notifications_failed",
            "Graph notifications parked after their last attempt.",
            registry=r,
        )

    def step_finished(self, step: str, status: str, started: datetime, ended: datetime) -> None:
        self.steps.labels(step, status).observe(max((ended - started).total_seconds(), 0.0))

    def extracted(self, extractor: str, fallback_reason: str | None) -> None:
        self.extractions.labels(extractor, "yes" if fallback_reason else "no").inc()

    def call_skipped(self, reason: str) -> None:
        self.calls_skipped.labels(reason).inc()

    def claude_used(self, input_tokens: int, output_tokens: int) -> None:
        self.claude_tokens.labels("input").inc(input_tokens)
        self.claude_tokens.labels("output").inc(output_tokens)

    async def scrape(self) -> bytes:
        """The exposition text, the deployment-wide figures read now."""
        now = utcnow()
        async with self.sessions() as session:
            runs = (
                await session.execute(select(Run.status, func.count()).group_by(Run.status))
            ).all()
            pending = CrmWrite.status == "pending"
            crm = (
                await session.execute(
                    select(
                        func.count(),
                        func.count().filter(CrmWrite.last_error.is_not(None)),
                        func.min(CrmWrite.created_at),
                    ).where(pending)
                )
            ).one()
            inbox = (
                await session.execute(
                    select(func.count(), func.min(GraphInbox.received_at)).where(
                        GraphInbox.status == "pending"
                    )
                )
            ).one()
            parked = await session.scalar(
                select(func.count()).select_from(GraphInbox).where(GraphInbox.status == "failed")
            )
            jobs = (
                await session.execute(
                    text(
                        "SELECT queue_name, status, count(*) FROM procrastinate_jobs "
                        "WHERE status IN ('todo', 'doing', 'failed') GROUP BY queue_name, status"
                    )
                )
            ).all()
            waited = await _oldest_waiting(session)
        self.runs.clear()
        for status, count in runs:
            self.runs.labels(str(status)).set(count)
        self.jobs.clear()
        for queue, status, count in jobs:
            self.jobs.labels(queue, status).set(count)
        self.job_wait.clear()
        for queue, seconds in waited:
            self.job_wait.labels(queue).set(seconds)
        total, failing, oldest = crm
        self.crm_pending.set(total)
        self.crm_failing.set(failing)
        self.crm_lag.set((now - oldest).total_seconds() if oldest else 0.0)
        self.graph_pending.set(inbox[0])
        self.graph_lag.set((now - inbox[1]).total_seconds() if inbox[1] else 0.0)
        self.graph_failed.set(parked or 0)
        return bytes(generate_latest(self.registry))


async def _oldest_waiting(session: AsyncSession) -> list[tuple[str, float]]:
    """Per queue, the age of the oldest job that is due and not started: a queue whose figure
    grows has too few workers."""
    if session.get_bind().dialect.name == "sqlite":
        # The embedded connector keeps times as epoch seconds.
        now = utcnow().timestamp()
        query = (
            "SELECT queue_name, min(coalesce(scheduled_at, e.at)) "
            "FROM procrastinate_jobs j "
            "JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred' "
            "WHERE j.status = 'todo' AND coalesce(j.scheduled_at, 0) <= :now "
            "GROUP BY queue_name"
        )
        rows = (await session.execute(text(query), {"now": now})).all()
        return [(queue, max(now - float(since), 0.0)) for queue, since in rows]
    query = (
        "SELECT queue_name, extract(epoch FROM now() - min(coalesce(j.scheduled_at, "
        "e.at))) FROM procrastinate_jobs j JOIN procrastinate_events e "
        "ON e.job_id = j.id AND e.type = 'deferred' WHERE j.status = 'todo' "
        "AND coalesce(j.scheduled_at, now()) <= now() GROUP BY queue_name"
    )
    rows = (await session.execute(text(query))).all()
    return [(queue, max(float(waited), 0.0)) for queue, waited in rows]
