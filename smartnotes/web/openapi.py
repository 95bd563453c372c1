"""The OpenAPI 3.1 document of the review API, served at ``/api/openapi.json``.

Request bodies come from the same pydantic models that validate them, so the document cannot
drift from what the API accepts; a test checks that every route is described and every
described operation is routed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from smartnotes import __version__
from smartnotes.web.review_schemas import AcceptAllIn, AskIn, CustomerChoiceIn, ProspectIn
from smartnotes.web.schemas import (
    BODIES,
    Body,
    FeedbackIn,
    Retrigger,
    SaveIn,
    SummaryEdit,
    TaskDecision,
    TaskEdit,
    UploadIn,
)

REF = "#/components/schemas/{model}"
REVIEW_BODIES: tuple[type[Body], ...] = (AcceptAllIn, CustomerChoiceIn, ProspectIn, AskIn)

_STEP = {
    "type": "object",
    "properties": {
        "step": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "done", "failed"]},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "error": {"type": ["string", "null"]},
    },
}
_TASK = {
    "type": "object",
    "required": ["id", "status", "version", "title"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["proposed", "accepted", "rejected", "written"]},
        "version": {"type": "integer"},
        "title": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "due_date": {"type": ["string", "null"], "format": "date"},
        "priority": {"type": ["string", "null"], "enum": ["high", "medium", "low", None]},
        "owner": {"type": ["string", "null"]},
        "evidence": {
            "type": "array",
            "description": "The words from the call that justify the task, with their time",
            "items": {"type": "object"},
        },
        "edited": {"type": "boolean"},
        "crm_task_id": {"type": ["string", "null"]},
        "crm_url": {"type": ["string", "null"], "description": "The saved task in the CRM"},
        "side": {
            "type": "string",
            "enum": ["rep", "customer"],
            "description": "Whose commitment: the rep's team or the customer",
        },
        "decision": {"type": "string", "enum": ["suggested", "accepted", "edited", "rejected"]},
        "group": {
            "type": "string",
            "enum": ["mine", "customer", "check"],
            "description": "The rep's tasks, waiting on the customer, or recall findings to check",
        },
        "will_save": {"type": "boolean", "description": "Whether Save writes it to the CRM"},
        "due_changed": {
            "type": "boolean",
            "description": "The rep set a date other than the one the words said",
        },
    },
}
_RUN_ITEM = {
    "type": "object",
    "required": ["id", "status", "version"],
    "properties": {
        "id": {"type": "string"},
        "source": {"type": "string", "enum": ["teams_meeting", "calling_tool", "upload"]},
        "status": {
            "type": "string",
            "enum": [
                "queued",
                "running",
                "needs_review",
                "saving",
                "saved",
                "failed",
                "cancelled",
            ],
        },
        "step": {"type": ["string", "null"]},
        "role": {"type": "string", "enum": ["owner", "attendee"]},
        "version": {"type": "integer"},
        "customer_name": {"type": ["string", "null"]},
        "confidential": {"type": "boolean"},
    },
}
_RUN = {
    "allOf": [
        {"$ref": REF.format(model="RunItem")},
        {
            "type": "object",
            "properties": {
                "ai_generated": {"const": True},
                "summary": {
                    "type": "object",
                    "properties": {
                        "text": {"type": ["string", "null"]},
                        "generated": {"type": ["string", "null"]},
                        "edited": {"type": "boolean"},
                        "streaming": {"type": "boolean"},
                    },
                },
                "extractor": {"type": "object"},
                "tasks": {"type": "array", "items": {"$ref": REF.format(model="Task")}},
                "steps": {"type": "array", "items": {"$ref": REF.format(model="Step")}},
                "error": {"type": ["object", "null"]},
                "feedback": {"type": "object"},
                "customer_id": {"type": ["string", "null"]},
                "needs_customer": {
                    "type": "boolean",
                    "description": "No customer yet: choose or create one before saving",
                },
                "save_plan": {
                    "type": "object",
                    "description": "What Save writes (before), or what was written (after)",
                    "properties": {
                        "note": {"type": "boolean"},
                        "tasks": {"type": "integer"},
                        "written": {"type": "integer"},
                        "label": {"type": "string"},
                    },
                },
            },
        },
    ]
}
_CITATION = {
    "type": "object",
    "properties": {
        "number": {"type": "integer", "description": "The [n] the answer's text cites it by"},
        "run_id": {"type": "string"},
        "call_at": {"type": "string", "format": "date-time"},
        "call_url": {"type": ["string", "null"]},
        "customer_id": {"type": ["string", "null"]},
        "customer_name": {"type": ["string", "null"]},
        "kind": {"enum": ["note", "task", "transcript"]},
        "task_id": {"type": ["string", "null"]},
        "speaker": {"type": ["string", "null"]},
        "at_seconds": {"type": ["number", "null"]},
        "quote": {"type": "string", "description": "The cited words, exactly as stored"},
        "own": {"type": "boolean"},
    },
}
_ANSWER = {
    "type": "object",
    "required": ["question", "answer", "found", "citations", "answered_by", "searched"],
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "found": {
            "type": "boolean",
            "description": "Whether a source backs the answer; false: the answer is I don't know",
        },
        "citations": {"type": "array", "items": _CITATION},
        "answered_by": {
            "type": "object",
            "properties": {
                "engine": {"enum": ["claude", "local", "none"]},
                "model": {"type": ["string", "null"]},
                "reason": {
                    "type": ["string", "null"],
                    "description": "Why the local model answered, or why no model was asked",
                },
                "label": {"type": "string"},
            },
        },
        "searched": {"type": "array", "items": {"type": "string"}},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "The offending field, for 422"},
                "current_version": {"type": ["integer", "null"], "description": "For 409"},
            },
        }
    },
}

# (method, path, operation id, summary, request body, success status, response schema)
OPERATIONS: tuple[tuple[str, str, str, str, type[Body] | None, int, str], ...] = (
    ("get", "/api/runs", "listRuns", "The caller's runs (owned or attended)", None, 200, "RunList"),
    ("post", "/api/runs", "uploadRun", "Upload a call's transcript", UploadIn, 202, "Submitted"),
    ("get", "/api/runs/{run_id}", "getRun", "One run", None, 200, "Run"),
    ("patch", "/api/runs/{run_id}/summary", "editSummary", "Edit the summary", SummaryEdit,
     200, "Run"),
    ("patch", "/api/runs/{run_id}/tasks/{task_id}", "editTask", "Edit a task", TaskEdit,
     200, "Run"),
    ("post", "/api/runs/{run_id}/tasks/{task_id}/accept", "acceptTask", "Accept a task",
     TaskDecision, 200, "Run"),
    ("post", "/api/runs/{run_id}/tasks/{task_id}/reject", "rejectTask", "Reject a task",
     TaskDecision, 200, "Run"),
    ("post", "/api/runs/{run_id}/retrigger-tasks", "retriggerTasks",
     "Extract the tasks again, keeping the summary and its edits", Retrigger, 202, "Run"),
    ("post", "/api/runs/{run_id}/feedback", "giveFeedback",
     "Like or dislike the summary or a task", FeedbackIn, 201, "Run"),
    ("post", "/api/runs/{run_id}/save", "saveRun",
     "Write the reviewed note and accepted tasks to the CRM", SaveIn, 202, "Run"),
    ("post", "/api/runs/{run_id}/later", "informLater", "Close now, be told when it is done",
     None, 200, "Run"),
    ("post", "/api/runs/{run_id}/stop", "stopRun",
     "Don't process this call: stop it and delete its transcript", None, 200, "Run"),
    ("post", "/api/runs/{run_id}/retry", "retryRun", "Retry a failed run", None, 202, "Run"),
    ("get", "/api/runs/{run_id}/events", "runEvents", "The run's server-sent events", None,
     200, "EventStream"),
    ("post", "/api/runs/{run_id}/tasks/accept-all", "acceptAllTasks",
     "Accept every suggested task of the rep's own (not findings to check, not the "
     "customer's commitments)", AcceptAllIn, 200, "Run"),
    ("get", "/api/runs/{run_id}/transcript", "getTranscript",
     "The call's transcript, line by line, while it is kept", None, 200, "Transcript"),
    ("put", "/api/runs/{run_id}/customer", "chooseCustomer",
     "Make a CRM customer the call's customer (the CRM must let the rep write to it)",
     CustomerChoiceIn, 200, "Run"),
    ("get", "/api/customers", "searchCustomers",
     "Customers the CRM lets the rep write to, for a run's customer picker", None, 200,
     "CustomerList"),
    ("post", "/api/customers", "createProspect",
     "Create the call's customer as a new prospect in the CRM and choose it for the run",
     ProspectIn, 201, "CreatedCustomer"),
    ("get", "/api/search", "searchCalls",
     "Notes, tasks and transcript lines of the caller's calls (own, or attended and not "
     "confidential) that match the question, best first", None, 200, "SearchHits"),
    ("post", "/api/ask", "askCalls",
     "A question answered from the caller's calls, every statement with its sources; "
     "\"I don't know\" when none backs an answer", AskIn, 200, "Answer"),
    ("get", "/api/notifications", "listNotifications", "The caller's notifications", None,
     200, "NotificationList"),
    ("post", "/api/notifications/{notification_id}/read", "markNotificationRead",
     "Mark a notification read", None, 200, "Read"),
)  # fmt: skip


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": _ERROR,
        "Step": _STEP,
        "Task": _TASK,
        "RunItem": _RUN_ITEM,
        "Run": _RUN,
        "RunList": {
            "type": "object",
            "properties": {
                "runs": {"type": "array", "items": {"$ref": REF.format(model="RunItem")}}
            },
        },
        "Submitted": {
            "type": "object",
            "properties": {
                "run_id": {"type": ["string", "null"]},
                "created": {"type": "boolean"},
                "skipped": {"type": ["string", "null"]},
            },
        },
        "NotificationList": {
            "type": "object",
            "properties": {"notifications": {"type": "array", "items": {"type": "object"}}},
        },
        "Read": {"type": "object", "properties": {"read": {"type": "boolean"}}},
        "SearchHits": {
            "type": "object",
            "properties": {
                "hits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "run_id": {"type": "string"},
                            "call_at": {"type": "string", "format": "date-time"},
                            "call_url": {"type": ["string", "null"]},
                            "customer_id": {"type": ["string", "null"]},
                            "customer_name": {"type": ["string", "null"]},
                            "kind": {"enum": ["note", "task", "transcript"]},
                            "task_id": {"type": ["string", "null"]},
                            "speaker": {"type": ["string", "null"]},
                            "at_seconds": {"type": ["number", "null"]},
                            "text": {"type": "string"},
                            "own": {"type": "boolean"},
                        },
                    },
                }
            },
        },
        "Answer": _ANSWER,
        "EventStream": {"type": "string", "description": "text/event-stream"},
        "Transcript": {
            "type": "object",
            "properties": {
                "segments": {"type": "array", "items": {"type": "object"}},
                "kept": {"type": "boolean"},
                "reason": {"type": ["string", "null"]},
            },
        },
        "Customer": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "url": {"type": ["string", "null"]},
            },
        },
        "CustomerList": {
            "type": "object",
            "properties": {
                "customers": {"type": "array", "items": {"$ref": REF.format(model="Customer")}},
                "can_create": {"type": "boolean"},
            },
        },
        "CreatedCustomer": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "run": {"$ref": REF.format(model="Run")},
            },
        },
    }
    for model in REVIEW_BODIES:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for model in BODIES:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    paths: dict[str, dict[str, Any]] = {}
    for method, path, operation_id, summary, request, status, response in OPERATIONS:
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_parameters(path)
            ]
            + _QUERY.get(operation_id, []),
            "responses": {
                str(status): _response(response),
                **{str(code): _error(text) for code, text in _ERRORS.items()},
            },
        }
        if request is not None:
            operation["requestBody"] = {
                "required": False,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=request.__name__)}}
                },
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Smart Notes review API",
            "version": __version__,
            "description": (
                "Runs, their AI-generated summary and tasks, and the rep's review. "
                "Authenticate with 'Authorization: Bearer <token>'. Another user's run is "
                "404, exactly like a missing one."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_QUERY: dict[str, list[dict[str, Any]]] = {
    "searchCalls": [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "Words to look for (any of them; common words are ignored)",
            "schema": {"type": "string", "maxLength": 500},
        },
        {
            "name": "customer",
            "in": "query",
            "required": False,
            "description": "Only calls with this CRM customer",
            "schema": {"type": "string"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
        },
    ],
    "searchCustomers": [
        {"name": "run_id", "in": "query", "required": True, "schema": {"type": "string"}},
        {
            "name": "q",
            "in": "query",
            "required": False,
            "description": "Part of the name or a contact's e-mail; empty finds nothing",
            "schema": {"type": "string", "maxLength": 200},
        },
    ],
}

_ERRORS = {
    400: "Malformed request (not JSON, bad query parameter)",
    401: "Missing or invalid credentials",
    403: "Only the run's owner may do this, or the CRM does not let the rep write to the customer",
    404: "No such run, or not one the caller may see",
    409: "The run or task changed since it was loaded (stale version), or the action does "
    "not fit the run's state",
    422: "Invalid body; the error names the field",
    503: "The CRM did not answer; try again (Retry-After)",
}


def _response(schema: str) -> dict[str, Any]:
    media = "text/event-stream" if schema == "EventStream" else "application/json"
    return {
        "description": "Success",
        "content": {media: {"schema": {"$ref": REF.format(model=schema)}}},
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
