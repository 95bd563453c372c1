"""A person's data on both databases: exported as one document, then erased so that nothing
identifying them is left in any of the service's tables, while another rep's notes of a
call they attended stay (pseudonymised)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select, update

from smartnotes.consent import withdraw_consent
from smartnotes.privacy import Privacy, pseudonym
from smartnotes.settings import Settings
from smartnotes.storage.models import (
    AuditEntry,
    Base,
    Consent,
    CrmWrite,
    Feedback,
    MeetingBrief,
    Notification,
    Run,
    TeamsConversation,
    User,
)
from tests.api_client import Api, running_api
from tests.commands import clean_env, smartnotes
from tests.seed import TERMS, seed_consent, seed_run, seed_user

TENANT = "northwind"
MARIA = "Maria.Chen@northwind.test"
NAME = "Maria Chen"
AAD = "5d2e8a41-3c6f-4b7a-9e10-00000000a11c"
OLGA = "olga@northwind.test"
# An admin without a seat, known to the service only from the consent she withdrew.
IDA = "ida@northwind.test"


@pytest_asyncio.fixture
async def api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False) as started:
        yield started


async def _seed(api: Api, tmp_path: Path) -> tuple[str, str, str]:
    """Maria's own run, and Olga's run of a call Maria attended; both with a transcript."""
    sessions = api.service.sessions
    maria = await seed_user(sessions, TENANT, MARIA.lower(), NAME, consent=False)
    olga = await seed_user(sessions, TENANT, OLGA, "Olga Petrova", consent=False)
    # Maria agreed for the tenant to old terms, Ida withdrew that, Maria agreed to the new.
    await seed_consent(sessions, TENANT, by=f"{NAME} <{MARIA}>", terms_version="2025-06-01")
    async with sessions() as session, session.begin():
        await withdraw_consent(session, TENANT, by=f"Ida Lindqvist <{IDA}>")
    await seed_consent(sessions, TENANT, by=f"{NAME} <{MARIA}>")
    mine = await seed_run(
        sessions,
        TENANT,
        maria,
        call_id="maria-call",
        tasks=[{"title": "Send the DPA", "owner": NAME, "quote": "I will send the DPA."}],
    )
    theirs = await seed_run(
        sessions,
        TENANT,
        olga,
        call_id="olga-call",
        attendees=(MARIA.lower(),),
        tasks=[
            {
                "title": f"Ask {NAME} for the security review",
                "owner": "Olga Petrova",
                "quote": f"{NAME}: the security review is on me.",
            }
        ],
    )
    async with sessions() as session, session.begin():
        for run_id in (mine, theirs):
            transcript = tmp_path / f"{run_id}.vtt"
            transcript.write_text(f"WEBVTT\n\n<v {NAME}>Hello.</v>\n")
            await session.execute(
                update(Run).where(Run.id == run_id).values(transcript_ref=str(transcript))
            )
        await session.execute(
            update(Run)
            .where(Run.id == theirs)
            .values(
                participants=[
                    {"name": NAME, "email": MARIA},
                    {"name": "Olga Petrova", "email": OLGA},
                ],
                summary_edited=f"Olga and {NAME} walked Contoso through the security review.",
            )
        )
        await session.execute(update(User).where(User.id == maria).values(aad_object_id=AAD))
        session.add_all(
            [
                Feedback(run_id=theirs, user_id=maria, target="summary", rating="like"),
                Feedback(
                    run_id=mine,
                    user_id=maria,
                    target="summary",
                    rating="dislike",
                    comment="Missed the DPA.",
                ),
                Notification(user_id=maria, run_id=mine, kind="ready", message="Ready."),
                TeamsConversation(
                    user_id=maria,
                    conversation_id="a:maria-chat",
                    reference={"user": {"name": NAME, "aadObjectId": AAD}},
                ),
                MeetingBrief(
                    tenant_id=TENANT,
                    user_id=maria,
                    event_id="040000008200E00074C5B7101A82E008-maria",
                    starts_at=datetime(2026, 12, 1, 14, tzinfo=UTC),
                    customer_id="contoso",
                    status="sent",
                    sent_at=datetime(2026, 12, 1, 13, 45, tzinfo=UTC),
                ),
                AuditEntry(actor=maria, run_id=mine, action="run_saved"),
                AuditEntry(actor="cli:admin", action="seat_added", detail={"email": MARIA}),
                CrmWrite(
                    run_id=theirs,
                    kind="note",
                    idempotency_key=f"note:{theirs}",
                    payload={"body": f"Met with {NAME}."},
                ),
            ]
        )
    return maria, mine, theirs


async def _everything(api: Api) -> str:
    """Every row of every table of the service's schema, as text."""
    dumped: list[str] = []
    async with api.service.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                dumped.append(f"{table.name}: {tuple(row)}")
    return "\n".join(dumped)


