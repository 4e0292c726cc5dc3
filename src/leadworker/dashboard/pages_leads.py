"""``/leads`` (search and filters: segment, score, country, job; keyset pages) and ``/leads/{id}`` (every value
with where it was found, its sources, the score and its components), read by the API's lead actions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadworker.api import lead_actions
from leadworker.api.auth import services_of
from leadworker.api.problems import ApiError
from leadworker.dashboard.rendering import render
from leadworker.dashboard.viewer import READER, Viewer

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SEGMENTS = ("hot", "warm", "cold")


def _filters(request: Request) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The filters as typed, as the store takes them, and what is wrong with them (by field)."""
    names = ("segment", "min_score", "country", "job_id", "q")
    typed = {k: request.query_params.get(k, "").strip()[:200] for k in names}
    problems: dict[str, str] = {}
    parsed: dict[str, Any] = {"segment": None, "min_score": None, "country": None, "job_id": None, "q": None}
    if typed["segment"]:
        if typed["segment"] in SEGMENTS:
            parsed["segment"] = typed["segment"]
        else:
            problems["segment"] = "hot, warm or cold"
    if typed["min_score"]:
        if typed["min_score"].isdigit() and int(typed["min_score"]) <= 100:
            parsed["min_score"] = int(typed["min_score"])
        else:
            problems["min_score"] = "a whole number from 0 to 100"
    if typed["country"]:
        if len(typed["country"]) == 2 and typed["country"].isascii() and typed["country"].isalpha():
            parsed["country"] = typed["country"]
        else:
            problems["country"] = "a two-letter country code (US, DE...)"
    if typed["job_id"]:
        try:
            parsed["job_id"] = uuid.UUID(typed["job_id"])
        except ValueError:
            problems["job_id"] = "a job id (a UUID)"
    if typed["q"]:
        parsed["q"] = typed["q"]
    return typed, parsed, problems


@router.get("/leads")
async def leads(request: Request, _: Viewer = READER) -> Response:
    typed, parsed, problems = _filters(request)
    services = services_of(request)
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = await lead_actions.leads_page(services, **parsed, cursor=cursor, limit=PAGE_SIZE)
    except ApiError as exc:
        problems.update(exc.fields or {"cursor": exc.message})
        rows, next_cursor = [], None
    status = 422 if problems else 200
    return render(
        request,
        "leads.html",
        {
            "leads": rows,
            "filters": typed,
            "problems": problems,
            "next_cursor": next_cursor,
            "request_cursor": cursor,
            "segments": SEGMENTS,
        },
        status=status,
    )


def _values_by_field(values: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for value in values:
        grouped.setdefault(str(value["field"]), []).append(value)
    return sorted(grouped.items())


@router.get("/leads/{lead_id}")
async def lead_page(request: Request, lead_id: str, _: Viewer = READER) -> Response:
    try:
        ident = int(lead_id)
        if not 1 <= ident < 2**63:
            raise ValueError(lead_id)
        detail = await lead_actions.lead_or_404(services_of(request), ident)
    except ValueError:
        return render(request, "problem.html", {"status": 404, "message": f"{lead_id!r} is not a lead id"}, 404)
    except ApiError as exc:
        return render(request, "problem.html", {"status": exc.status, "message": exc.message}, exc.status)
    return render(request, "lead.html", {"d": detail, "values_by_field": _values_by_field(detail["values"])})
