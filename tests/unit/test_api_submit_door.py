"""``POST /api/v1/jobs`` reads its token, ``Idempotency-Key`` and body itself (not as FastAPI parameters): the
same order (401 before 422), the same 422 answers, the same OpenAPI operation, and the request metrics still
by route and status. The database and the broker are stubbed; tests/integration/test_api.py runs the real
ones."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leadworker.api import job_actions
from leadworker.api.app import create_app
from leadworker.api.services import ApiServices
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob

TOKEN = {"Authorization": "Bearer lw_good"}
BODY = {"source_types": ["inline"], "leads": [{"company_name": "Acme", "emails": ["a@acme.example.org"]}]}


def _row(job: ScrapeJob) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    row: dict[str, Any] = dict.fromkeys(
        ("worker", "error", "error_kind", "started_at", "heartbeat_at", "completed_at", "enriched_at"), None
    )
    row.update(dict.fromkeys(("enrich_error", "enrich_error_kind"), None))
    counts = ("attempts", "pages", "pages_degraded", "found", "new", "duplicates", "normalized", "scored")
    row.update(dict.fromkeys((*counts, "invalid_phones", "invalid_emails"), 0))
    row.update(id=job.job_id, user_id=job.user_id, status="queued", criteria=job.criteria(), fanout_deferred=False)
    return {**row, "created_at": now, "updated_at": now}


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    submitted: list[ScrapeJob] = []

    async def submit(_: ApiServices, jobs: list[ScrapeJob]) -> dict[uuid.UUID, Any]:
        submitted.extend(jobs)
        return {j.job_id: _row(j) for j in jobs}

    async def authenticate(_: object, token: str) -> tuple[str, str] | None:
        return ("ci", "write") if token == "lw_good" else None

    monkeypatch.setattr(job_actions, "submit_or_503", submit)
    monkeypatch.setattr(ApiServices, "db", property(lambda _: None))
    app = create_app(Settings(database_url="postgresql://127.0.0.1/none", amqp_url="amqp://127.0.0.1/"))
    monkeypatch.setattr(app.state.services.tokens, "authenticate", authenticate)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as c:
        c.submitted = submitted  # type: ignore[attr-defined]
        yield c


async def test_submit_answers_202_with_the_job_and_its_location(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/v1/jobs", headers=TOKEN, json=BODY)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/api/v1/jobs/{job['job_id']}"
    assert answer.headers["content-type"] == "application/json"
    assert job["status"] == "queued" and job["criteria"]["leads"][0]["company_name"] == "Acme"
    keyed = {**TOKEN, "Idempotency-Key": "k-1"}
    first, again = [(await client.post("/api/v1/jobs", headers=keyed, json=BODY)).json() for _ in range(2)]
    assert first["job_id"] == again["job_id"] != job["job_id"]


async def test_the_token_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer lw_bad"}, {"Authorization": "Basic x"}):
        answer = await client.post("/api/v1/jobs", headers=headers, content=b"{not json")
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", answer.text
    assert client.submitted == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    [
        (b"", "application/json", "body"),
        (b"{not json", "application/json", "1"),
        (b"[]", "application/json", "body"),
        (b'{"targets": []}', "application/json", "body"),
        (b'{"source_types": ["inline"], "leads": [], "max_pages": 0}', "application/json", "max_pages"),
        (b'{"source_types": ["inline"]}', "text/plain", "body"),
        (b'{"source_types": ["inline"]}', "application/merge-patch+json", "body"),
    ],
)
async def test_a_bad_body_is_a_422_naming_the_field(
    client: httpx.AsyncClient, content: bytes, content_type: str, field: str
) -> None:
    answer = await client.post("/api/v1/jobs", headers={**TOKEN, "Content-Type": content_type}, content=content)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error


async def test_an_idempotency_key_over_200_characters_is_a_422(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/v1/jobs", headers={**TOKEN, "Idempotency-Key": "k" * 201}, json=BODY)
    assert answer.status_code == 422 and "Idempotency-Key" in answer.json()["error"]["fields"], answer.text


async def test_metrics_count_the_submit_route_by_status(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await client.post("/api/v1/jobs", headers=TOKEN, json=BODY)
    await client.post("/api/v1/jobs", json=BODY)
    await client.post("/api/v1/jobs", headers=TOKEN, json={})
    metrics = (await client.get("/metrics")).text
    for status, count in (("202", 2), ("401", 1), ("422", 1)):
        line = f'leadworker_api_requests_total{{method="POST",route="/api/v1/jobs",status="{status}"}} {count}.0'
        assert line in metrics, metrics
    assert 'leadworker_api_request_seconds_count{method="POST",route="/api/v1/jobs",status="202"} 2.0' in metrics


async def test_the_openapi_operation_documents_what_the_route_reads(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/jobs"]["post"]
    assert operation["security"] == [{"HTTPBearer": []}] and "HTTPBearer" in spec["components"]["securitySchemes"]
    (parameter,) = operation["parameters"]
    assert parameter["name"] == "Idempotency-Key" and parameter["in"] == "header"
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert reference == "#/components/schemas/JobSubmission"
    assert "source_types" in spec["components"]["schemas"]["JobSubmission"]["properties"]
    assert set(operation["responses"]) >= {"202", "401", "403", "422", "503"}
