"""Taking jobs in at the door: the body (a ScrapeJob v1 whose ``job_id`` may be left out), the job id an
``Idempotency-Key`` stands for, and the network guard over every target."""

from __future__ import annotations

import asyncio
import email.message
import json
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

from leadworker.api.problems import ApiError
from leadworker.contracts import ScrapeJob, structure_problem
from leadworker.scrape.guard import ForbiddenTarget, NetworkGuard

IDEMPOTENCY_NAMESPACE = uuid.UUID("0b6f3c3e-6c55-4d0c-9a39-6b0b1f2f1a13")
RESOLVE_TIMEOUT = 5.0
"""Seconds the door waits for a target's name to resolve; past that the worker's own guard decides."""
MAX_IDEMPOTENCY_KEY = 200
MAX_BATCH = 1000


class JobSubmission(ScrapeJob):
    """A ScrapeJob v1; ``job_id`` may be left out (the API makes one, or derives it from ``Idempotency-Key``)."""

    job_id: uuid.UUID | None = None  # type: ignore[assignment]


class JobBatch(BaseModel):
    """Up to 1,000 jobs in one request; ``Idempotency-Key`` covers the batch (each job gets its own id)."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSubmission] = Field(min_length=1, max_length=MAX_BATCH)


async def read_submission(request: Request) -> JobSubmission:
    """The body of ``POST /api/v1/jobs`` read as FastAPI reads a ``body: JobSubmission`` parameter (JSON when
    the content type says so; the same :class:`RequestValidationError`, hence the same 422), by the route
    itself: FastAPI's per-request parameter solving cost more than the validation."""
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    body: Any = raw
    if _is_json(request.headers.get("content-type")):
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    try:
        return JobSubmission.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def idempotency_key_of(request: Request) -> str | None:
    """The ``Idempotency-Key`` header; a 422 if it is longer than :data:`MAX_IDEMPOTENCY_KEY`."""
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            422,
            f"Idempotency-Key: must be at most {MAX_IDEMPOTENCY_KEY} characters",
            fields={"Idempotency-Key": f"at most {MAX_IDEMPOTENCY_KEY} characters"},
        )
    return key


def job_id_for(submission: JobSubmission, token: str, idempotency_key: str | None, index: int = 0) -> uuid.UUID:
    """The given ``job_id``; else one derived from the caller's token and ``Idempotency-Key`` (so a repeat names
    the same job); else a new one."""
    if submission.job_id is not None:
        return submission.job_id
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise ApiError(
                422,
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                fields={"Idempotency-Key": "1 to 200 characters"},
            )
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{token}\n{idempotency_key}\n{index}")
    return uuid.uuid4()


def _plainly_storable(submission: JobSubmission) -> bool:
    """True if ``submission`` surely holds nothing PostgreSQL refuses, by one look at its JSON (fast, in
    pydantic's serializer); False sends it to the walk that names the place. A lone surrogate does not encode,
    a NUL shows as ``\\u0000``; nesting and non-finite numbers can only sit in ``attributes``, which the
    contract checks already."""
    try:
        text = submission.model_dump_json()
    except PydanticSerializationError:
        return False
    return "\\u0000" not in text


def to_job(submission: JobSubmission, job_id: uuid.UUID, place: str = "") -> ScrapeJob:
    """The ScrapeJob of ``submission``; a 422 naming the field if it holds what PostgreSQL cannot store (NUL,
    a lone surrogate, a number that is not finite)."""
    problem = None if _plainly_storable(submission) else structure_problem(submission.model_dump(mode="json"))
    if problem is not None:
        field, _, why = problem.partition(": ")
        raise ApiError(422, f"{place}{problem}", fields={f"{place}{field}": why or problem})
    # Every field was validated as the submission (a ScrapeJob but for the optional job_id): not again.
    values = {name: getattr(submission, name) for name in ScrapeJob.model_fields}
    values["job_id"] = job_id
    return ScrapeJob.model_construct(submission.model_fields_set | {"job_id"}, **values)


async def _resolve_check(guard: NetworkGuard, host: str) -> None:
    override = guard.override_for(host)
    if override is not None:
        guard.check_address(host, override)
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except (OSError, TimeoutError, UnicodeError):
        return  # not resolvable now: the worker's guard checks again where it connects
    for info in infos:
        guard.check_address(host, str(info[4][0]))


async def check_targets(guard: NetworkGuard, jobs: list[ScrapeJob], prefix: str = "") -> None:
    """Raise a 422 naming every target (and webhook URL) the network guard refuses."""
    fields: dict[str, str] = {}
    for n, job in enumerate(jobs):
        where = f"{prefix}{n}." if prefix else ""
        urls = [(f"{where}targets.{i}", str(t)) for i, t in enumerate(job.targets)]
        if job.webhook_url:
            urls.append((f"{where}webhook_url", job.webhook_url))
        for field, url in urls:
            try:
                host = guard.check_url(url)
                if not guard.allow_private and urlsplit(url).hostname:
                    await _resolve_check(guard, host)
            except ForbiddenTarget as exc:
                fields[field] = str(exc)
    if fields:
        first = next(iter(fields.items()))
        raise ApiError(422, f"{first[0]}: {first[1]}", code="forbidden_target", fields=fields)
