"""Contact verification and geocoding end to end (issue #16), against servers of the test's own on 127.0.0.1: a DNS
server answering from the zone below, an SMTP server (aiosmtpd) and a Nominatim-shaped geocoder."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

import support
from dns_zone import ZoneServer
from leadworker.common.geo import haversine_km
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.enrich.maildns import MailDnsResolver
from leadworker.stages.geocoding import lead_placer
from leadworker.stages.verification import email_verifier
from leadworker.store.email_verdicts import FREE_MAIL_REASON
from leadworker.store.pool import Database

ZONE = """
acme.test.        300 IN MX   10 mx.acme.test.
mx.acme.test.     300 IN A    127.0.0.1
aonly.test.       300 IN A    127.0.0.1
nullmx.test.      300 IN MX   0 .
nomail.test.      300 IN TXT  "v=spf1 -all"
parked.test.      300 IN MX   10 mx.sedoparking.com.
catchall.test.    300 IN MX   10 mx.acme.test.
bulk.test.        300 IN MX   10 mx.acme.test.
gmail.com.        300 IN MX   5 gmail-smtp-in.l.google.com.
"""
SILENT = {"silent.test"}
BERLIN = (52.52437, 13.41053)

STAGES = ("scrape", "normalize", "score")


@pytest_asyncio.fixture
async def zone() -> AsyncIterator[ZoneServer]:
    server = ZoneServer(ZONE, SILENT)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


def checked(settings: Settings, zone: ZoneServer, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"verify_emails": True, "dns_servers": [f"127.0.0.1:{zone.port}"], "dns_timeout": 0.5, **extra}
    )


def inline_job(leads: list[dict[str, Any]]) -> ScrapeJob:
    return ScrapeJob.model_validate({"job_id": uuid.uuid4(), "source_types": ["inline"], "leads": leads})


async def test_mail_dns_outcomes(zone: ZoneServer) -> None:
    resolver = MailDnsResolver([f"127.0.0.1:{zone.port}"], timeout=0.5)
    found = {
        d: await resolver.lookup(d)
        for d in ("acme.test", "aonly.test", "nullmx.test", "nomail.test", "ghost.test", "silent.test")
    }
    assert found["acme.test"].outcome == "mx" and found["acme.test"].mx_hosts == ("mx.acme.test",)
    assert found["acme.test"].ttl == 300
    assert found["aonly.test"].outcome == "address"
    assert found["nullmx.test"].outcome == "null_mx"
    assert found["nomail.test"].outcome == "no_mail"
    assert found["ghost.test"].outcome == "no_domain" and found["ghost.test"].ttl == 600  # the SOA's minimum
    assert found["silent.test"].outcome == "unknown" and "0.5 s" in (found["silent.test"].error or "")
    assert await resolver.addresses("mx.acme.test") == ["127.0.0.1"]


LEADS = [
    {
        "company_name": "Acme",
        "website": "https://acme.test/",
        "city": "Berlin",
        "country": "DE",
        "emails": ["jane.doe@acme.test", "info@acme.test", "acme.berlin@gmail.com"],
        "phones": ["+49 151 23456789"],
    },
    {"company_name": "A Only", "website": "https://aonly.test/", "emails": ["bob@aonly.test"]},
    {"company_name": "Null MX", "website": "https://nullmx.test/", "emails": ["x@nullmx.test"]},
    {"company_name": "No Mail", "website": "https://nomail.test/", "emails": ["y@nomail.test"]},
    {"company_name": "Ghost", "website": "https://ghost.test/", "emails": ["z@ghost.test"]},
    {"company_name": "Throwaway", "emails": ["someone@mailinator.com"]},
    {"company_name": "Silent", "website": "https://silent.test/", "emails": ["q@silent.test"]},
    {"company_name": "Parked", "website": "https://parked.test/", "emails": ["p@parked.test"]},
    {
        "company_name": "Weisswurst Works",
        "website": "https://muenchen-co.test/",
        "city": "München",
        "country": "DE",
        "phones": ["+49 89 12345678"],
    },
]


async def test_pipeline_verifies_places_and_exports(settings: Settings, db: Database, zone: ZoneServer) -> None:
    cfg = checked(settings, zone)
    job = inline_job(LEADS)
    await support.publish(cfg, db, [job])
    worker = await support.run_until_idle(cfg, STAGES, idle=1.0)
    lookups = worker.metrics.registry.get_sample_value
    assert lookups("leadworker_mail_domain_lookups_total", {"outcome": "null_mx"}) == 1
    assert lookups("leadworker_mail_domain_lookups_total", {"outcome": "unknown"}) == 1

    result = support.run_cli(cfg, "leads", "export", "--format", "jsonl", "--job", str(job.job_id))
    assert result.returncode == 0, result.stderr
    rows = {r["company_name"]: r for r in support.json_lines(result.stdout)}
    status = {c["address"]: (c["status"], c["reason"]) for r in rows.values() for c in r["email_checks"]}
    assert status["jane.doe@acme.test"][0] == "safe"
    assert status["info@acme.test"] == ("risky", "a role address, not a person")
    assert status["acme.berlin@gmail.com"] == ("risky", FREE_MAIL_REASON)  # the company has its own domain
    assert status["bob@aonly.test"][0] == "safe" and "no MX" in status["bob@aonly.test"][1]
    assert status["x@nullmx.test"] == ("invalid", "the domain takes no mail (null MX)")
    assert status["y@nomail.test"][0] == "invalid"
    assert status["z@ghost.test"] == ("invalid", "the domain does not exist")
    assert status["someone@mailinator.com"] == ("invalid", "a disposable-mail domain")
    assert status["q@silent.test"][0] == "unknown"
    assert status["p@parked.test"][0] == "risky" and "parking" in status["p@parked.test"][1]

    acme = rows["Acme"]
    assert acme["geo_precision"] == "city" and acme["geo_source"] == "geonames"
    assert haversine_km(acme["latitude"], acme["longitude"], *BERLIN) < 25
    assert acme["phone_checks"][0]["carrier"] and acme["phone_checks"][0]["type"] == "mobile"
    munich = rows["Weisswurst Works"]
    assert haversine_km(munich["latitude"], munich["longitude"], 48.137, 11.575) < 25
    assert munich["phone_checks"][0]["place"] == "Munich"
    # An invalid e-mail counts for nothing in the score.
    assert rows["Null MX"]["components"]["contact_quality"]["detail"].startswith("no valid e-mail")

    near = support.run_cli(cfg, "leads", "export", "--format", "jsonl", "--near", "52.52,13.405", "--radius-km", "25")
    assert near.returncode == 0, near.stderr
    close = support.json_lines(near.stdout)
    assert [r["company_name"] for r in close] == ["Acme"] and close[0]["distance_km"] < 25
    for_job = support.run_cli(
        cfg,
        "leads",
        "export",
        "--format",
        "jsonl",
        "--job",
        str(job.job_id),
        "--near",
        "52.52,13.405",
        "--radius-km",
        "25",
    )
    assert [r["company_name"] for r in support.json_lines(for_job.stdout)] == ["Acme"], for_job.stderr
    csv_out = support.run_cli(cfg, "leads", "export", "--near", "48.137,11.575", "--radius-km", "30")
    assert csv_out.returncode == 0 and "Weisswurst Works" in csv_out.stdout and "Acme" not in csv_out.stdout

    shown = support.run_cli(cfg, "leads", "show", str(acme["lead_id"]))
    assert shown.returncode == 0, shown.stderr
    assert "a role address, not a person" in shown.stdout and "city precision" in shown.stdout
    bad = support.run_cli(cfg, "leads", "export", "--near", "91,0", "--radius-km", "5")
    assert bad.returncode == 2 and "latitude" in bad.stderr


async def test_a_thousand_leads_on_one_domain_cost_one_question(
    settings: Settings, db: Database, zone: ZoneServer
) -> None:
    cfg = checked(settings, zone)
    leads = [{"company_name": f"Bulk {i}", "emails": [f"person{i}@bulk.test"]} for i in range(1000)]
    job = inline_job(leads)
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, STAGES, idle=1.0, timeout=120)
    assert zone.questions[("bulk.test", "MX")] == 1, zone.questions
    counts = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'safe') AS safe, count(*) AS n FROM email_checks "
        "WHERE domain = 'bulk.test'"
    )
    assert counts is not None and counts["safe"] == counts["n"] == 1000


async def test_dns_outage_is_unknown_then_asked_again(settings: Settings, db: Database, zone: ZoneServer) -> None:
    cfg = checked(settings, zone)
    verifier = email_verifier(cfg, db)
    assert verifier is not None
    lead_id = await db.fetchval("INSERT INTO leads (emails, domain) VALUES ('{a@acme.test}', 'acme.test') RETURNING id")
    zone.silent.add("acme.test")
    report = await verifier.verify_leads([lead_id])
    assert report.unknown_domains == 1
    assert await db.fetchval("SELECT status FROM email_checks WHERE address = 'a@acme.test'") == "unknown"
    assert await db.fetchval("SELECT count(*) FROM mail_domains") == 0  # a failure is not cached
    zone.silent.discard("acme.test")
    await verifier.verify_leads([lead_id])
    assert await db.fetchval("SELECT status FROM email_checks WHERE address = 'a@acme.test'") == "safe"
    asked = zone.asked("acme.test")
    await verifier.verify_leads([lead_id])  # now cached with its TTL
    assert zone.asked("acme.test") == asked


class Mailboxes:
    """aiosmtpd handler: acme.test has one mailbox, catchall.test takes anything. ``greeted`` keeps the time of
    every conversation's EHLO."""

    def __init__(self) -> None:
        self.greeted: list[float] = []

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greeted.append(time.monotonic())
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address == "jane.doe@acme.test" or address.endswith("@catchall.test"):
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return "550 5.1.1 no such user"


