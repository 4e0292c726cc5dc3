"""``/jobs`` (filters by status, user and time; keyset pages; the submit form), ``/jobs/{id}`` (timeline, counts,
enrichment progress, its leads, CSV download; cancel and retry). Everything is done by the API's job actions; a
bad value is shown beside its field, what was typed kept."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from leadworker.api import job_actions, lead_actions
from leadworker.api.auth import services_of
from leadworker.api.problems import ApiError
from leadworker.api.services import ApiServices
from leadworker.dashboard import csrf
from leadworker.dashboard.job_form import DEFAULTS, RENDER_CHOICES, FormProblems, job_from_form, new_form_key
from leadworker.dashboard.job_form import typed_values as typed_job
from leadworker.dashboard.rendering import render, secured
from leadworker.dashboard.viewer import READER, WRITER, Viewer
from leadworker.errors import ServiceUnavailable, one_line
from leadworker.store import jobs as jobstore
from leadworker.store.job_feed import latest_event_id
from leadworker.store.jobs import JobStatus

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
JOB_LEADS_SHOWN = 50


def _when(name: str, text: str, problems: dict[str, str]) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        problems[name] = f"{text!r} is not a date and time (2026-12-03 or 2026-12-03T14:00)"
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _filters(request: Request) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The list's filters as typed, as the store takes them, and what is wrong with them."""
    typed = {k: request.query_params.get(k, "").strip() for k in ("status", "user_id", "since", "until")}
    problems: dict[str, str] = {}
    status = typed["status"] or None
    if status is not None and status not in {s.value for s in JobStatus}:
        problems["status"] = f"{status!r} is not a job status"
        status = None
    if len(typed["user_id"]) > 200 or "\x00" in typed["user_id"]:
        problems["user_id"] = "at most 200 characters, no NUL"
        typed["user_id"] = ""
    parsed = {
        "status": status,
        "user_id": typed["user_id"] or None,
        "since": _when("since", typed["since"], problems),
        "until": _when("until", typed["until"], problems),
    }
    return typed, parsed, problems


async def _jobs_page(
    request: Request, viewer: Viewer, form: dict[str, Any] | None = None, status: int = 200
) -> Response:
    services = services_of(request)
    typed, parsed, problems = _filters(request)
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = await job_actions.jobs_page(services, **parsed, cursor=cursor, limit=PAGE_SIZE)
    except ApiError as exc:
        problems.update(exc.fields or {"cursor": exc.message})
        rows, next_cursor = await job_actions.jobs_page(services, **parsed, cursor=None, limit=PAGE_SIZE)
    form = form or {"typed": {**DEFAULTS}, "problems": {}, "key": new_form_key(), "message": None}
    if problems and status == 200:
        status = 422
    return render(
        request,
        "jobs.html",
        {
            "jobs": rows,
            "filters": typed,
            "filter_problems": problems,
            "next_cursor": next_cursor,
            "request_cursor": cursor,
            "statuses": [s.value for s in JobStatus],
            "form": form,
            "render_choices": RENDER_CHOICES,
            "last_event_id": await latest_event_id(services.db),
            "can_write": viewer.can("write"),
            "csrf_token": viewer.csrf_token,
        },
        status=status,
    )


@router.get("/jobs")
async def jobs(request: Request, viewer: Viewer = READER) -> Response:
    return await _jobs_page(request, viewer)


@router.post("/jobs")
async def submit(request: Request, viewer: Viewer = WRITER) -> Response:
    form = await csrf.checked_form(request, viewer)
    values = typed_job(form)
    key = csrf.first(form, "idempotency_key")[:100]
    services = services_of(request)
    try:
        job = await job_from_form(services, values, viewer.token_name, key)
        await job_actions.submit_or_503(services, [job])
    except FormProblems as exc:
        state = {"typed": values, "problems": exc.fields, "key": key or new_form_key(), "message": None}
        return await _jobs_page(request, viewer, state, status=422)
    except ServiceUnavailable as exc:
        state = {"typed": values, "problems": {}, "key": key, "message": one_line(exc, 300)}
        return await _jobs_page(request, viewer, state, status=503)
    return secured(RedirectResponse(f"/jobs/{job.job_id}", status_code=303))


