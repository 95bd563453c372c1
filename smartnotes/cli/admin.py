"""``smartnotes admin`` (tenants, seats, switches) and ``smartnotes crm`` (the embedded CRM)."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapters.embedded import EmbeddedCRM
from crm_adapters.errors import CRMError
from smartnotes import consent, directory
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.runs.gate import Skip, skipped_calls
from smartnotes.storage.database import sessions
from smartnotes.storage.models import Consent
from smartnotes.storage.open import SchemaError, open_database
from smartnotes.usage.report import MonthlyUsage, UsageError, month_bounds, monthly

T = TypeVar("T")

admin_app = typer.Typer(help="Tenants, seats and the on/off switches.", no_args_is_help=True)
seat_app = typer.Typer(help="Who has a Smart Notes seat.", no_args_is_help=True)
tenant_app = typer.Typer(
    help="Switch Smart Notes on or off for a whole tenant, and its consent to AI processing.",
    no_args_is_help=True,
)
user_app = typer.Typer(
    help="Switch Smart Notes or confidential mode for one user.", no_args_is_help=True
)
admin_app.add_typer(seat_app, name="seat")
admin_app.add_typer(tenant_app, name="tenant")
admin_app.add_typer(user_app, name="user")
crm_app = typer.Typer(
    help="The embedded CRM: customers, Smart Notes and tasks.", no_args_is_help=True
)

OUT = Console(highlight=False)
ERR = Console(stderr=True, highlight=False)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _with_db(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:

    settings = load_settings(ERR)

    async def run() -> T:
        async with open_database(settings.database()) as engine:
            return await work(engine)

    try:
        return asyncio.run(run())
    except (directory.DirectoryError, CRMError) as exc:
        raise fail(ERR, str(exc), Exit.BAD_INPUT) from None
    except SchemaError as exc:
        raise fail(ERR, str(exc), Exit.BAD_SETUP) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(ERR, f"database: {str(exc).splitlines()[0]}", Exit.BAD_SETUP) from None


Tenant = Annotated[str, typer.Argument(help="Tenant id (the Entra ID tenant).")]
Email = Annotated[str, typer.Argument(help="The user's e-mail address.")]


@admin_app.command("token")
def token(
    tenant: Tenant,
    email: Email,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most a day).")] = 3600,
) -> None:
    """Print a signed API token for a user (for scripts and the CRM's server side)."""
    from smartnotes.auth import MAX_LIFETIME, issue_token, load_secret

    settings = load_settings(ERR)
    if not 0 < ttl <= MAX_LIFETIME:
        raise fail(ERR, f"--ttl must be between 1 and {MAX_LIFETIME} seconds", Exit.BAD_INPUT)

    async def work(engine: AsyncEngine) -> bool:
        async with sessions(engine)() as session:
            return await directory.find_user(session, tenant, email) is not None

    if not _with_db(work):
        raise fail(ERR, f"no user {email} in tenant {tenant}", Exit.BAD_INPUT)
    configured = settings.api_token_secret
    secret = load_secret(configured.get_secret_value() if configured else None, settings.data_dir)
    OUT.print(issue_token(secret, tenant, email, ttl=ttl), soft_wrap=True)


@admin_app.command("review-link")
def review_link(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 4 hours).")] = 900,
) -> None:
    """Print a signed link to a run's review page for the rep who owns it (what the CRM
    mints when it opens the post-call modal)."""
    from smartnotes.auth import REVIEW_MAX_LIFETIME, issue_review_token
    from smartnotes.service import load_review_secret
    from smartnotes.storage.models import Run, User

    settings = load_settings(ERR)
    if not 0 < ttl <= REVIEW_MAX_LIFETIME:
        raise fail(
            ERR, f"--ttl must be between 1 and {REVIEW_MAX_LIFETIME} seconds", Exit.BAD_INPUT
        )

    async def work(engine: AsyncEngine) -> tuple[str, str] | None:
        async with sessions(engine)() as session:
            run = await session.get(Run, run_id)
            owner = await session.get(User, run.owner_id) if run is not None else None
            return (owner.tenant_id, owner.email) if owner is not None else None

    found = _with_db(work)
    if found is None:
        raise fail(ERR, f"no run {run_id}", Exit.BAD_INPUT)
    token = issue_review_token(load_review_secret(settings), *found, run_id, ttl=ttl)
    OUT.print(f"{settings.public_url()}/review/{run_id}?token={token}", soft_wrap=True)


