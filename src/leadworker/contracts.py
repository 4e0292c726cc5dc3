"""Message contracts, versioned. What producers publish and what stages pass to each other.

A message is JSON. Every message model ignores nothing silently: unknown fields are an error, so a typo in a
producer is caught at the first delivery, with the field named in the dead-letter reason.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadworker.errors import InvalidMessage, PermanentError, one_line

SOURCE_NAMES = ("website", "inline")
_DIRECTORY_SOURCE = re.compile(r"^directory:[A-Za-z0-9_.-]+$")

LeadField = Literal[
    "company_name",
    "website",
    "emails",
    "phones",
    "address",
    "city",
    "region",
    "postal_code",
    "country",
    "contact_name",
    "description",
    "categories",
    "socials",
]
"""The fields of a :class:`LeadRecord` a source reads from a page (a directory recipe's ``fields``)."""
LEAD_FIELDS: tuple[str, ...] = get_args(LeadField)


def check_http_url(value: str) -> str:
    """Accept an absolute http(s) URL with a host; raise ValueError saying what is wrong otherwise."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{value!r} must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    return value


MAX_GLOBS = 50
"""Path globs a job may give in ``include_paths`` and, again, in ``exclude_paths``."""
MAX_GLOB_LENGTH = 200
MAX_GLOB_WILDCARDS = 20
"""``*``, ``?`` and ``[`` in one glob. Each becomes a group in the regular expression ``fnmatch`` compiles,
and compiling grows faster than the pattern: 100 globs of thousands of ``*`` held the event loop for 11 s.
Within these limits the 100 globs a job may give compile in well under 0.1 s."""


def check_glob(value: str) -> str:
    """Accept a URL path glob (``/blog/*``) of bounded size; raise ValueError saying what is wrong otherwise."""
    if not value:
        raise ValueError("a path glob cannot be empty")
    if len(value) > MAX_GLOB_LENGTH:
        raise ValueError(f"a path glob is {len(value)} characters, over the limit of {MAX_GLOB_LENGTH}")
    wildcards = value.count("*") + value.count("?") + value.count("[")
    if wildcards > MAX_GLOB_WILDCARDS:
        raise ValueError(f"a path glob has {wildcards} wildcards (* ? [), over the limit of {MAX_GLOB_WILDCARDS}")
    return value


PathGlob = Annotated[str, AfterValidator(check_glob)]
"""A URL path glob of :mod:`fnmatch` (``*``, ``?``, ``[...]``), bounded in size (see :data:`MAX_GLOB_LENGTH`)."""

_LIST_FIELDS = ("emails", "phones", "categories")
_LIST_SPLIT = re.compile(r"[;,]")

HttpUrlText = Annotated[str, AfterValidator(check_http_url)]
"""An absolute http(s) URL, kept as the text the producer wrote."""


class LeadFields(BaseModel):
    """The facts about a company a lead can carry (shared by lead records and provider answers)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    company_name: str | None = Field(None, max_length=500)
    website: str | None = Field(None, max_length=2000)
    emails: list[str] = Field(default_factory=list, max_length=200)
    phones: list[str] = Field(default_factory=list, max_length=200)
    address: str | None = Field(None, max_length=1000)
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200)
    postal_code: str | None = Field(None, max_length=40)
    country: str | None = Field(None, max_length=100)
    contact_name: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=5000)
    categories: list[str] = Field(default_factory=list, max_length=100)
    socials: dict[str, str] = Field(default_factory=dict)

    @staticmethod
    def split_lists(data: dict[str, Any]) -> dict[str, Any]:
        """``"a@x.de; b@x.de"`` → ``["a@x.de", "b@x.de"]`` for the list fields, as imports write them."""
        for name in _LIST_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                data = {**data, name: [part for part in _LIST_SPLIT.split(value) if part.strip()]}
        return data


class ThirdPartyContact(BaseModel):
    """A contact a source showed for someone else (a web agency's credit, the hosting company, a partner, an
    example in a blog post, a vendor's contact seen on many sites): kept beside the lead, never in it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    value: str = Field(max_length=300)
    kind: Literal["email", "phone"]
    reason: str = Field(max_length=40)
    """``credit``, ``hosting``, ``partner``, ``example`` or ``shared``."""
    context: str | None = Field(None, max_length=300)
    """The words that decided."""
    url: str | None = Field(None, max_length=2000)
    """Where it was found."""


class LeadRecord(LeadFields):
    """One lead as a source found it, before normalization.

    Inline sources (a CRM webhook, a CSV import) send these directly; keys that are not fields here are kept
    in ``attributes`` rather than rejected, because imports carry columns of their own.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_url: str | None = Field(None, max_length=2000)
    evidence: dict[str, str] = Field(default_factory=dict, description="field or value -> URL it was found on")
    attributes: dict[str, Any] = Field(default_factory=dict)
    third_party: list[ThirdPartyContact] = Field(default_factory=list, max_length=200)
    """Contacts the source showed for someone else, with the reason (not part of the record's identity)."""

    @model_validator(mode="before")
    @classmethod
    def _imported_shapes(cls, data: Any) -> Any:
        """Accept what imports send: unknown columns kept in ``attributes``, ``"a@x.de; b@x.de"`` as a list.
        (One validator for both: it runs for every record of every inline job.)"""
        if not isinstance(data, dict):
            return data
        known = _LEAD_FIELD_NAMES
        if any(k not in known for k in data):
            kept = {k: v for k, v in data.items() if k in known}
            attributes = dict(kept.get("attributes") or {})
            attributes.update((k, v) for k, v in data.items() if k not in known)
            kept["attributes"] = attributes
            data = kept
        return cls.split_lists(data)

    @field_validator("attributes")
    @classmethod
    def _storable_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Attributes hold anything an import sends: refuse what could never be stored (NUL, deep nesting...)."""
        problem = structure_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _has_something(self) -> LeadRecord:
        if not (self.company_name or self.website or self.emails or self.phones):
            raise ValueError("a lead needs at least one of company_name, website, emails, phones")
        return self


_LEAD_FIELD_NAMES = frozenset(LeadRecord.model_fields)


class ScrapeJob(BaseModel):
    """A scrape job, version 1: what ``scrape_jobs`` carries."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    version: Literal[1] = 1
    job_id: uuid.UUID
    user_id: str | None = Field(None, max_length=200)
    industry: str | None = Field(None, max_length=200)
    geography: str | None = Field(None, max_length=200)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    source_types: list[str] = Field(default_factory=lambda: ["website"], min_length=1, max_length=10)
    search_query: str | None = Field(None, max_length=500)
    targets: list[HttpUrlText] = Field(default_factory=list, max_length=1000)
    max_pages: int = Field(20, ge=1, le=10_000)
    max_depth: int | None = Field(None, ge=0, le=20)
    include_paths: list[PathGlob] = Field(default_factory=list, max_length=MAX_GLOBS)
    exclude_paths: list[PathGlob] = Field(default_factory=list, max_length=MAX_GLOBS)
    render: Literal["auto", "static", "browser"] = "auto"
    leads: list[LeadRecord] = Field(default_factory=list, max_length=10_000)
    webhook_url: str | None = Field(None, max_length=2000)

    @field_validator("source_types")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in SOURCE_NAMES and not _DIRECTORY_SOURCE.match(name):
                raise ValueError(f"unknown source type {name!r}; expected website, inline or directory:<recipe>")
        return list(dict.fromkeys(value))

    @field_validator("webhook_url")
    @classmethod
    def _http_webhook(cls, value: str | None) -> str | None:
        return check_http_url(value) if value else None

    @model_validator(mode="after")
    def _sources_have_input(self) -> ScrapeJob:
        if "website" in self.source_types and not self.targets:
            raise ValueError("the website source needs at least one target URL in 'targets'")
        if "inline" in self.source_types and not self.leads:
            raise ValueError("the inline source needs at least one record in 'leads'")
        if any(s.startswith("directory:") for s in self.source_types) and not self.search_query:
            raise ValueError("a directory source needs 'search_query'")
        return self

    def criteria(self) -> dict[str, Any]:
        """The job as stored in ``scrape_jobs.criteria`` (JSON-ready)."""
        return self.model_dump(mode="json")


class NormalizeItem(BaseModel):
    """Raw leads of one job to enrich for it: normalized and merged if nobody did yet (a raw lead is normalized
    once, whichever job found it first), then scored for this job."""

    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID
    raw_lead_ids: list[int] = Field(min_length=1, max_length=10_000)


class NormalizeBatch(BaseModel):
    """``leads.normalize``, version 1: the raw leads of one or more jobs (jobs completing together share a
    message: one publish, one delivery, instead of one each)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    items: list[NormalizeItem] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _single_job_shape(cls, data: Any) -> Any:
        """The first shape of this message, one job's ``{job_id, raw_lead_ids}``: still read, so that messages
        published by an older worker during a rolling upgrade are enriched, not dead-lettered."""
        if isinstance(data, dict) and "items" not in data and "job_id" in data:
            rest = {k: v for k, v in data.items() if k not in ("job_id", "raw_lead_ids")}
            return {**rest, "items": [{"job_id": data["job_id"], "raw_lead_ids": data.get("raw_lead_ids")}]}
        return data

    @classmethod
    def of(cls, job_id: uuid.UUID, raw_lead_ids: list[int]) -> NormalizeBatch:
        """The batch of one job."""
        return cls(items=[NormalizeItem(job_id=job_id, raw_lead_ids=raw_lead_ids)])

    @property
    def job_ids(self) -> list[uuid.UUID]:
        return list(dict.fromkeys(item.job_id for item in self.items))


class ScoreBatch(BaseModel):
    """``leads.score``, version 1: canonical leads to score for a job (its keywords, industry and geography).

    A lead merged into another since the message was sent is scored as the lead it was merged into.
    ``rescore``: sent when a learned model was activated or rolled back; the job's enrichment progress is not
    touched and a lead's latest score (``leads.score``) changes only if this job gave it. Written only when true
    (:meth:`body`), so that a worker of the previous version reads every ordinary batch.
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    job_id: uuid.UUID
    lead_ids: list[int] = Field(min_length=1, max_length=10_000)
    rescore: bool = False

    def body(self) -> bytes:
        """The message body (without ``rescore`` unless it is true)."""
        return self.model_dump_json(exclude=None if self.rescore else {"rescore"}).encode()


JobEventName = Literal["job.completed", "job.failed", "job.cancelled", "job.enriched"]


class JobEvent(BaseModel):
    """``jobs.notify``, version 1: a job event to POST to the job's webhook.

    ``event_id`` is the dedupe key: however often the message is delivered, one POST per event id succeeds.
    The webhook URL is not in the message: the notify stage takes the job's ``webhook_url``, else
    ``LEADWORKER_WEBHOOK_URL``.
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=200)
    event: JobEventName
    job_id: uuid.UUID


_Model = TypeVar("_Model", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field and what was wrong with it."""
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(p) for p in item["loc"]) or "message"
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def decode_json_object(body: bytes, max_bytes: int) -> dict[str, Any]:
    """Decode a message body into a JSON object, or raise :class:`InvalidMessage` saying why not.

    Every way a body can fail to decode is an invalid message (permanent: retrying cannot change the bytes),
    including what Python's decoder or PostgreSQL refuses: see :func:`structure_problem`.
    """
    if len(body) > max_bytes:
        raise InvalidMessage(
            f"message body is {len(body)} bytes, over the limit of {max_bytes}", kind="message_too_large"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"message body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"message body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise InvalidMessage(f"message body is nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:  # an integer of more digits than Python converts, NaN, Infinity, 1e999
        raise InvalidMessage(f"message body is not JSON that can be read ({one_line(exc, 200)})") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"message body is JSON {type(data).__name__}, expected an object")
    if body.count(b"[") + body.count(b"{") > MAX_NESTING or has_suspect_text(body):
        problem = structure_problem(data)
        if problem:
            raise InvalidMessage(problem)
    return data


MAX_NESTING = 32
"""Levels of arrays and objects a message may nest (the contracts need 4; imported attributes are flat)."""

_SUSPECT_TEXT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
"""The escapes that text PostgreSQL cannot store needs: NUL, and surrogates (paired ones are fine)."""


def has_suspect_text(body: bytes) -> bool:
    """Whether ``body`` may hold text that :func:`structure_problem` refuses (a cheap scan of the bytes)."""
    return _SUSPECT_TEXT.search(body) is not None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def structure_problem(data: Any) -> str | None:
    """What makes decoded ``data`` impossible to handle, on one line naming the place; None if nothing.

    Nesting deeper than :data:`MAX_NESTING` (it breaks serializers further on), text with NUL or a lone
    surrogate, numbers that are not finite: PostgreSQL stores none of them, so the job could never be recorded.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        problem = None
        if len(path) > MAX_NESTING:
            return f"{_place(path[:3])}...: nested deeper than {MAX_NESTING} levels"
        if isinstance(value, str):
            problem = _text_problem(value)
        elif isinstance(value, float) and not math.isfinite(value):
            problem = f"{value} is not a finite number"
        elif isinstance(value, dict):
            problem = next(filter(None, map(_text_problem, value)), None)
            stack.extend((item, (*path, key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        if problem:
            return f"{_place(path)}: {problem}"
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text contains a NUL character (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text contains a lone surrogate, which is not Unicode"
    return None


def _place(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "message"


def decode_scrape_job(body: bytes, max_bytes: int) -> ScrapeJob:
    """Decode and validate a ``scrape_jobs`` message body."""
    if len(body) <= max_bytes and not has_suspect_text(body):
        try:
            return ScrapeJob.model_validate_json(body)  # the fast path: parsed and validated in pydantic-core
        except ValidationError:
            pass  # redo it step by step below, for an error that says exactly what is wrong
    data = decode_json_object(body, max_bytes)
    try:
        return ScrapeJob.model_validate(data)
    except ValidationError as exc:
        reason = describe_validation_error(exc)
        locations = {item["loc"][0] for item in exc.errors() if item["loc"]}
        if locations == {"source_types"}:
            raise PermanentError(reason, kind="unknown_source") from None
        raise InvalidMessage(reason) from None


def decode_message(body: bytes, model: type[_Model], max_bytes: int) -> _Model:
    """Decode and validate a message body as ``model``, or raise :class:`InvalidMessage` naming each bad field."""
    data = decode_json_object(body, max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidMessage(describe_validation_error(exc)) from None


def job_id_hint(body: bytes, message_id: str | None, max_bytes: int) -> uuid.UUID | None:
    """Best-effort job id of a message that may not validate: the body's ``job_id``, else the message id.

    Bodies over ``max_bytes`` are not parsed (that is the point of the limit).
    """
    candidates: list[Any] = []
    if len(body) <= max_bytes:
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                candidates.append(data.get("job_id"))
        except (ValueError, RecursionError):  # not JSON, or not JSON Python reads: no hint in it
            pass
    candidates.append(message_id)
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return uuid.UUID(candidate)
            except ValueError:
                continue
    return None
