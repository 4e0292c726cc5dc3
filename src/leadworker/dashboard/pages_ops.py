"""``/dead-letters`` (by queue, with reason, kind and attempts; replay and purge: admin) and ``/workers`` (the
processes registered in the database: stages, in flight, handled, last seen; running, silent or stopped)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from leadworker.api import dead_letter_actions
from leadworker.api.auth import services_of
from leadworker.api.problems import ApiError
from leadworker.broker.dlq import DeadLetter
from leadworker.broker.topology import STAGE_QUEUES
from leadworker.dashboard import csrf
from leadworker.dashboard.rendering import render, secured
from leadworker.dashboard.viewer import ADMIN, READER, Viewer
from leadworker.errors import ServiceUnavailable, one_line
from leadworker.store import workers as registry

router = APIRouter(include_in_schema=False)
SHOWN = 50


async def _dead_letters_page(
    request: Request, viewer: Viewer, notice: str | None = None, status: int = 200
) -> Response:
    services = services_of(request)
    queue = request.query_params.get("queue", "").strip()[:200] or None
    problem = None
    letters = []
    try:
        letters = await dead_letter_actions.list_letters(services, queue, SHOWN)
    except ApiError as exc:
        problem, status = exc.message, exc.status
    except ServiceUnavailable as exc:
        problem, status = one_line(exc, 300), 503
    by_queue: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_queue.setdefault(letter.original_queue or letter.queue, []).append(letter)
    return render(
        request,
        "dead_letters.html",
        {
            "by_queue": sorted(by_queue.items()),
            "queue": queue or "",
            "stages": list(STAGE_QUEUES),
            "problem": problem,
            "notice": notice,
            "shown": SHOWN,
            "csrf_token": viewer.csrf_token,
        },
        status=status,
    )


@router.get("/dead-letters")
async def dead_letters(request: Request, viewer: Viewer = ADMIN) -> Response:
    notice = None
    for action in ("replayed", "purged"):
        count = request.query_params.get(action, "")
        if count.isdigit():  # only a number is taken from the address: a link cannot put words on this page
            notice = f"{action} {int(count)} dead letter{'' if int(count) == 1 else 's'}"
    return await _dead_letters_page(request, viewer, notice)


def _limit(form: csrf.Form) -> int | None:
    text = csrf.first(form, "limit")
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 100_000:
        raise ApiError(422, "limit: a whole number from 1 to 100000", fields={"limit": "1 to 100000"})
    return int(text)


@router.post("/dead-letters/{action}")
async def act(request: Request, action: str, viewer: Viewer = ADMIN) -> Response:
    form = await csrf.checked_form(request, viewer)
    services = services_of(request)
    queue = csrf.first(form, "queue") or None
    try:
        if action == "replay":
            one = csrf.first(form, "message_id")[:200] or None  # a row's own Replay button
            done = {"replayed": await dead_letter_actions.replay(services, queue, _limit(form), one)}
        elif action == "purge":
            if csrf.first(form, "confirm") != "yes":
                raise ApiError(422, "confirm: tick the box to delete these dead letters for good")
            done = {"purged": await dead_letter_actions.purge(services, queue, _limit(form))}
        else:
            raise ApiError(404, f"no dead-letter action {action!r}")
    except ApiError as exc:
        return await _dead_letters_page(request, viewer, exc.message, exc.status)
    except ServiceUnavailable as exc:
        return await _dead_letters_page(request, viewer, one_line(exc, 300), 503)
    target = "/dead-letters?" + urlencode({**({"queue": queue} if queue else {}), **done})
    return secured(RedirectResponse(target, status_code=303))


@router.get("/workers")
async def workers(request: Request, _: Viewer = READER) -> Response:
    include_stopped = request.query_params.get("all") == "1"
    rows = await registry.list_workers(services_of(request).db, include_stopped=include_stopped)
    return render(request, "workers.html", {"workers": rows, "include_stopped": include_stopped})