async def _job_leads(request: Request, job_id: uuid.UUID) -> dict[str, Any]:
    rows, more = await lead_actions.leads_page(
        services_of(request),
        segment=None,
        min_score=None,
        country=None,
        job_id=job_id,
        q=None,
        cursor=None,
        limit=JOB_LEADS_SHOWN,
    )
    return {"leads": rows, "more": more is not None, "job_id": str(job_id)}


def _problem_page(request: Request, exc: ApiError | ServiceUnavailable) -> Response:
    status, message = (exc.status, exc.message) if isinstance(exc, ApiError) else (503, one_line(exc, 300))
    return render(request, "problem.html", {"status": status, "message": message}, status=status)


def _job_id(text: str) -> uuid.UUID:
    """The job id of a path; an :class:`ApiError` (404, shown as a page) if it is not one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(404, f"{text[:100]!r} is not a job id") from None


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str, viewer: Viewer = READER) -> Response:
    try:
        ident = _job_id(job_id)
        job = await job_actions.job_with_events(services_of(request), ident)
    except ApiError as exc:
        return _problem_page(request, exc)
    events = job["events"]
    return render(
        request,
        "job.html",
        {
            "job": job,
            "last_event_id": events[-1]["id"] if events else 0,
            "can_write": viewer.can("write"),
            "csrf_token": viewer.csrf_token,
            **await _job_leads(request, ident),
        },
    )


@router.get("/jobs/{job_id}/row")
async def job_row(request: Request, job_id: str, viewer: Viewer = READER) -> Response:
    """One job's row of the jobs list: the list's script adds it when a new job's first event arrives."""
    try:
        row = await jobstore.get_job(services_of(request).db, _job_id(job_id))
    except ApiError as exc:
        return _problem_page(request, exc)
    if row is None:
        return _problem_page(request, ApiError(404, f"no job {job_id}"))
    context = {"j": row, "can_write": viewer.can("write"), "csrf_token": viewer.csrf_token}
    return render(request, "_job_row.html", context)


@router.get("/jobs/{job_id}/leads-part")
async def job_leads_part(request: Request, job_id: str, _: Viewer = READER) -> Response:
    """The job page's leads section alone: the page's script swaps it in when the job's leads change."""
    try:
        return render(request, "_job_leads.html", await _job_leads(request, _job_id(job_id)))
    except ApiError as exc:
        return _problem_page(request, exc)


@router.get("/jobs/{job_id}/leads.csv")
async def job_leads_csv(request: Request, job_id: str, _: Viewer = READER) -> Response:
    try:
        return secured(await job_actions.leads_download(services_of(request), _job_id(job_id), "csv"))
    except ApiError as exc:
        return _problem_page(request, exc)


@router.post("/jobs/{job_id}/cancel")
async def cancel(request: Request, job_id: str, viewer: Viewer = WRITER) -> Response:
    return await _act_on_job(request, viewer, job_id, job_actions.cancel)


@router.post("/jobs/{job_id}/retry")
async def retry(request: Request, job_id: str, viewer: Viewer = WRITER) -> Response:
    return await _act_on_job(request, viewer, job_id, job_actions.retry)


async def _act_on_job(
    request: Request,
    viewer: Viewer,
    job_id: str,
    action: Callable[[ApiServices, uuid.UUID], Awaitable[dict[str, Any]]],
) -> Response:
    """A job button's POST: the CSRF token checked, the API's action done, back to the job's page (or the
    action's error as a page)."""
    await csrf.checked_form(request, viewer)
    try:
        job = await action(services_of(request), _job_id(job_id))
    except (ApiError, ServiceUnavailable) as exc:
        return _problem_page(request, exc)
    return secured(RedirectResponse(f"/jobs/{job['job_id']}", status_code=303))