async def test_a_person_is_exported_then_erased_everywhere(api: Api, tmp_path: Path) -> None:
    maria, mine, theirs = await _seed(api, tmp_path)
    privacy = Privacy(api.service.sessions)

    document = await privacy.export(MARIA)
    assert document is not None
    assert [u["display_name"] for u in document["users"]] == [NAME]
    assert [r["run_id"] for r in document["runs"]] == [mine]
    assert document["runs"][0]["tasks"][0]["generated"]["title"] == "Send the DPA"
    assert [a["run_id"] for a in document["attended"]] == [theirs]
    assert {f["comment"] for f in document["feedback"]} == {"", "Missed the DPA."}
    assert [n["message"] for n in document["notifications"]] == ["Ready."]
    assert [(b["customer_id"], b["status"]) for b in document["meeting_briefs"]] == [
        ("contoso", "sent")
    ]
    assert [a["action"] for a in document["audit"]] == [
        "consent_given",
        "consent_given",
        "run_saved",
    ]
    assert [
        (c["terms_version"], c["given_by_them"], c["withdrawn_by"]) for c in document["consents"]
    ] == [("2025-06-01", True, f"Ida Lindqvist <{IDA}>"), (TERMS, True, None)]
    assert await privacy.export("nobody@northwind.test") is None
    # Someone known only from a consent is a person with data, too.
    idas = await privacy.export(IDA)
    assert idas is not None
    assert idas["users"] == []
    assert [c["terms_version"] for c in idas["consents"]] == ["2025-06-01"]
    assert not idas["consents"][0]["given_by_them"]

    erased = await privacy.erase(MARIA, actor="cli:dpo")
    assert erased is not None
    assert (erased.users, erased.runs, erased.transcripts) == (1, 1, 2)

    everything = (await _everything(api)).lower()
    for trace in (MARIA, NAME, AAD, maria):
        assert trace.lower() not in everything, f"{trace} is still stored"
    assert "meeting_briefs:" not in everything, "the briefs sent to her go with her"
    assert not (tmp_path / f"{mine}.vtt").exists()
    assert not (tmp_path / f"{theirs}.vtt").exists(), "the transcript she spoke in is gone"

    subject = pseudonym(MARIA)
    async with api.service.sessions() as session:
        olgas = await session.get(Run, theirs)
        assert await session.get(Run, mine) is None
        audit = {a.action: a for a in (await session.execute(select(AuditEntry))).scalars()}
    # Olga's notes stay, with Maria pseudonymised, and the audit keeps a pseudonymous trail.
    assert olgas is not None
    assert olgas.summary_edited == f"Olga and {subject} walked Contoso through the security review."
    assert olgas.transcript_ref is None
    assert audit["run_saved"].actor == subject
    assert audit["person_erased"].detail["subject"] == subject
    assert audit["person_erased"].actor == "cli:dpo"
    # The proof of consent stays, with the pseudonym for Maria; Ida's withdrawal is hers.
    async with api.service.sessions() as session:
        consents = (await session.execute(select(Consent).order_by(Consent.id))).scalars().all()
    assert [(c.terms_version, c.accepted_by, c.withdrawn_by) for c in consents] == [
        ("2025-06-01", subject, f"Ida Lindqvist <{IDA}>"),
        (TERMS, subject, None),
    ]
    assert await privacy.erase(MARIA, actor="cli:dpo") is None


async def test_erase_asks_for_yes_and_names_an_unknown_person(
    api: Api, tmp_path: Path, service_database: SecretStr | None
) -> None:
    await _seed(api, tmp_path)
    env = clean_env(SMARTNOTES_DATA_DIR=str(tmp_path))
    if service_database is not None:
        env["SMARTNOTES_DATABASE_URL"] = service_database.get_secret_value()
    code, _, err = await smartnotes(env, "admin", "erase", MARIA)
    assert code == 2
    assert "--yes" in err
    assert MARIA.lower() in (await _everything(api)).lower(), "nothing was erased without --yes"
    code, _, err = await smartnotes(env, "admin", "erase", "nobody@northwind.test", "--yes")
    assert code == 2
    assert "no user" in err
    code, out, _ = await smartnotes(env, "admin", "export", MARIA)
    assert code == 0
    exported: dict[str, Any] = json.loads(out)
    assert exported["email"] == MARIA.lower()
    code, _, err = await smartnotes(env, "admin", "erase", MARIA, "--yes")
    assert code == 0, err
    assert pseudonym(MARIA) in err
    assert MARIA.lower() not in (await _everything(api)).lower()
