"""Every error the API answers is JSON ``{"error": {"code", "message", "fields"}}``: ``code`` a short
machine-readable word, ``message`` one line for a person, ``fields`` the fields at fault (``{"targets.0": "..."}``)
or ``{}``. Nothing a client sends gets a 500: unexpected exceptions are logged and answered ``internal`` (500)
as the last resort, and the test suite's schemathesis run checks that none happens."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadworker.errors import ServiceUnavailable, one_line

log = logging.getLogger("leadworker.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer: raise it from a route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.fields = fields or {}
        self.headers = headers


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, fields), status_code=status, headers=headers)


def validation_fields(errors: Any) -> dict[str, str]:
    """``{"field.path": "what is wrong"}`` of pydantic's errors (the ``body``/``query`` prefix kept off)."""
    fields: dict[str, str] = {}
    for item in errors:
        loc = [str(p) for p in item.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:] if len(loc) > 1 else loc
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        fields.setdefault(".".join(loc) or "body", one_line(message, 300))
    return fields


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = validation_fields(exc.errors())
    message = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return error_response(422, "invalid", one_line(message, 1000), fields)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail), None, headers)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return error_response(503, "unavailable", one_line(exc, 500), headers={"Retry-After": "5"})


async def _refused_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the database (or the date arithmetic before it) cannot take is the client's input: a 422."""
    log.info("refused value in %s %s: %s", request.method, request.url.path, one_line(exc, 300))
    return error_response(422, "invalid", f"a value cannot be stored or compared: {one_line(exc, 200)}")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error in %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        one_line(exc, 500),
        exc_info=exc,
    )
    return error_response(500, "internal", "internal error; the server's log says more")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    app.add_exception_handler(asyncpg.DataError, _refused_value)
    app.add_exception_handler(OverflowError, _refused_value)
    app.add_exception_handler(Exception, _unexpected)
