"""A load world for fault tests: many small company sites on 127.0.0.1, each its own host name, with known
contacts, so that the end state of hundreds of jobs can be checked exactly."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from aiohttp import web

from leadworker.contracts import ScrapeJob
from leadworker.ops.serving import serve_app


@dataclass(frozen=True)
class Company:
    index: int

    @property
    def host(self) -> str:
        return f"company{self.index:04d}.test"

    @property
    def email(self) -> str:
        return f"sales{self.index}@{self.host}"

    @property
    def phone(self) -> str:
        return f"+44 20 7946 {self.index % 10000:04d}"

    @property
    def e164(self) -> str:
        return f"+44207946{self.index % 10000:04d}"


class LoadWorld:
    """Serves ``count`` company sites (home + contact page), each page after ``delay`` seconds."""

    def __init__(self, count: int, *, delay: float = 0.0, huge_page_bytes: int = 0) -> None:
        self.companies = [Company(i) for i in range(count)]
        self.delay = delay
        self.huge_page_bytes = huge_page_bytes
        self.port = 0
        self.requests = 0
        self._runner: web.AppRunner | None = None

    def url(self, company: Company, path: str = "/") -> str:
        return f"http://{company.host}:{self.port}{path}"

    def resolve(self) -> dict[str, str]:
        return {c.host: "127.0.0.1" for c in self.companies}

    def jobs(self, copies: int = 1, **extra: object) -> list[ScrapeJob]:
        """``copies`` jobs per company (the later ones find duplicates)."""
        return [
            ScrapeJob.model_validate({"job_id": uuid.uuid4(), "targets": [self.url(c)], "max_pages": 3, **extra})
            for _ in range(copies)
            for c in self.companies
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        host = (request.host or "").split(":")[0]
        if not host.startswith("company") or not host.endswith(".test"):
            return web.Response(status=404)
        index = int(host[len("company") : -len(".test")])
        if index >= len(self.companies):
            return web.Response(status=404)
        company = self.companies[index]
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path == "/":
            filler = ""
            if self.huge_page_bytes:  # text that costs CPU to read: phone-like numbers, dates, versions
                unit = "Order 4471 shipped 2024-01-01, ref 0161 496 0{:03d}; v1.2.{} "
                filler = (
                    "<p>"
                    + "".join(unit.format(i % 1000, i % 7) for i in range(self.huge_page_bytes // len(unit)))
                    + "</p>"
                )
            html = (
                f"<html><head><title>Company {company.index} Ltd</title></head><body>"
                f'<a href="/contact">Contact</a>{filler}</body></html>'
            )
        elif request.path == "/contact":
            html = (
                f"<html><body><p>Write to {company.email} or call {company.phone}.</p>"
                '<a href="/">Home</a></body></html>'
            )
        else:
            return web.Response(status=404)
        return web.Response(text=html, content_type="text/html")

    async def start(self) -> int:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve_app(app, shutdown_timeout=1.0)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
