"""The submit form, read as a ScrapeJob v1 the way ``POST /api/v1/jobs`` reads its body (the same model, the same
checks at the door, the network guard included). Its fields are named as the ScrapeJob's: ``targets`` (one URL a
line), ``source_types`` and ``keywords`` (comma-separated), ``search_query``, ``geography``, ``industry``,
``max_pages``, ``render``, ``user_id``. A bad value comes back as ``{field: message}`` for the form to show beside
what was typed; ``targets.2`` of the API is ``targets`` here, with the line named in the message."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import ValidationError

from leadworker.api.problems import ApiError, validation_fields
from leadworker.api.services import ApiServices
from leadworker.api.submission import JobSubmission, check_targets, job_id_for, to_job
from leadworker.contracts import ScrapeJob
from leadworker.dashboard.csrf import Form, first

FIELDS = ("targets", "source_types", "search_query", "geography", "industry", "keywords", "max_pages", "render")
TEXT_FIELDS = ("search_query", "geography", "industry", "user_id")
RENDER_CHOICES = ("auto", "static", "browser")
DEFAULTS = {**dict.fromkeys((*FIELDS, "user_id"), ""), "source_types": "website", "max_pages": "20", "render": "auto"}
_QUOTED_FIELD = re.compile(r"'([a-z_]+)'")


class FormProblems(Exception):
    """The form's bad fields: ``{field: one line}``."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def typed_values(form: Form) -> dict[str, str]:
    """What was typed, to show again: each field's text (``targets`` with its lines)."""
    values = {name: first(form, name) for name in (*FIELDS, "user_id")}
    values["targets"] = "\n".join(line.strip() for line in form.get("targets", [""])[0].splitlines())
    return values


def _split(text: str, pattern: str) -> list[str]:
    return [part.strip() for part in re.split(pattern, text) if part.strip()]


def _body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targets": _split(values["targets"], r"[\r\n]+"),
        "source_types": _split(values["source_types"] or "website", r"[,\s]+"),
        "keywords": _split(values["keywords"], r","),
        "render": values["render"] or "auto",
    }
    for name in TEXT_FIELDS:
        if values.get(name):
            body[name] = values[name]
    if values["max_pages"]:
        body["max_pages"] = values["max_pages"]
    return body


def _form_field(api_field: str, message: str) -> tuple[str, str]:
    """The form field an API field path stands for, and the message with the list item named."""
    head, _, rest = api_field.partition(".")
    if head in ("targets", "keywords", "source_types") and rest.split(".")[0].isdigit():
        item = int(rest.split(".")[0]) + 1
        return head, f"{'line' if head == 'targets' else 'item'} {item}: {message}"
    if head in (*FIELDS, "user_id"):
        return head, message
    quoted = [name for name in _QUOTED_FIELD.findall(message) if name in FIELDS]
    return (quoted[0] if quoted else "source_types"), message


def _problems(fields: dict[str, str]) -> FormProblems:
    found: dict[str, str] = {}
    for api_field, message in fields.items():
        field, text = _form_field(api_field, message)
        found.setdefault(field, text)
    return FormProblems(found)


async def job_from_form(services: ApiServices, values: dict[str, str], token_name: str, key: str) -> ScrapeJob:
    """The ScrapeJob the form describes, checked as the API checks a body (its targets through the network
    guard); :class:`FormProblems` naming each bad field otherwise. ``key`` (the form's own idempotency key) and
    the token name give the job its id, so a form sent twice makes one job."""
    try:
        submission = JobSubmission.model_validate(_body(values))
    except ValidationError as exc:
        raise _problems(validation_fields(exc.errors())) from None
    try:
        job = to_job(submission, job_id_for(submission, token_name, key or None))
        await check_targets(services.guard, [job])
    except ApiError as exc:
        raise _problems(exc.fields or {"": exc.message}) from None
    return job


def new_form_key() -> str:
    return uuid.uuid4().hex
