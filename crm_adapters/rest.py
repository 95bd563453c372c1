"""The internal CRM over HTTP JSON.

Requests carry the configured auth header and, for writes, an ``Idempotency-Key`` header, so a
retried write lands once. 429 and 5xx answers, timeouts and connection failures are retried
with exponential backoff, honouring ``Retry-After``; after the last attempt the failure is
raised as a typed :mod:`crm_adapters.errors` error for the caller's outbox to retry later.

The wire format (paths are options):

- ``GET {customer_search_path}?email=a&email=b`` → ``{"customers": [{"id", "name", "url"?}]}``
- ``POST {notes_path}`` (``{customer_id}`` in the path) → ``201 {"id", "url"?}``, or ``200``
  with the first write's id when the idempotency key was seen before
- ``PUT {note_path}`` → ``200 {"id"}`` (the notes changed after they were saved)
- ``POST {tasks_path}`` → same; ``PUT {task_path}`` → ``200 {"id"}``; ``DELETE {task_path}``
  → ``204`` (or ``404`` when already gone)
- ``POST {task_complete_path}`` (empty body) → ``201 {"id"}`` when it completed the task,
  ``200 {"id"}`` when it was done before; ``404`` when there is no such task
- The customer directory, each request naming the rep in ``{acting_user_header}`` so the CRM
  answers with that rep's rights: ``GET {customer_search_path}?q=text&limit=n`` →
  ``{"customers": [...]}`` (those the rep may write to); ``POST {customer_search_path}``
  ``{"name", "emails"}`` → ``201 {"id", "name", "url"?}``; ``GET {customer_access_path}`` →
  ``{"write": bool, "customer": {"id", "name", "url"?}}`` (``404``: no such customer)
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import aiohttp
from pydantic import Field, SecretStr, field_validator

from crm_adapters.contract import (
    SECTION,
    AdapterOptions,
    AdapterResources,
    Capability,
    Customer,
    NoteWrite,
    TaskWrite,
    WriteResult,
    normalise_emails,
)
from crm_adapters.errors import (
    CRMAuthError,
    CRMConflictError,
    CRMError,
    CRMNotFoundError,
    CRMRateLimitedError,
    CRMUnavailableError,
)

_RETRYABLE = frozenset({429, 500, 502, 503, 504})


class RestOptions(AdapterOptions):
    base_url: str
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    auth_token: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=20)
    backoff_initial: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=30.0, gt=0)
    customer_search_path: str = "/api/customers"
    notes_path: str = "/api/customers/{customer_id}/smart-notes"
    note_path: str = "/api/customers/{customer_id}/smart-notes/{note_id}"
    tasks_path: str = "/api/tasks"
    task_path: str = "/api/tasks/{task_id}"
    task_complete_path: str = "/api/tasks/{task_id}/complete"
    customer_access_path: str = "/api/customers/{customer_id}/access"
    acting_user_header: str = "X-Acting-User"

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class RestCRM:
    name: ClassVar[str] = "rest"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    Options: ClassVar[type[AdapterOptions]] = RestOptions

    def __init__(self, options: RestOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def create(cls, options: Any, resources: AdapterResources) -> RestCRM:
        if not isinstance(options, RestOptions):
            raise TypeError("RestCRM needs RestOptions")
        return cls(options)

    # -- the contract ---------------------------------------------------------------------

    async def find_customer(self, emails: Sequence[str]) -> Customer | None:
        wanted = normalise_emails(emails)
        if not wanted:
            return None
        _, body = await self._request(
            "GET", self.options.customer_search_path, params=[("email", e) for e in wanted]
        )
        customers = body.get("customers") if isinstance(body, dict) else None
        if not isinstance(customers, list) or not customers:
            return None
        return _customer(customers[0])

    async def write_note(self, note: NoteWrite) -> WriteResult:
        path = self.options.notes_path.format(customer_id=note.customer_id)
        return await self._write("POST", path, _note_payload(note), note.idempotency_key)

    async def update_note(self, external_id: str, note: NoteWrite) -> WriteResult:
        path = self.options.note_path.format(customer_id=note.customer_id, note_id=external_id)
        result = await self._write("PUT", path, _note_payload(note), note.idempotency_key)
        return WriteResult(
            external_id=result.external_id or external_id, created=False, url=result.url
        )

    async def create_task(self, task: TaskWrite) -> WriteResult:
        return await self._write(
            "POST", self.options.tasks_path, _task_payload(task), task.idempotency_key
        )

    async def update_task(self, external_id: str, task: TaskWrite) -> WriteResult:
        path = self.options.task_path.format(task_id=external_id)
        result = await self._write("PUT", path, _task_payload(task), task.idempotency_key)
        return WriteResult(
            external_id=result.external_id or external_id, created=False, url=result.url
        )

    async def complete_task(self, external_id: str, idempotency_key: str) -> WriteResult:
        path = self.options.task_complete_path.format(task_id=external_id)
        status, body = await self._request("POST", path, idempotency_key=idempotency_key)
        if not isinstance(body, dict) or "id" not in body:
            raise CRMUnavailableError(f"CRM answered POST {path} without an id")
        return WriteResult(external_id=str(body["id"]), created=status == 201)

    async def delete_task(self, external_id: str, idempotency_key: str) -> None:
        path = self.options.task_path.format(task_id=external_id)
        try:
            await self._request("DELETE", path, idempotency_key=idempotency_key)
        except CRMNotFoundError:
            return  # already gone: deleting is idempotent

    # -- the customer directory ------------------------------------------------------------

    async def search_customers(
        self, query: str, *, user_email: str, limit: int = 10
    ) -> list[Customer]:
        if not query.strip():
            return []
        _, body = await self._request(
            "GET",
            self.options.customer_search_path,
            params=[("q", query.strip()), ("limit", str(limit))],
            acting_user=user_email,
        )
        found = body.get("customers") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise CRMUnavailableError("CRM answered a customer search without a list")
        return [_customer(item) for item in found[:limit]]

    async def create_customer(
        self, name: str, emails: Sequence[str], *, user_email: str
    ) -> Customer:
        _, body = await self._request(
            "POST",
            self.options.customer_search_path,
            json={"name": name.strip(), "emails": normalise_emails(emails)},
            # A retried create (a lost answer) must not make the prospect twice.
            idempotency_key=_prospect_key(name, emails, user_email),
            acting_user=user_email,
        )
        return _customer(body)

    async def may_write(self, customer_id: str, *, user_email: str) -> Customer | None:
        path = self.options.customer_access_path.format(customer_id=customer_id)
        try:
            _, body = await self._request("GET", path, acting_user=user_email)
        except CRMNotFoundError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("write"), bool):
            raise CRMUnavailableError("CRM answered an access check without a yes or no")
        return _customer(body.get("customer")) if body["write"] else None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- transport ---------------------------------------------------------------------------

    async def _write(
        self, method: str, path: str, payload: Mapping[str, Any], key: str
    ) -> WriteResult:
        status, body = await self._request(method, path, json=payload, idempotency_key=key)
        if not isinstance(body, dict) or "id" not in body:
            raise CRMUnavailableError(f"CRM answered {method} {path} without an id")
        return WriteResult(external_id=str(body["id"]), created=status == 201, url=body.get("url"))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            token = self.options.auth_token
            if token is not None:
                scheme = f"{self.options.auth_scheme} " if self.options.auth_scheme else ""
                headers[self.options.auth_header] = scheme + token.get_secret_value()
            self._session = aiohttp.ClientSession(
                base_url=self.options.base_url + "/",
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            )
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        idempotency_key: str | None = None,
        acting_user: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if acting_user is not None:
            headers[self.options.acting_user_header] = acting_user
        url = path.lstrip("/")
        last: CRMError = CRMUnavailableError(f"{method} {path} was not attempted")
        for attempt in range(1, self.options.max_attempts + 1):
            retry_after: float | None = None
            try:
                async with self._client().request(
                    method, url, json=json, params=params, headers=headers
                ) as response:
                    if response.status == 204:
                        return response.status, None
                    if response.status < 300:
                        try:
                            return response.status, await response.json(content_type=None)
                        except ValueError:
                            # Retried like an outage: a write that landed is not repeated,
                            # its idempotency key goes with the retry.
                            last = CRMUnavailableError(
                                f"CRM answered {method} {path} with a body that is not JSON"
                            )
                    else:
                        text = (await response.text())[:200]
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                        error = _error_for(response.status, method, path, text, retry_after)
                        if response.status not in _RETRYABLE:
                            raise error
                        last = error
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = CRMUnavailableError(
                    f"CRM {method} {path}: {type(exc).__name__} {exc}".strip()
                )
            if attempt < self.options.max_attempts:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise last

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.options.backoff_max)
        backoff: float = self.options.backoff_initial * 2.0 ** (attempt - 1)
        jitter = 0.5 + random.random() / 2  # noqa: S311 - spreading retries, not security
        return min(self.options.backoff_max, backoff * jitter)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _error_for(
    status: int, method: str, path: str, text: str, retry_after: float | None
) -> CRMError:
    message = f"CRM {method} {path} answered {status}: {text}".strip()
    if status in (401, 403):
        return CRMAuthError(message)
    if status == 404:
        return CRMNotFoundError(message)
    if status == 409:
        return CRMConflictError(message)
    if status == 429:
        return CRMRateLimitedError(message, retry_after)
    if status >= 500:
        return CRMUnavailableError(message)
    return CRMError(message)


def _prospect_key(name: str, emails: Sequence[str], user_email: str) -> str:
    what = "\n".join([user_email.strip().lower(), name.strip().lower(), *normalise_emails(emails)])
    return "smartnotes:prospect:" + hashlib.sha256(what.encode()).hexdigest()[:32]


def _customer(item: Any) -> Customer:
    if not isinstance(item, dict) or not item.get("id"):
        raise CRMUnavailableError("CRM answered with a customer that has no id")
    url = item.get("url")
    return Customer(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        url=url if isinstance(url, str) else None,
    )


def _note_payload(note: NoteWrite) -> dict[str, Any]:
    return {
        "section": SECTION,
        "title": note.title,
        "body": note.body,
        "ai_generated": True,
        "call_url": note.call_url,
        "call_started_at": note.call_started_at.isoformat() if note.call_started_at else None,
        "provenance": note.provenance,
    }


def _task_payload(task: TaskWrite) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "priority": task.priority,
        "owner": task.owner,
        "customer_id": task.customer_id,
        "related_to": task.related_to,
        "call_url": task.call_url,
        "ai_generated": True,
    }
