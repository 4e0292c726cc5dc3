"""Learned scoring end to end on the real services: outcomes recorded (CLI, CSV), a model trained on them beats
the rule score on the held-out newest outcomes, is stored, activated (every lead re-scored through the score
queue, explained per feature in exports and ``leads show``), rolled back (the rule scores come back exactly);
scoring with a model imports no scikit-learn; a worse retrain is refused; outcomes follow merges."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aio_pika

import learning_world as world
import support
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.contracts import LeadRecord, ScoreBatch, ScrapeJob
from leadworker.store.pool import Database

N_COMPANIES = 400


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(support.run_cli, settings, *args)


async def build_world(settings: Settings, db: Database, n: int = N_COMPANIES) -> tuple[ScrapeJob, dict[str, int]]:
    """``n`` companies through the real pipeline (inline job → normalize → score); their lead ids by domain."""
    job = world.inline_job(world.companies(n), industry="solar")
    await support.publish(settings, db, [job])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=1.0, timeout=240)
    rows = await db.fetch("SELECT id, domain FROM leads WHERE merged_into IS NULL AND score IS NOT NULL")
    ids = {r["domain"]: r["id"] for r in rows}
    assert len(ids) == n, len(ids)
    return job, ids


def write_outcomes_csv(path: Path, drawn: list[tuple[world.Company, str, Any]], ids: dict[str, int]) -> None:
    """The outcomes as a CRM exports them: some rows name the lead by id, some by domain, some by e-mail."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Lead_ID", "domain", "email", "outcome", "at", "note", "owner"])
        for n, (company, outcome, at) in enumerate(drawn):
            record = company.record()
            if n % 3 == 1:
                out.writerow(["", f"https://www.{company.domain}/", "", outcome, at.isoformat(), "", "kim"])
            elif n % 3 == 2 and record.emails:
                out.writerow(["", "", record.emails[0].upper(), outcome, at.isoformat(), "via mail", "kim"])
            else:
                out.writerow([ids[company.domain], "", "", outcome.upper(), at.isoformat(), "", "kim"])


async def export_rows(settings: Settings) -> dict[int, dict[str, Any]]:
    result = await cli(settings, "leads", "export", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return {row["lead_id"]: row for row in map(json.loads, result.stdout.splitlines())}


async def job_progress(db: Database, job: ScrapeJob) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT found, normalized, scored, enriched_at, updated_at FROM scrape_jobs WHERE id = $1", job.job_id
    )
    events = await db.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", job.job_id)
    assert row is not None
    return {**dict(row), "events": events}


