"""The baseline of ``bench api_submit``: a plain FastAPI endpoint doing what ``POST /api/v1/jobs`` does at its
core — insert the job row, publish the message with a publisher confirm, answer 202 — and nothing else (no
tokens, no guard, no idempotency). Run: ``uvicorn plain_submit_api:app`` with BENCH_DATABASE_URL, BENCH_AMQP_URL
and BENCH_QUEUE set."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import asyncpg
from fastapi import FastAPI

state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    state["pool"] = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=1, max_size=10)
    state["connection"] = await aio_pika.connect(os.environ["BENCH_AMQP_URL"])
    state["channel"] = await state["connection"].channel(publisher_confirms=True)
    yield
    await state["connection"].close()
    await state["pool"].close()


app = FastAPI(lifespan=lifespan)


@app.post("/jobs", status_code=202)
async def submit(body: dict[str, Any]) -> dict[str, Any]:
    job_id = uuid.uuid4()
    await state["pool"].execute("INSERT INTO raw_jobs (id, status) VALUES ($1, 'queued')", job_id)
    message = aio_pika.Message(
        json.dumps({**body, "job_id": str(job_id)}).encode(),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(job_id),
    )
    await state["channel"].default_exchange.publish(message, routing_key=os.environ["BENCH_QUEUE"])
    return {"job_id": str(job_id), "status": "queued"}