async def test_smtp_probe_and_catch_all(settings: Settings, db: Database, zone: ZoneServer) -> None:
    port = support.free_port()
    mailboxes = Mailboxes()
    controller = Controller(mailboxes, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = checked(settings, zone, smtp_probe=True, smtp_probe_port=port, smtp_probe_rate=5.0)
        verifier = email_verifier(cfg, db)
        assert verifier is not None
        lead_id = await db.fetchval(
            """INSERT INTO leads (emails, domain) VALUES
               ('{jane.doe@acme.test,nobody@acme.test,sales.team@catchall.test}', 'acme.test') RETURNING id"""
        )
        await verifier.verify_leads([lead_id])
    finally:
        controller.stop()
    rows = {r["address"]: r for r in await db.fetch("SELECT * FROM email_checks")}
    assert rows["jane.doe@acme.test"]["status"] == "safe" and rows["jane.doe@acme.test"]["smtp"] == "accepted"
    assert rows["nobody@acme.test"]["status"] == "invalid" and rows["nobody@acme.test"]["smtp"] == "rejected"
    assert rows["sales.team@catchall.test"]["status"] == "risky"
    assert "catch-all" in rows["sales.team@catchall.test"]["reason"]
    assert await db.fetchval("SELECT catch_all FROM mail_domains WHERE domain = 'catchall.test'") is True
    # Three conversations with the one mail server, paced at 5 a second.
    assert len(mailboxes.greeted) == 3
    assert all(b - a >= 0.19 for a, b in zip(mailboxes.greeted, mailboxes.greeted[1:], strict=False))


class Nominatim:
    """A ``/search`` endpoint shaped like Nominatim's, answering for one street in Berlin."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, dict[str, str]]] = []
        self.failing = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/search", self.search)
        return app

    async def search(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), dict(request.query)))
        if self.failing:
            return web.Response(status=503)
        if "Unter den Linden" not in request.query.get("q", ""):
            return web.json_response([])
        return web.json_response(
            [
                {
                    "lat": "52.5170365",
                    "lon": "13.3888599",
                    "place_rank": 30,
                    "addresstype": "building",
                    "display_name": "Unter den Linden 1, Berlin",
                }
            ]
        )


@pytest_asyncio.fixture
async def nominatim() -> AsyncIterator[tuple[Nominatim, str]]:
    server = Nominatim()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_http_geocoder_refines_caches_and_paces(
    settings: Settings, db: Database, nominatim: tuple[Nominatim, str]
) -> None:
    server, url = nominatim
    cfg = settings.model_copy(update={"geocoder_url": url, "geocoder_rate": 4.0})
    placer = lead_placer(cfg, db)
    try:
        ids = [
            await db.fetchval(
                "INSERT INTO leads (city, country, address) VALUES ('Berlin', 'DE', $1) RETURNING id", address
            )
            for address in ("Unter den Linden 1", "Unter den Linden 1", "Nowhere Street 5")
        ]
        report = await placer.place_leads(ids)
    finally:
        await placer.close()
    assert len(server.requests) == 2 and report.asked == 2  # two distinct places, each asked once
    assert server.requests[1][0] - server.requests[0][0] >= 0.2  # 4 a second at most
    rows = {r["id"]: r for r in await db.fetch("SELECT * FROM leads WHERE id = ANY($1::bigint[])", ids)}
    street = rows[ids[0]]
    assert street["geo_precision"] == "street" and street["geo_source"] == "geocoder:127.0.0.1"
    assert abs(street["latitude"] - 52.5170365) < 1e-6 and rows[ids[1]]["geo_precision"] == "street"
    fallback = rows[ids[2]]  # the geocoder knows nothing: the gazetteer's city stays
    assert fallback["geo_precision"] == "city" and fallback["geo_source"] == "geonames"
    assert await db.fetchval("SELECT count(*) FROM geocodes") == 2
    assert server.requests[0][1]["countrycodes"] == "de"


async def test_unavailable_geocoder_then_background_refinement(
    settings: Settings, db: Database, nominatim: tuple[Nominatim, str]
) -> None:
    server, url = nominatim
    lead_id = await db.fetchval(
        "INSERT INTO leads (city, country, address) VALUES ('Berlin', 'DE', 'Unter den Linden 1') RETURNING id"
    )
    server.failing = True
    placer = lead_placer(settings.model_copy(update={"geocoder_url": url, "geocoder_rate": 20.0}), db)
    try:
        await placer.place_leads([lead_id])
        placed = await db.fetchrow("SELECT geo_precision, geo_source FROM leads WHERE id = $1", lead_id)
        assert placed is not None and tuple(placed) == ("city", "geonames")  # the offline place stays
        assert await placer.refine_pending(10) == 0 and len(server.requests) == 2  # one try each, no storm
        assert await db.fetchval("SELECT count(*) FROM geocodes") == 0  # a failure is not cached
        server.failing = False
        assert await placer.refine_pending(10) == 1
        assert await placer.refine_pending(10) == 0 and len(server.requests) == 3  # answered once, then cached
    finally:
        await placer.close()
    refined = await db.fetchrow("SELECT geo_precision, geo_source FROM leads WHERE id = $1", lead_id)
    assert refined is not None and refined["geo_precision"] == "street"
