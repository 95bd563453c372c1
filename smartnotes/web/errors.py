"""Errors as JSON: ``{"error": {"status", "code", "message", "field"?}}``, for every route."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from smartnotes.auth import AuthError
from smartnotes.runs.review import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnavailableError,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"status": status, "code": code, "message": message, **extra}}
    headers = {"WWW-Authenticate": 'Bearer realm="smartnotes"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def validation_response(exc: ValidationError) -> web.Response:
    fields = [
        {"field": ".".join(str(p) for p in error["loc"]) or "body", "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    return error_response(
        422,
        "invalid",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        fields=fields,
    )


def _unavailable(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, PoolTimeoutError):
        # Every database connection is busy: come back in a moment, as 503 with Retry-After
        # says; a 500 would read as a bug.
        log.warning("%s %s: no database connection free in time", request.method, request.path)
        response = error_response(503, "busy", "the service is busy; try again in a moment")
        response.headers["Retry-After"] = "1"
        return response
    response = error_response(503, "unavailable", str(exc))
    response.headers["Retry-After"] = "5"
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, _code(exc.status), exc.reason)
    except ValidationError as exc:
        return validation_response(exc)
    except json.JSONDecodeError as exc:
        return error_response(400, "bad_json", f"the body is not valid JSON: {exc.msg}")
    except AuthError as exc:
        return error_response(401, "unauthorized", str(exc))
    except NotFoundError as exc:
        return error_response(404, "not_found", str(exc))
    except ForbiddenError as exc:
        return error_response(403, "forbidden", str(exc))
    except ConflictError as exc:
        return error_response(409, "conflict", str(exc), current_version=exc.current_version)
    except (PoolTimeoutError, UnavailableError) as exc:
        return _unavailable(request, exc)
    except InvalidError as exc:
        return error_response(
            422,
            "invalid",
            str(exc),
            field=exc.field,
            fields=[{"field": exc.field, "message": exc.message}],
        )
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal", "something went wrong on our side; it is logged")


def _code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
    }.get(status, "error")