@admin_app.command("console-token")
def console_token(
    tenant: Tenant,
    email: Annotated[str, typer.Argument(help="The admin's e-mail address.")],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 8 hours).")] = 3600,
) -> None:
    """Print a token to sign in to the admin console (/admin) as an admin of TENANT. The
    admin needs no seat; paste the token into the sign-in form, never into a URL."""
    from smartnotes.auth import ADMIN_MAX_LIFETIME, issue_admin_token, load_secret

    settings = load_settings(ERR)
    if not 0 < ttl <= ADMIN_MAX_LIFETIME:
        raise fail(ERR, f"--ttl must be between 1 and {ADMIN_MAX_LIFETIME} seconds", Exit.BAD_INPUT)
    if not tenant.strip() or "@" not in email:
        raise fail(ERR, "give a tenant id and the admin's e-mail address", Exit.BAD_INPUT)
    configured = settings.api_token_secret
    secret = load_secret(configured.get_secret_value() if configured else None, settings.data_dir)
    OUT.print(issue_admin_token(secret, tenant.strip(), email, ttl=ttl), soft_wrap=True)


Cohort = Annotated[
    str | None,
    typer.Option(
        help="Persona cohort: deal-closer, relationship-builder, all-rounder, or your own label."
    ),
]


@seat_app.command("add")
def seat_add(
    tenant: Tenant,
    email: Email,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    cohort: Cohort = None,
) -> None:
    """Give a user a seat: Smart Notes processes their calls from now on (once the tenant
    agreed to AI processing: ``admin tenant on``)."""
    version = load_settings(ERR).terms_version

    async def work(engine: AsyncEngine) -> bool:
        async with sessions(engine)() as session, session.begin():
            await directory.add_seat(
                session, tenant, email, by=_actor(), display_name=name, cohort=cohort
            )
            return await consent.in_force(session, tenant, version) is not None

    agreed = _with_db(work)
    ERR.print(f"Seat added for {escape(email)} in {escape(tenant)}.")
    if not agreed:
        # Seats may well come first; the admin learns now why calls would not be processed.
        ERR.print(f"Note: {escape(consent.needed(tenant, version))}", soft_wrap=True)


@seat_app.command("remove")
def seat_remove(tenant: Tenant, email: Email) -> None:
    """Take a user's seat away: their calls are no longer processed."""

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.remove_seat(session, tenant, email, by=_actor())

    _with_db(work)
    ERR.print(f"Seat removed for {escape(email)} in {escape(tenant)}.")


@seat_app.command("list")
def seat_list(tenant: Tenant) -> None:
    """The users with a seat, their cohort and their switches."""

    async def work(engine: AsyncEngine) -> list[tuple[str, str, str, bool, bool]]:
        async with sessions(engine)() as session:
            return [
                (u.email, u.display_name, s.cohort or "", u.enabled, u.confidential_default)
                for u, s in await directory.seat_rows(session, tenant)
            ]

    table = Table("e-mail", "name", "cohort", "Smart Notes", "confidential by default")
    for email, name, cohort, enabled, confidential in _with_db(work):
        table.add_row(
            escape(email),
            escape(name),
            escape(cohort),
            "on" if enabled else "off",
            "yes" if confidential else "no",
        )
    OUT.print(table)


@seat_app.command("cohort")
def seat_cohort(
    tenant: Tenant,
    email: Email,
    cohort: Annotated[str, typer.Argument(help="The cohort, or 'none'.")],
) -> None:
    """Put a seated rep in a persona cohort (success metrics and limits are per cohort)."""
    chosen = None if cohort.strip().lower() == "none" else cohort

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_cohort(session, tenant, email, chosen, by=_actor())

    _with_db(work)
    ERR.print(f"{escape(email)} is in cohort {escape(chosen or 'none')}.")


