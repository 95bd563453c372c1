"""Success metrics over a seeded history, against values worked out by hand, on SQLite and
PostgreSQL; and the same numbers from the CLI.

The history (UTC, "now" is Wednesday 2026-11-25 12:00; weeks start on Monday):

- ann (deal-closer, seat since 1 Oct): calls on 17, 18 and 24 Nov; worked with her notes on
  17 and 24 Nov (2 of 3 call days: active). Her 17 Nov note was edited (1 word added to 6:
  distance 1/7); its two tasks: one edited and accepted, one rejected. She opted one call out
  on 18 Nov.
- bob (deal-closer, seat since 1 Oct, switched off): calls on 10, 12, 19 and 24 Nov; worked
  with them on 12 Nov only (1 of 4: not active). Liked a summary on 19 Nov (Claude's run),
  disliked a task with a comment on 24 Nov (the local extractor's run). In another tenant
  the same address has a run and two review days: they must not count here.
- cara (relationship-builder, seat since 20 Nov): a call on 23 Nov, its note rewritten
  ("a b c d" to "x y": distance 1), liked with a comment.
- dan (no cohort): seat from 1 Oct to 24 Nov 10:00; a call and a review on 16 Nov.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from smartnotes.insights.history import UnknownTenantError
from smartnotes.insights.metrics import MetricsError, compute
from smartnotes.runs.gate import Skip
from smartnotes.settings import Settings
from smartnotes.storage.database import sessions
from smartnotes.storage.models import (
    AuditEntry,
    EvalScore,
    Feedback,
    Run,
    RunSource,
    RunStatus,
    RunTask,
    Seat,
    TaskStatus,
    Tenant,
    User,
)
from tests.api_client import running_api
from tests.commands import clean_env, smartnotes
from tests.seed import SUMMARY, seed_run, seed_user

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TENANT = "acme"


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


class History:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.calls = 0

    def user(self, tenant: str, name: str, *, enabled: bool = True) -> User:
        user = User(tenant_id=tenant, email=f"{name}@acme.test", display_name=name.title())
        user.enabled = enabled
        self.session.add(user)
        return user

    async def seat(self, user: User, since: datetime, cohort: str | None) -> None:
        await self.session.flush()
        self.session.add(
            Seat(tenant_id=user.tenant_id, user_id=user.id, granted_at=since, cohort=cohort)
        )
        self.audit("admin", "seat_added", since, user=user.email, tenant=user.tenant_id)

    def audit(
        self, actor: str, action: str, when: datetime, run: str | None = None, **detail: str
    ) -> None:
        self.session.add(AuditEntry(actor=actor, action=action, at=when, run_id=run, detail=detail))

    async def call(
        self,
        user: User,
        when: datetime,
        *,
        tasks: list[tuple[TaskStatus, bool]] = (),  # type: ignore[assignment]
        generated: str = "The note.",
        edited: str | None = None,
        extractor: str = "claude",
    ) -> str:
        await self.session.flush()
        self.calls += 1
        run = Run(
            tenant_id=user.tenant_id,
            owner_id=user.id,
            source=RunSource.CALLING_TOOL,
            call_id=f"call-{self.calls}",
            idempotency_key=f"call-{self.calls}",
            status=RunStatus.NEEDS_REVIEW,
            summary_generated=generated,
            summary_edited=edited,
            extractor=extractor,
            created_at=when,
        )
        self.session.add(run)
        await self.session.flush()
        for position, (status, changed) in enumerate(tasks):
            self.session.add(
                RunTask(
                    run_id=run.id,
                    position=position,
                    generated={"title": f"task {position}"},
                    edited={"title": "changed"} if changed else None,
                    status=status,
                )
            )
        return run.id

    def review(self, user: User, run: str, when: datetime, action: str = "summary_edited") -> None:
        self.audit(user.email, action, when, run)

    def feedback(
        self, user: User, run: str, when: datetime, rating: str, target: str, comment: str = ""
    ) -> None:
        self.session.add(
            Feedback(
                run_id=run,
                user_id=user.id,
                target=target,
                rating=rating,
                comment=comment,
                created_at=when,
            )
        )


async def seed(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        h = History(session)
        session.add_all([Tenant(id=TENANT, name="Acme"), Tenant(id="globex", name="Globex")])
        await session.flush()
        ann, bob, cara, dan = (
            h.user(TENANT, "ann"),
            h.user(TENANT, "bob", enabled=False),
            h.user(TENANT, "cara"),
            h.user(TENANT, "dan"),
        )
        eve = h.user(TENANT, "eve")  # an attendee without a seat: not a qualified user
        await h.seat(ann, at(1, month=10), "deal-closer")
        await h.seat(bob, at(1, month=10), "deal-closer")
        await h.seat(cara, at(20), "relationship-builder")
        await session.flush()
        h.audit("admin", "seat_added", at(1, month=10), user=dan.email, tenant=TENANT)
        h.audit("admin", "seat_removed", at(24), user=dan.email, tenant=TENANT)

        accepted, rejected, proposed, written = (
            TaskStatus.ACCEPTED,
            TaskStatus.REJECTED,
            TaskStatus.PROPOSED,
            TaskStatus.WRITTEN,
        )
        a17 = await h.call(
            ann,
            at(17),
            tasks=[(accepted, True), (rejected, False)],
            generated="Maria sends the quote by Friday.",
            edited="Maria sends the revised quote by Friday.",
        )
        await h.call(ann, at(18), tasks=[(proposed, False)])
        a24 = await h.call(ann, at(24), tasks=[(written, False)], edited="The note.")
        h.review(ann, a17, at(17, 15))
        h.review(ann, a17, at(17, 16), "task_rejected")
        h.review(ann, a24, at(24, 11), "task_accepted")
        h.audit(
            "system",
            "call_skipped",
            at(18, 9),
            source="calling_tool",
            reason=str(Skip.CALL_OPTED_OUT),
            tenant=TENANT,
            user=ann.email,
        )
        h.audit(
            "system",
            "call_skipped",
            at(18, 9),
            reason=str(Skip.NO_SEAT),
            tenant=TENANT,
            user=eve.email,
        )

        await h.call(bob, at(10), tasks=[(proposed, False)])
        b12 = await h.call(bob, at(12))
        b19 = await h.call(bob, at(19), tasks=[(accepted, False), (proposed, False)])
        b24 = await h.call(bob, at(24), tasks=[(rejected, False)], extractor="local")
        h.review(bob, b12, at(12, 11), "save_requested")
        h.feedback(bob, b19, at(19, 12), "like", "summary")
        await session.flush()
        task = (await session.execute(select(RunTask.id).where(RunTask.run_id == b24))).scalar_one()
        h.feedback(bob, b24, at(24, 12), "dislike", task, "wrong owner")

        c23 = await h.call(cara, at(23), generated="a b c d", edited="x y")
        h.review(cara, c23, at(23, 14))
        h.feedback(cara, c23, at(23, 15), "like", "summary", "great")

        d16 = await h.call(dan, at(16), tasks=[(accepted, False)])
        h.review(dan, d16, at(16, 12), "task_accepted")

        # The same address in another tenant: its activity is not acme's.
        other = h.user("globex", "bob")
        await h.seat(other, at(1, month=10), None)
        g = await h.call(other, at(20))
        h.review(other, g, at(19, 9), "save_requested")
        h.review(other, g, at(20, 9), "save_requested")
        h.feedback(other, g, at(20, 10), "dislike", "summary", "globex comment")
        h.audit(
            "system",
            "call_skipped",
            at(21),
            reason=str(Skip.CALL_OPTED_OUT),
            tenant="globex",
            user=other.email,
        )

        session.add(EvalScore(tenant_id=TENANT, at=at(1), calls=10, score=0.7))
        session.add(EvalScore(tenant_id=TENANT, at=at(20), calls=12, score=0.82))
        session.add(EvalScore(tenant_id="globex", at=at(22), calls=3, score=0.1))


FEEDBACK_NONE = {
    k: {"like": 0, "dislike": 0} for k in ("summary", "tasks", "coach", "claude", "local")
}


def feedback(**counts: tuple[int, int]) -> dict[str, dict[str, int]]:
    return {**FEEDBACK_NONE, **{k: {"like": v[0], "dislike": v[1]} for k, v in counts.items()}}


def period(
    seats: int,
    active: int,
    calls: int = 0,
    *,
    opted_out: int = 0,
    notes: tuple[int, int] = (0, 0),
    distance: float | None = None,
    tasks: tuple[int, int, int, int] = (0, 0, 0, 0),
    likes: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    return {
        "seats": seats,
        "active_users": active,
        "adoption_rate": active / seats if seats else None,
        "calls": calls,
        "calls_opted_out": opted_out,
        "notes_ready": notes[0],
        "notes_edited": notes[1],
        "edit_distance": distance,
        "tasks_generated": tasks[0],
        "tasks_accepted": tasks[1],
        "tasks_rejected": tasks[2],
        "tasks_edited": tasks[3],
        "feedback": likes or FEEDBACK_NONE,
    }


def user(
    name: str,
    cohort: str | None,
    calls: int,
    review_days: int,
    active: bool,
    *,
    seat: bool = True,
    enabled: bool = True,
    edited: int = 0,
    tasks: tuple[int, int, int, int] = (0, 0, 0, 0),
    likes: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    return {
        "email": f"{name}@acme.test",
        "name": name.title(),
        "cohort": cohort,
        "enabled": enabled,
        "seat": seat,
        "calls": calls,
        "days_with_calls": calls,
        "review_days": review_days,
        "active": active,
        "notes_edited": edited,
        "tasks_generated": tasks[0],
        "tasks_accepted": tasks[1],
        "tasks_rejected": tasks[2],
        "tasks_edited": tasks[3],
        "likes": likes[0],
        "dislikes": likes[1],
    }


async def test_weekly_metrics_match_the_hand_computed_values(migrated: AsyncEngine) -> None:
    await seed(migrated)
    async with sessions(migrated)() as session:
        found = await compute(session, TENANT, period="week", periods=2, now=NOW)

    assert found["cohorts"] == ["deal-closer", "none", "relationship-builder"]
    assert found["north_star"] == {
        "active_users": 2,
        "seats": 3,
        "adoption_rate": 2 / 3,
        "target": 0.6,
        "by_cohort": {
            "deal-closer": {"active_users": 1, "seats": 2, "adoption_rate": 0.5},
            "none": {"active_users": 0, "seats": 0, "adoption_rate": None},
            "relationship-builder": {"active_users": 1, "seats": 1, "adoption_rate": 1.0},
        },
    }
    first, current = found["periods"]
    assert (first["start"], first["end"]) == ("2026-11-16", "2026-11-23")
    assert (current["start"], current["end"]) == ("2026-11-23", "2026-11-30")
    assert first["cohorts"] == {
        "all": period(
            4,
            2,
            4,
            opted_out=1,
            notes=(4, 1),
            distance=1 / 7,
            tasks=(6, 3, 1, 1),
            likes=feedback(summary=(1, 0)),
        ),
        "deal-closer": period(
            2,
            1,
            3,
            opted_out=1,
            notes=(3, 1),
            distance=1 / 7,
            tasks=(5, 2, 1, 1),
            likes=feedback(summary=(1, 0)),
        ),
        "none": period(1, 1, 1, notes=(1, 0), tasks=(1, 1, 0, 0)),
        "relationship-builder": period(1, 0),
    }
    assert current["cohorts"] == {
        "all": period(
            3,
            2,
            3,
            notes=(3, 1),
            distance=1.0,
            tasks=(2, 1, 1, 0),
            likes=feedback(summary=(1, 0), tasks=(0, 1), local=(0, 1)),
        ),
        "deal-closer": period(
            2,
            1,
            2,
            notes=(2, 0),
            tasks=(2, 1, 1, 0),
            likes=feedback(tasks=(0, 1), local=(0, 1)),
        ),
        "none": period(0, 0),
        "relationship-builder": period(
            1, 1, 1, notes=(1, 1), distance=1.0, likes=feedback(summary=(1, 0))
        ),
    }
    assert found["users"] == [
        user("ann", "deal-closer", 3, 2, True, edited=1, tasks=(4, 2, 1, 1)),
        user("bob", "deal-closer", 4, 1, False, enabled=False, tasks=(4, 1, 1, 0), likes=(1, 1)),
        user("cara", "relationship-builder", 1, 1, True, edited=1, likes=(1, 0)),
        user("dan", None, 1, 1, True, seat=False, tasks=(1, 1, 0, 0)),
        user("eve", None, 0, 0, False, seat=False),
    ]
    assert [
        (c["email"], c["target"], c["rating"], c["extractor"], c["comment"])
        for c in found["comments"]
    ] == [
        ("bob@acme.test", "task", "dislike", "local", "wrong owner"),
        ("cara@acme.test", "summary", "like", "claude", "great"),
    ]
    assert found["activation"] == {"tenant_enabled": True, "seats": 3, "users_off": 1}
    assert found["eval"] == {"score": 0.82, "calls": 12, "at": at(20).isoformat()}


async def test_monthly_periods_and_a_cohort_filter(migrated: AsyncEngine) -> None:
    await seed(migrated)
    async with sessions(migrated)() as session:
        monthly = await compute(session, TENANT, period="month", periods=2, now=NOW)
        closers = await compute(session, TENANT, cohort="deal-closer", periods=2, now=NOW)
        with pytest.raises(MetricsError, match="no seats in cohort 'nope'"):
            await compute(session, TENANT, cohort="nope", now=NOW)
        with pytest.raises(UnknownTenantError):
            await compute(session, "initech", now=NOW)

    october, november = monthly["periods"]
    assert (october["start"], october["end"], november["end"]) == (
        "2026-10-01",
        "2026-11-01",
        "2026-12-01",
    )
    # On 1 Nov ann, bob and dan held seats and nobody had calls yet.
    assert october["cohorts"]["all"] == period(3, 0)
    assert november["cohorts"]["all"]["calls"] == 9
    assert november["cohorts"]["all"]["tasks_generated"] == 9

    assert closers["cohort"] == "deal-closer"
    assert list(closers["north_star"]["by_cohort"]) == ["deal-closer"]
    assert [u["email"] for u in closers["users"]] == ["ann@acme.test", "bob@acme.test"]
    assert set(closers["periods"][0]["cohorts"]) == {"all", "deal-closer"}
    assert closers["periods"][0]["cohorts"]["all"]["calls"] == 3


async def test_the_cli_prints_the_same_numbers(tmp_path: Any) -> None:
    from smartnotes.storage.database import database_url
    from smartnotes.storage.open import open_database

    data = tmp_path / "data"
    async with open_database(database_url(None, data)) as engine:
        await seed(engine)
    env = clean_env(SMARTNOTES_DATA_DIR=str(data), COLUMNS="220")
    code, out, err = await smartnotes(env, "admin", "metrics", TENANT, "--json", "--periods", "3")
    assert code == 0, err
    found = json.loads(out)
    assert found["north_star"]["seats"] == 3
    assert [u["email"] for u in found["users"]][:3] == [
        "ann@acme.test",
        "bob@acme.test",
        "cara@acme.test",
    ]
    code, out, err = await smartnotes(env, "admin", "metrics", TENANT, "--period", "month")
    assert code == 0, err
    assert "active of 3 seats" in out
    assert "ann@acme.test" in out
    code, _, err = await smartnotes(env, "admin", "metrics", TENANT, "--cohort", "nope")
    assert code == 2
    assert "no seats in cohort 'nope'" in err
    code, _, err = await smartnotes(env, "admin", "metrics", "initech")
    assert (code, err.strip()) == (2, "error: no tenant initech")
    code, _, err = await smartnotes(env, "admin", "metrics", TENANT, "--period", "day")
    assert code == 2


async def test_what_a_rep_does_in_the_review_counts(
    tmp_path: Any, service_database: SecretStr | None
) -> None:
    """Through the review API, not seeded rows: the actions the metrics read are the ones the
    review records."""
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False) as api:
        sessions_ = api.service.sessions
        rep = await seed_user(sessions_, "northwind", "maria@northwind.test")
        await seed_user(sessions_, "northwind", "lee@northwind.test")
        run_id = await seed_run(sessions_, "northwind", rep, call_id="c1")
        maria = ("northwind", "maria@northwind.test")
        _, run = await api.call("GET", f"/api/runs/{run_id}", as_user=maria)
        status, run = await api.call(
            "PATCH",
            f"/api/runs/{run_id}/summary",
            as_user=maria,
            json_body={"text": SUMMARY + " Budget approved.", "version": run["version"]},
        )
        assert status == 200, run
        first, second = run["tasks"]
        status, run = await api.call(
            "PATCH",
            f"/api/runs/{run_id}/tasks/{first['id']}",
            as_user=maria,
            json_body={"priority": "low", "version": first["version"]},
        )
        assert status == 200, run
        status, run = await api.call(
            "POST",
            f"/api/runs/{run_id}/tasks/{second['id']}/reject",
            as_user=maria,
            json_body={"version": run["tasks"][1]["version"]},
        )
        assert status == 200, run
        status, _ = await api.call(
            "POST",
            f"/api/runs/{run_id}/feedback",
            as_user=maria,
            json_body={"target": "summary", "rating": "dislike", "comment": "missed the budget"},
        )
        assert status == 201
        async with sessions_() as session:
            found = await compute(session, "northwind")

    lee_row, maria_row = found["users"]
    assert (maria_row["email"], maria_row["active"], maria_row["review_days"]) == (
        "maria@northwind.test",
        True,
        1,
    )
    assert (maria_row["notes_edited"], maria_row["tasks_edited"], maria_row["tasks_rejected"]) == (
        1,
        1,
        1,
    )
    assert (lee_row["active"], lee_row["calls"]) == (False, 0)
    assert found["north_star"]["active_users"] == 1
    assert found["north_star"]["adoption_rate"] == 0.5
    now = found["periods"][-1]["cohorts"]["all"]
    # "… Budget approved." adds two words to the seeded summary's eleven.
    assert now["edit_distance"] == 2 / 13
    assert now["feedback"]["summary"] == {"like": 0, "dislike": 1}
    # The summary is the local model's whatever the extractor: not counted for Claude.
    assert now["feedback"]["claude"] == {"like": 0, "dislike": 0}
    assert found["comments"][0]["comment"] == "missed the budget"