async def test_train_activate_explain_export_and_roll_back(settings: Settings, db: Database, tmp_path: Path) -> None:
    job, ids = await build_world(settings, db)
    drawn = world.outcomes(world.companies(N_COMPANIES))
    path = tmp_path / "crm.csv"
    write_outcomes_csv(path, drawn, ids)
    imported = await cli(settings, "leads", "outcomes", "--file", str(path))
    assert imported.returncode == 0, imported.stderr
    assert f"recorded {N_COMPANIES} outcome(s)" in imported.stdout
    assert await db.fetchval("SELECT count(*) FROM lead_outcomes WHERE source = 'csv:crm.csv'") == N_COMPANIES

    trained = await cli(settings, "model", "train", "--json")
    assert trained.returncode == 0, trained.stderr
    report = json.loads(trained.stdout)
    model, rule = report["metrics"], report["rule_score"]
    assert model["auc"] > rule["auc"] and model["auc"] >= 0.75, (model, rule)
    assert report["counts"]["test"] == N_COMPANIES // 4 and report["counts"]["train"] == N_COMPANIES * 3 // 4
    assert report["window"]["train_to"] <= report["window"]["test_from"]  # held out: the newest outcomes
    assert {"average_precision", "brier", "calibration"} <= set(model) and rule["calibration"]
    assert sum(b["count"] for b in model["calibration"]) == report["counts"]["test"]
    stored = await db.fetchrow("SELECT body, metrics, status FROM score_models WHERE id = $1", report["id"])
    assert stored is not None and stored["status"] == "trained" and stored["metrics"]["metrics"] == model
    assert len(stored["body"]["features"]) == len(stored["body"]["coefficients"]) > 10

    before = await export_rows(settings)
    progress = await job_progress(db, job)
    assert all("baseline" not in row["components"] for row in before.values())

    activated = await cli(settings, "model", "activate", str(report["id"]))
    assert activated.returncode == 0, activated.stderr
    assert f"model {report['id']} is active; re-scoring {N_COMPANIES} lead score(s)" in activated.stdout
    await support.run_until_idle(settings, ("score",), idle=1.0)
    after = await export_rows(settings)
    assert await job_progress(db, job) == progress  # re-scoring leaves the job's enrichment progress alone

    changed = [i for i in after if after[i]["score"] != before[i]["score"]]
    assert len(changed) > N_COMPANIES // 2
    mobile = next(c for c in world.companies(N_COMPANIES) if c.phone == "mobile" and c.email == "free")
    row = after[ids[mobile.domain]]
    parts = row["components"]
    assert parts["baseline"]["model"] == report["id"]
    assert parts["phone:mobile"]["detail"] == "mobile phone" and parts["phone:mobile"]["points"] > 0
    assert min(parts.get(k, {"points": 0})["points"] for k in ("email:free", "free-mail only")) < 0
    total = sum(p["points"] for p in parts.values())
    assert abs(total - row["score"]) <= 1 + 0.05 * len(parts), (total, row["score"])
    assert "mobile phone" in row["explanation"] and "\u2212" in row["explanation"]
    hot = settings.learn_hot_probability * 100
    assert all((r["segment"] == "hot") == (r["score"] >= hot) for r in after.values() if r["score"] != round(hot))

    shown = await cli(settings, "leads", "show", str(ids[mobile.domain]))
    assert shown.returncode == 0 and "explained: " in shown.stdout and "mobile phone" in shown.stdout
    assert "outcome: " in shown.stdout and "csv:crm.csv" in shown.stdout
    listed = await cli(settings, "model", "list")
    assert listed.returncode == 0 and f"* {report['id']}" in listed.stdout
    show = await cli(settings, "model", "show", str(report["id"]))
    assert show.returncode == 0 and "(active)" in show.stdout and "mobile phone" in show.stdout
    unused = sum(1 for c in stored["body"]["coefficients"] if c == 0)
    assert unused and f"({unused} other features weigh 0" in show.stdout  # listed once, not row by row

    rolled = await cli(settings, "model", "rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert f"rolled back model {report['id']}; the rule score is active again" in rolled.stdout
    await support.run_until_idle(settings, ("score",), idle=1.0)
    restored = await export_rows(settings)
    for lead_id, row in before.items():
        assert (restored[lead_id]["score"], restored[lead_id]["segment"], restored[lead_id]["components"]) == (
            row["score"],
            row["segment"],
            row["components"],
        )
    again = await cli(settings, "model", "rollback")
    assert again.returncode == 1 and "nothing to roll back" in again.stderr


async def test_scoring_with_a_model_imports_no_scikit_learn(settings: Settings, db: Database) -> None:
    """A fresh interpreter runs the score stage (the worker's ``run --stage score``) with a model active."""
    from leadworker.learning.retrain import train_and_store
    from leadworker.stages.rescore import request_rescore
    from leadworker.store.outcomes import NewOutcome, record_outcomes
    from leadworker.store.score_models import activate

    _, ids = await build_world(settings, db, 160)
    drawn = world.outcomes(world.companies(160))
    await record_outcomes(db, [NewOutcome(ids[c.domain], o, at) for c, o, at in drawn], source="test")
    report = await train_and_store(db, settings.model_copy(update={"learn_min_outcomes": 10}))
    await activate(db, report["id"], "test")
    topology = await support.declare(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        await request_rescore(db, publisher.publish_many, topology, "test")
    finally:
        await connection.close()
    script = (
        "import sys\n"
        "from leadworker.cli import main\n"
        "try:\n"
        "    main(['run', '--stage', 'score', '--exit-when-idle', '1'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print('EXIT', code, 'SKLEARN', any(m.split('.')[0] == 'sklearn' for m in sys.modules))\n"
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        env=support.cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "EXIT 0 SKLEARN False" in result.stdout, (result.stdout, result.stderr[-2000:])
    learned = await db.fetchval(
        "SELECT count(*) FROM leads WHERE merged_into IS NULL AND score_components->'baseline'->>'model' = $1",
        str(report["id"]),
    )
    assert learned == 160


async def test_a_worse_retrain_is_refused(settings: Settings, db: Database) -> None:
    """A CRM batch that mislabels the older outcomes: the candidate learns the wrong rule, its held-out AUC falls
    below the active model's on the same newest outcomes, and it is stored as refused while the model stays."""
    from leadworker.learning.retrain import retrain_if_due, train_and_store
    from leadworker.store.outcomes import NewOutcome, record_outcomes
    from leadworker.store.score_models import activate, active_model_id

    cfg = settings.model_copy(update={"learn_retrain_outcomes": 50})
    _, ids = await build_world(cfg, db)
    drawn = world.outcomes(world.companies(N_COMPANIES))
    await record_outcomes(db, [NewOutcome(ids[c.domain], o, at) for c, o, at in drawn], source="test")
    assert await retrain_if_due(db, cfg) is None  # no model active: the first one is a person's choice
    first = await train_and_store(db, cfg)
    await activate(db, first["id"], "test")
    assert await retrain_if_due(db, cfg) is None  # no new outcomes since

    oldest = sorted(drawn, key=lambda d: d[2])[: N_COMPANIES // 2]
    flipped = {"won": "lost", "lost": "won"}
    await record_outcomes(
        db,
        [NewOutcome(ids[c.domain], flipped[o], at + world.dt.timedelta(seconds=1)) for c, o, at in oldest],
        source="bad-import",
    )
    result = await retrain_if_due(db, cfg)
    assert result is not None and not result.activated, result
    assert result.auc < result.active_auc and result.replaced == first["id"]
    assert await active_model_id(db) == first["id"]
    row = await db.fetchrow("SELECT status, trigger, metrics FROM score_models WHERE id = $1", result.model_id)
    assert row is not None and (row["status"], row["trigger"]) == ("refused", "maintenance")
    assert row["metrics"]["compared_with"] == {"model": first["id"], "auc": result.active_auc}
    assert await retrain_if_due(db, cfg) is None  # the refused model counts: wait for new outcomes again

    # Outcomes that set the record straight (the true ones again, later): a worker's maintenance stage retrains,
    # activates the new model (its AUC is not worse) and its score stage re-scores every lead with it.
    await record_outcomes(
        db,
        [NewOutcome(ids[c.domain], o, at + world.dt.timedelta(seconds=2)) for c, o, at in oldest],
        source="fixed-import",
    )

    async def rescored_by_a_new_model() -> bool:
        active = await active_model_id(db)
        if active in (None, first["id"]):
            return False
        done = await db.fetchval(
            """SELECT count(*) FROM leads WHERE merged_into IS NULL
                  AND score_components->'baseline'->>'model' = $1""",
            str(active),
        )
        return bool(done == N_COMPANIES)

    async with support.running_worker(cfg.model_copy(update={"maintenance_interval": 0.5}), ("maintenance", "score")):
        await support.wait_for(rescored_by_a_new_model, timeout=120, interval=0.5, what="a retrain, activated")
    row = await db.fetchrow(
        "SELECT status, trigger, metrics FROM score_models WHERE id = $1", await active_model_id(db)
    )
    assert row is not None and (row["status"], row["trigger"]) == ("retrained", "maintenance")
    assert row["metrics"]["metrics"]["auc"] >= row["metrics"]["compared_with"]["auc"]


async def test_outcomes_follow_merges_and_the_latest_wins(settings: Settings, db: Database) -> None:
    from leadworker.store.outcomes import decided_outcomes

    first = ScrapeJob.model_validate(
        {
            "job_id": world.uuid.uuid4(),
            "source_types": ["inline"],
            "leads": [
                LeadRecord(company_name="Nordwind Solar", emails=["vertrieb@nordwind.test"]),
                LeadRecord(company_name="Nordwind Solar GmbH", phones=["+49 30 23450777"]),
            ],
        }
    )
    await support.publish(settings, db, [first])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
    by_mail = await db.fetchval("SELECT id FROM leads WHERE 'vertrieb@nordwind.test' = ANY(emails)")
    by_phone = await db.fetchval("SELECT id FROM leads WHERE '+493023450777' = ANY(phones)")
    assert by_mail != by_phone
    won = await cli(settings, "leads", "outcome", str(by_mail), "won", "--at", "2026-02-01T10:00:00Z")
    lost = await cli(settings, "leads", "outcome", str(by_phone), "lost", "--at", "2026-02-03T10:00:00+01:00")
    assert won.returncode == 0 and lost.returncode == 0, (won.stderr, lost.stderr)
    assert f"recorded won for lead {by_mail}" in won.stdout

    bridge = ScrapeJob.model_validate(
        {
            "job_id": world.uuid.uuid4(),
            "source_types": ["inline"],
            "leads": [
                LeadRecord(
                    company_name="Nordwind Solar GmbH",
                    website="nordwind.test",
                    emails=["vertrieb@nordwind.test"],
                    phones=["+49 30 23450777"],
                )
            ],
        }
    )
    await support.publish(settings, db, [bridge])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
    survivor = await db.fetchval("SELECT id FROM leads WHERE merged_into IS NULL")
    gone = by_phone if survivor == by_mail else by_mail
    assert await db.fetchval("SELECT merged_into FROM leads WHERE id = $1", gone) == survivor
    assert await db.fetchval("SELECT count(*) FROM lead_outcomes WHERE lead_id = $1", survivor) == 2

    latest = await decided_outcomes(db)
    assert [(r["lead_id"], r["outcome"]) for r in latest] == [(survivor, "lost")]  # the later one wins
    # An outcome given for the merged-away id lands on the survivor; an older one does not win.
    contacted = await cli(settings, "leads", "outcome", str(gone), "contacted", "--at", "2026-02-05")
    assert f"for lead {survivor} (lead {gone} was merged into {survivor})" in contacted.stdout
    older = await cli(settings, "leads", "outcome", str(gone), "won", "--at", "2026-01-01", "--note", "old news")
    assert older.returncode == 0
    assert await decided_outcomes(db) == []  # contacted is the latest: not decided, not learnt from
    shown = json.loads((await cli(settings, "leads", "show", str(survivor), "--json")).stdout)
    assert [o["outcome"] for o in shown["outcomes"]] == ["contacted", "lost", "won", "won"]


async def test_outcome_commands_reject_bad_input_and_keep_good_rows(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    found = world.companies(4)
    job = world.inline_job(found)
    await support.publish(settings, db, [job])
    await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
    ids = {r["domain"]: r["id"] for r in await db.fetch("SELECT id, domain FROM leads")}
    a, b, c, d = (ids[x.domain] for x in found)
    email = next(x for x in found if x.email != "none").record().emails[0]
    path = tmp_path / "crm export.csv"
    path.write_text(
        "\ufeffoutcome,lead_id,domain,email,at,note\n"
        f"won,{a},,,2026-03-01T10:00:00Z,first\n"  # 2
        f"Lost,,{found[1].domain.upper()},,2026-03-02,\n"  # 3: by domain
        f"won,,,{email.upper()},2026-03-03T08:00:00,\n"  # 4: by e-mail
        f"maybe,{c},,,2026-03-01,\n"  # 5: bad outcome
        f"won,{c},,,yesterday,\n"  # 6: bad time
        "won,,nobody.test,,2026-03-01,\n"  # 7: unknown domain
        "won,,,,2026-03-01,\n"  # 8: no key
        "won,abc,,,2026-03-01,\n"  # 9: bad id
        "won,999999,,,2026-03-01,\n",  # 10: unknown lead
        encoding="utf-8",
    )
    result = await cli(settings, "leads", "outcomes", "--file", str(path))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("leadworker: ")]
    assert [e.split(f"{path}:")[1].split(":")[0] for e in errors] == ["5", "6", "7", "8", "9", "10"], errors
    assert "'maybe' is not one of won, lost, contacted, bad_data" in errors[0]
    assert "'yesterday' is not a time" in errors[1] and "no lead with domain 'nobody.test'" in errors[2]
    assert "no lead_id or domain or email given" in errors[3] and "'abc' is not a lead id" in errors[4]
    assert "no lead 999999" in errors[5]
    assert "recorded 3 outcome(s)" in result.stderr and "6 row(s) rejected" in result.stderr
    assert await db.fetchval("SELECT count(*) FROM lead_outcomes") == 3
    assert await db.fetchval("SELECT outcome FROM lead_outcomes WHERE lead_id = $1", b) == "lost"
    again = await cli(settings, "leads", "outcomes", "--file", str(path), "--json")
    assert again.returncode == 2 and json.loads(again.stdout)["already_recorded"] == 3
    assert await db.fetchval("SELECT count(*) FROM lead_outcomes") == 3  # nothing twice

    bad_header = tmp_path / "no-key.csv"
    bad_header.write_text("outcome,company\nwon,Acme\n", encoding="utf-8")
    cases = [
        (["leads", "outcomes", "--file", str(bad_header)], "needs an outcome column and one of lead_id"),
        (["leads", "outcomes", "--file", str(tmp_path / "missing.csv")], "cannot read --file"),
        (["leads", "outcome", str(d), "maybe"], "is not one of won, lost"),
        (["leads", "outcome", "x1", "won"], "not a lead id"),
        (["leads", "outcome", str(d), "won", "--at", "soon"], "is not a time"),
        (["model", "show", "abc"], "not a model id"),
        (["model", "activate", "0"], "not a model id"),
    ]
    for args, expected in cases:
        bad = await cli(settings, *args)
        lines = [line for line in bad.stderr.splitlines() if line.strip()]
        assert bad.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, bad.stderr)
    unknown = await cli(settings, "leads", "outcome", "999999", "won")
    assert unknown.returncode == 1 and "no lead 999999" in unknown.stderr
    assert (await cli(settings, "model", "activate", "42")).returncode == 1
    too_few = await cli(settings, "model", "train")
    lines = [line for line in too_few.stderr.splitlines() if line.strip()]
    assert too_few.returncode == 1 and len(lines) == 1 and "not enough outcomes to train: " in lines[0], lines


async def test_rescoring_keeps_each_leads_latest_job(settings: Settings, db: Database) -> None:
    """A lead two jobs scored: activating a model re-scores both of its scores, and its latest score stays the
    latest job's (a re-score batch of the older job does not take it over)."""
    from leadworker.store.score_models import save_model

    acme = LeadRecord(company_name="Acme Solar", website="acme-solar.test", phones=["+49 151 23459876"])
    older = ScrapeJob(job_id=world.uuid.uuid4(), source_types=["inline"], leads=[acme], industry="bakery")
    newer = ScrapeJob(job_id=world.uuid.uuid4(), source_types=["inline"], leads=[acme], industry="solar")
    for job in (older, newer):
        await support.publish(settings, db, [job])
        await support.run_until_idle(settings, ("scrape", "normalize", "score"), idle=0.6)
    lead = await db.fetchrow("SELECT id, score_job_id FROM leads WHERE merged_into IS NULL")
    assert lead is not None and lead["score_job_id"] == newer.job_id
    progress = [await job_progress(db, job) for job in (older, newer)]
    body = {  # models are data: one written by hand scores as well as a trained one
        "format": 1,
        "features": ["phone:mobile", "rule:industry"],
        "coefficients": [0.5, 1.5],
        "intercept": -0.2,
        "means": [0.5, 0.5],
        "scales": [0.5, 0.5],
        "vocabulary": {},
    }
    model_id = await save_model(db, body, {"note": "written by hand"}, status="trained", trigger="cli")
    activated = await cli(settings, "model", "activate", str(model_id))
    assert activated.returncode == 0 and "re-scoring 2 lead score(s)" in activated.stdout, activated.stdout
    await support.run_until_idle(settings, ("score",), idle=1.0)
    scores = {
        r["job_id"]: r
        for r in await db.fetch("SELECT job_id, score, components FROM lead_scores WHERE lead_id = $1", lead["id"])
    }
    assert all(s["components"]["baseline"]["model"] == model_id for s in scores.values())
    assert scores[newer.job_id]["score"] > scores[older.job_id]["score"]  # an industry match for the newer job
    now = await db.fetchrow("SELECT score, score_job_id FROM leads WHERE id = $1", lead["id"])
    assert now is not None and (now["score"], now["score_job_id"]) == (scores[newer.job_id]["score"], newer.job_id)
    assert [await job_progress(db, job) for job in (older, newer)] == progress
    # Whatever order the batches come in: a re-score for the older job, last, leaves the lead's latest alone.
    late = ScoreBatch(job_id=older.job_id, lead_ids=[lead["id"]], rescore=True)
    await support.publish_raw(settings, Topology.from_settings(settings).work_queue("score"), late.body())
    await support.run_until_idle(settings, ("score",), idle=1.0)
    again = await db.fetchrow("SELECT score, score_job_id FROM leads WHERE id = $1", lead["id"])
    assert again is not None and again["score_job_id"] == newer.job_id and again["score"] == now["score"]
    listed = await cli(settings, "model", "list")
    assert listed.returncode == 0 and f"* {model_id}" in listed.stdout, listed.stderr