@seat_app.command("import")
def seat_import(
    tenant: Tenant,
    csv_file: Annotated[
        Path, typer.Argument(help="A CSV file with the columns email, name, cohort.")
    ],
) -> None:
    """Give seats (and cohorts) to every rep of a CSV file, all or none: a bad line names
    itself and nothing is written."""
    rows = _seat_csv(csv_file)
    version = load_settings(ERR).terms_version

    async def work(engine: AsyncEngine) -> bool:
        async with sessions(engine)() as session, session.begin():
            for line, email, name, cohort in rows:
                try:
                    await directory.add_seat(
                        session, tenant, email, by=_actor(), display_name=name, cohort=cohort
                    )
                except directory.DirectoryError as exc:
                    raise directory.DirectoryError(f"{csv_file}, line {line}: {exc}") from None
            return await consent.in_force(session, tenant, version) is not None

    agreed = _with_db(work)
    ERR.print(f"{len(rows)} seat(s) in {escape(tenant)} from {escape(str(csv_file))}.")
    if not agreed:
        ERR.print(f"Note: {escape(consent.needed(tenant, version))}", soft_wrap=True)


def _seat_csv(path: Path) -> list[tuple[int, str, str, str | None]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(ERR, f"cannot read {path}: {exc}", Exit.BAD_INPUT) from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise fail(
            ERR,
            f"{path}: the first line must name the columns (email, name, cohort)",
            Exit.BAD_INPUT,
        )
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if "@" not in row.get("email", ""):
            raise fail(ERR, f"{path}, line {number}: no e-mail address", Exit.BAD_INPUT)
        rows.append((number, row["email"], row.get("name", ""), row.get("cohort") or None))
    if not rows:
        raise fail(ERR, f"{path}: no reps listed", Exit.BAD_INPUT)
    return rows


def _switch(value: str) -> bool:
    if value not in ("on", "off"):
        raise typer.BadParameter("say 'on' or 'off'")
    return value == "on"


@tenant_app.command("switch")
def tenant_switch(tenant: Tenant, state: Annotated[str, typer.Argument(help="on or off")]) -> None:
    """Switch Smart Notes on or off for every user of a tenant (on: see ``tenant on``)."""
    if _switch(state):
        _tenant_on(tenant, accept_terms=False, by=None)
    else:
        _tenant_off(tenant)


AcceptTerms = Annotated[
    bool,
    typer.Option(
        "--accept-terms",
        help="The person named by --by agrees, for the tenant, to AI processing of its calls "
        "under the terms in force (shown at /terms).",
    ),
]
By = Annotated[
    str | None,
    typer.Option("--by", help='The person who agrees or withdraws: "Name <email>".'),
]


@tenant_app.command("on")
def tenant_on(tenant: Tenant, accept_terms: AcceptTerms = False, by: By = None) -> None:
    """Switch Smart Notes on for a tenant. Its calls are processed only once someone agreed
    for it to AI processing under the terms in force: the first time (and when the terms
    change) add --accept-terms --by "Name <email>", which records who agreed, when, to which
    version."""
    _tenant_on(tenant, accept_terms=accept_terms, by=by)


@tenant_app.command("off")
def tenant_off(tenant: Tenant) -> None:
    """Switch Smart Notes off for every user of a tenant (its consent stays recorded)."""
    _tenant_off(tenant)


def _tenant_on(tenant: str, *, accept_terms: bool, by: str | None) -> None:
    version = load_settings(ERR).terms_version
    if by is not None and not accept_terms:
        raise fail(
            ERR, "--by names who accepts the terms: give it with --accept-terms", Exit.BAD_INPUT
        )
    if accept_terms and by is None:
        raise fail(
            ERR,
            '--accept-terms needs --by "Name <email>": the person who agrees for the tenant',
            Exit.BAD_INPUT,
        )

    async def work(engine: AsyncEngine) -> tuple[bool, str, str]:
        async with sessions(engine)() as session, session.begin():
            if by is not None:
                agreed, new = await consent.record_consent(
                    session, tenant, by=by, terms_version=version, actor=_actor()
                )
            else:
                found = await consent.in_force(session, tenant, version)
                if found is None:
                    raise directory.DirectoryError(
                        f"tenant {tenant} has not agreed to AI processing under the terms in "
                        f"force ({version}, shown at /terms), so Smart Notes stays off for it; "
                        'run again with --accept-terms --by "Name <email>" naming the person '
                        "who agrees for the tenant"
                    )
                agreed, new = found, False
            await directory.set_tenant_enabled(session, tenant, True, by=_actor())
            return new, agreed.accepted_by, _when(agreed.accepted_at)

    new, who, when = _with_db(work)
    recorded = "Consent recorded" if new else "Consent on record"
    ERR.print(
        f"{recorded}: {escape(who)} agreed for tenant {escape(tenant)} to AI processing under "
        f"the terms {escape(version)} ({when}).",
        soft_wrap=True,
    )
    ERR.print(f"Smart Notes is on for tenant {escape(tenant)}.")


def _tenant_off(tenant: str) -> None:
    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_tenant_enabled(session, tenant, False, by=_actor())

    _with_db(work)
    ERR.print(f"Smart Notes is off for tenant {escape(tenant)}.")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@tenant_app.command("consent")
def tenant_consent(
    tenant: Tenant,
    withdraw: Annotated[
        bool,
        typer.Option(
            "--withdraw",
            help="Withdraw the tenant's consent (with --by): nothing of its calls is processed "
            "from then on, runs already queued included.",
        ),
    ] = False,
    by: By = None,
) -> None:
    """Who agreed for a tenant to AI processing, when, to which version of the terms, whether
    that covers the terms in force, and how many calls went unprocessed for want of it."""
    version = load_settings(ERR).terms_version
    if withdraw != (by is not None):
        raise fail(ERR, 'withdrawing needs both --withdraw and --by "Name <email>"', Exit.BAD_INPUT)
    if withdraw and by is not None:
        _withdraw(tenant, by)
        return

    async def work(engine: AsyncEngine) -> tuple[Consent | None, bool, int]:
        async with sessions(engine)() as session:
            covering = await consent.in_force(session, tenant, version)
            record = covering or await consent.latest(session, tenant)
            since = record.accepted_at if record is not None else None
            skipped = await skipped_calls(session, tenant, Skip.NO_CONSENT, since)
            return record, covering is not None, skipped

    record, covers, skipped = _with_db(work)
    lines = [f"Tenant {escape(tenant)}; terms in force: {escape(version)} (shown at /terms)"]
    if record is None:
        lines.append("  consent: none recorded")
    else:
        lines.append(
            f"  consent: terms {escape(record.terms_version)}, given by "
            f"{escape(record.accepted_by)} on {_when(record.accepted_at)}"
        )
        if record.withdrawn_at is not None:
            lines.append(
                f"  withdrawn by {escape(record.withdrawn_by or '')} on "
                f"{_when(record.withdrawn_at)}"
            )
    lines.append(f"  covers the terms in force: {'yes' if covers else 'no'}")
    since_text = f" since {_when(record.accepted_at)}" if record is not None else ""
    lines.append(f"  calls not processed for want of consent{since_text}: {skipped}")
    OUT.print("\n".join(lines), soft_wrap=True)


def _withdraw(tenant: str, by: str) -> None:
    async def work(engine: AsyncEngine) -> list[str]:
        async with sessions(engine)() as session, session.begin():
            withdrawn = await consent.withdraw_consent(session, tenant, by=by, actor=_actor())
            return sorted({c.terms_version for c in withdrawn})

    versions = _with_db(work)
    ERR.print(
        f"Consent to the terms {escape(', '.join(versions))} withdrawn for tenant "
        f"{escape(tenant)}: none of its calls is processed from now on, runs already queued "
        "included.",
        soft_wrap=True,
    )


@user_app.command("switch")
def user_switch(
    tenant: Tenant, email: Email, state: Annotated[str, typer.Argument(help="on or off")]
) -> None:
    """Switch Smart Notes on or off for one user."""
    enabled = _switch(state)

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_user_enabled(session, tenant, email, enabled, by=_actor())

    _with_db(work)
    ERR.print(f"Smart Notes is {state} for {escape(email)}.")


@user_app.command("confidential")
def user_confidential(
    tenant: Tenant, email: Email, state: Annotated[str, typer.Argument(help="on or off")]
) -> None:
    """Make confidential mode (local models only, no transcript kept) a user's default."""
    confidential = _switch(state)

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_confidential_default(
                session, tenant, email, confidential, by=_actor()
            )

    _with_db(work)
    ERR.print(f"Confidential by default is {state} for {escape(email)}.")


def _save_mode(value: str, inherit: str) -> str | None:
    if value not in ("review", "auto", inherit):
        raise typer.BadParameter(f"say 'review', 'auto' or '{inherit}'")
    return None if value == inherit else value


@tenant_app.command("save-mode")
def tenant_save_mode(
    tenant: Tenant,
    mode: Annotated[
        str,
        typer.Argument(
            help="review (notes wait for the rep), auto (saved after a while without the "
            "rep), or default (the service's setting)"
        ),
    ],
    after_hours: Annotated[
        float | None,
        typer.Option(help="Hours after the notes are ready before auto-save (default: 24)."),
    ] = None,
) -> None:
    """Choose what happens to notes a tenant's reps never open."""
    chosen = _save_mode(mode, "default")

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_tenant_save_mode(session, tenant, chosen, after_hours, by=_actor())

    _with_db(work)
    ERR.print(f"Save mode for tenant {escape(tenant)}: {mode}.")


@user_app.command("save-mode")
def user_save_mode(
    tenant: Tenant,
    email: Email,
    mode: Annotated[str, typer.Argument(help="review, auto, or tenant (the tenant's choice)")],
) -> None:
    """Override the tenant's save mode for one rep."""
    chosen = _save_mode(mode, "tenant")

    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_user_save_mode(session, tenant, email, chosen, by=_actor())

    _with_db(work)
    ERR.print(f"Save mode for {escape(email)}: {mode}.")


@tenant_app.command("timezone")
def tenant_timezone(
    tenant: Tenant,
    zone: Annotated[
        str, typer.Argument(help="IANA time zone, e.g. Europe/Berlin, or default (the service's)")
    ],
) -> None:
    """The time zone for reps whose own zone Teams and their mailbox have not told us."""
    _set_timezone(tenant, None, None if zone == "default" else zone)
    ERR.print(f"Time zone for tenant {escape(tenant)}: {escape(zone)}.")


@user_app.command("timezone")
def user_timezone(
    tenant: Tenant,
    email: Email,
    zone: Annotated[
        str, typer.Argument(help="IANA time zone, or auto (learned from Teams or the mailbox)")
    ],
) -> None:
    """Set the time zone a rep's deadlines are read in."""
    _set_timezone(tenant, email, None if zone == "auto" else zone)
    ERR.print(f"Time zone for {escape(email)}: {escape(zone)}.")


def _set_timezone(tenant: str, email: str | None, zone: str | None) -> None:
    async def work(engine: AsyncEngine) -> None:
        async with sessions(engine)() as session, session.begin():
            await directory.set_timezone(session, tenant, email, zone, by=_actor())

    _with_db(work)


@crm_app.command("add-customer")
def crm_add_customer(
    name: Annotated[str, typer.Argument(help="Customer name.")],
    email: Annotated[list[str], typer.Option("--email", help="A contact's e-mail (repeat).")],
) -> None:
    """Add a customer and the contacts whose calls belong to it."""

    async def work(engine: AsyncEngine) -> str:
        return (await EmbeddedCRM(engine).add_customer(name, email)).id

    customer_id = _with_db(work)
    OUT.print(customer_id)
    ERR.print(f"Customer {escape(name)} added with {len(email)} contact(s).")


@crm_app.command("customers")
def crm_customers() -> None:
    """List customers and their contacts."""

    async def work(engine: AsyncEngine) -> list[tuple[str, str, list[str]]]:
        return [(c.id, c.name, emails) for c, emails in await EmbeddedCRM(engine).customers()]

    table = Table("id", "name", "contacts")
    for customer_id, name, emails in _with_db(work):
        table.add_row(customer_id, name, ", ".join(emails))
    OUT.print(table)


@crm_app.command("notes")
def crm_notes(customer: Annotated[str | None, typer.Option(help="Customer id.")] = None) -> None:
    """List the notes in the Smart Notes section."""

    async def work(engine: AsyncEngine) -> list[tuple[str, str, str, str]]:
        return [
            (n.created_at.strftime("%Y-%m-%d %H:%M"), n.customer_id, n.title, n.call_url or "")
            for n in await EmbeddedCRM(engine).notes(customer)
        ]

    table = Table("written (UTC)", "customer", "title (AI generated)", "call")
    for row in _with_db(work):
        table.add_row(*row)
    OUT.print(table)


@crm_app.command("tasks")
def crm_tasks() -> None:
    """List the open tasks."""

    async def work(engine: AsyncEngine) -> list[tuple[str, str, str, str, str]]:
        return [
            (
                t.title,
                t.owner,
                t.due_date.isoformat() if t.due_date else "",
                t.priority,
                t.customer_id or "",
            )
            for t in await EmbeddedCRM(engine).tasks()
        ]

    table = Table("task (AI generated)", "owner", "due", "priority", "customer")
    for row in _with_db(work):
        table.add_row(*row)
    OUT.print(table)


@admin_app.command("runs")
def runs(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's runs.")] = None,
    user: Annotated[str | None, typer.Option(help="Only the runs this rep owns (e-mail).")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only runs in this state (queued, running, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Find runs: who owns them, where they stand, and why one failed."""
    from smartnotes.runs.admin import RunRow, find_runs
    from smartnotes.storage.models import RunStatus

    states = [s.value for s in RunStatus]
    if state is not None and state not in states:
        raise fail(ERR, f"--state must be one of {', '.join(states)}", Exit.BAD_INPUT)
    if not 1 <= limit <= 1000:
        raise fail(ERR, "--limit must be between 1 and 1000", Exit.BAD_INPUT)

    async def work(engine: AsyncEngine) -> list[RunRow]:
        async with sessions(engine)() as session:
            return await find_runs(session, tenant=tenant, user=user, state=state, limit=limit)

    found = _with_db(work)
    if as_json:
        OUT.print_json(data=[row.as_json() for row in found])
        return
    table = Table("run", "created", "rep", "source", "state", "customer", "tasks", "problem")
    for row in found:
        table.add_row(
            row.id,
            row.created_at.strftime("%Y-%m-%d %H:%M"),
            escape(row.owner_email),
            row.source,
            row.state_text,
            escape(row.customer or "(none)"),
            str(row.tasks),
            escape(row.problem or ""),
        )
    OUT.print(table)
    if not found:
        ERR.print("No runs match.")


@admin_app.command("export")
def export(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
    output: Annotated[
        Path | None, typer.Option(help="Write the document here instead of printing it.")
    ] = None,
) -> None:
    """Everything Smart Notes keeps about a person, as one JSON document (a subject access
    request): their user and seat, the runs they own with notes and tasks, the runs they
    attended, their feedback, notifications, usage records and audit entries."""
    from smartnotes.privacy import Privacy

    async def work(engine: AsyncEngine) -> dict[str, Any] | None:
        return await Privacy(sessions(engine)).export(email)

    document = _with_db(work)
    if document is None:
        raise fail(ERR, f"no user with the e-mail address {email}", Exit.BAD_INPUT)
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    if output is None:
        OUT.out(text, highlight=False)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail(ERR, f"cannot write {output}: {exc.strerror or exc}", Exit.BAD_INPUT) from None
    ERR.print(f"Wrote {escape(str(output))}: {len(document['runs'])} runs.")


@admin_app.command("erase")
def erase(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Erase: without it, nothing is changed.")
    ] = False,
) -> None:
    """Erase a person: their user, seat, runs, tasks, feedback, notifications, Teams reference
    and the transcripts they spoke in; other mentions pseudonymised. Cannot be undone."""
    from smartnotes.privacy import Privacy, pseudonym

    if not yes:
        raise fail(
            ERR,
            f"this erases {email} and cannot be undone (notes already in the CRM stay there); "
            "run again with --yes",
            Exit.BAD_INPUT,
        )

    async def work(engine: AsyncEngine) -> Any:
        return await Privacy(sessions(engine)).erase(email, actor=_actor())

    erased = _with_db(work)
    if erased is None:
        raise fail(ERR, f"no user with the e-mail address {email}", Exit.BAD_INPUT)
    ERR.print(
        f"Erased {escape(email)} as {pseudonym(email)}: {erased.users} user(s), {erased.runs} "
        f"run(s), {erased.transcripts} transcript(s), {erased.rows_rewritten} other row(s) "
        "pseudonymised."
    )


USAGE_FORMATS = ("table", "csv", "json")


@admin_app.command("usage")
def usage(
    tenant: Tenant,
    month: Annotated[
        str | None, typer.Option(help="The calendar month (UTC), YYYY-MM; default: this one.")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, csv (a header row, a row per rep) or json.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write the report here instead of printing it.")
    ] = None,
) -> None:
    """Usage per seat in a month, for billing: calls, audio minutes, Claude's tokens, the local
    model's time, calls the cohort limits sent to the local extractor, and the estimated cost
    at the configured prices (SMARTNOTES_USAGE__PRICES__*); the tenant's total under it."""
    from pipeline.events import utcnow

    settings = load_settings(ERR)
    if output_format not in USAGE_FORMATS:
        raise fail(ERR, f"--format must be one of {', '.join(USAGE_FORMATS)}", Exit.BAD_INPUT)
    chosen = month if month is not None else f"{utcnow():%Y-%m}"
    try:
        month_bounds(chosen)
    except UsageError as exc:
        raise fail(ERR, f"--month: {exc}", Exit.BAD_INPUT) from None

    async def work(engine: AsyncEngine) -> MonthlyUsage:
        async with sessions(engine)() as session:
            return await monthly(session, tenant, chosen, settings.usage.prices)

    try:
        report = _with_db(work)
    except UsageError as exc:
        raise fail(ERR, str(exc), Exit.BAD_INPUT) from None
    if output_format == "table":
        rendered: Table | str = _usage_table(report)
    elif output_format == "csv":
        rendered = report.to_csv().rstrip("\n")
    else:
        rendered = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
    if output is None:
        if isinstance(rendered, Table):
            OUT.print(rendered)
        else:
            OUT.out(rendered, highlight=False)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            Console(file=handle, width=160, highlight=False, color_system=None).print(
                rendered, soft_wrap=not isinstance(rendered, Table)
            )
    except OSError as exc:
        raise fail(ERR, f"cannot write {output}: {exc.strerror or exc}", Exit.BAD_INPUT) from None
    ERR.print(f"Wrote {escape(str(output))}: {len(report.seats)} seat(s) in {report.month}.")


def _usage_table(report: MonthlyUsage) -> Table:
    table = Table(title=f"Usage of {escape(report.tenant_id)} in {report.month}")
    # Names and numbers wrap rather than being cut short: this is what is billed.
    for header in ("e-mail", "cohort"):
        table.add_column(header, overflow="fold")
    for header in ("calls", "audio min", "Claude in", "Claude out", "local s", "limited"):
        table.add_column(header, justify="right", overflow="fold")
    table.add_column(f"cost {escape(report.prices.currency)}", justify="right", overflow="fold")
    rows = [(escape(s.email), escape(s.cohort or ""), s.usage) for s in report.seats]
    for number, (email, cohort, used) in enumerate([*rows, ("total", "", report.total)]):
        figures = used.to_json(report.prices)
        table.add_row(
            email,
            cohort,
            str(figures["calls"]),
            f"{figures['audio_minutes']:.1f}",
            f"{figures['claude_input_tokens']:,}",
            f"{figures['claude_output_tokens']:,}",
            f"{figures['local_model_seconds']:.1f}",
            str(figures["calls_limited"]),
            f"{figures['estimated_cost']:.2f}",
            end_section=number == len(rows) - 1,
        )
    return table
