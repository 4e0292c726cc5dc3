"""The end-state checks every fault test makes: nothing lost, nothing twice, nothing stranded."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import support
from leadworker.broker.topology import Topology
from leadworker.config import Settings
from leadworker.store.pool import Database


@dataclass
class EndState:
    statuses: dict[str, int]
    completions: dict[uuid.UUID, int]
    takeovers: int
    retries: int


async def check_end_state(
    settings: Settings,
    db: Database,
    job_ids: Sequence[uuid.UUID],
    *,
    expected_leads: dict[uuid.UUID, set[str]] | None = None,
    expected_dead: set[str] | None = None,
    allow_failed: bool = False,
) -> EndState:
    """Assert that every job is terminal with exactly one terminal transition, that each job is linked to
    exactly its expected leads (by e-mail) and each distinct lead is stored once, and that no queue holds a
    message (but the expected dead letters). Returns what happened, for further assertions."""
    ids = list(job_ids)
    rows = await db.fetch("SELECT id, status FROM scrape_jobs WHERE id = ANY($1::uuid[])", ids)
    assert len(rows) == len(ids), f"{len(ids) - len(rows)} jobs have no row"
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    terminal_ok = {"completed", "failed"} if allow_failed else {"completed"}
    assert set(statuses) <= terminal_ok, f"jobs not all terminal: {statuses}"

    events = await db.fetch(
        """SELECT job_id,
                  count(*) FILTER (WHERE to_status IN ('completed', 'failed', 'cancelled')) AS terminal,
                  count(*) FILTER (WHERE from_status = 'running' AND to_status = 'running') AS takeovers,
                  count(*) FILTER (WHERE to_status = 'retrying') AS retries
             FROM job_events WHERE job_id = ANY($1::uuid[]) GROUP BY job_id""",
        ids,
    )
    completions = {e["job_id"]: e["terminal"] for e in events}
    twice = {k: v for k, v in completions.items() if v != 1}
    assert not twice, f"jobs without exactly one terminal transition: {list(twice.items())[:5]}"

    duplicates = await db.fetchval(
        "SELECT count(*) FROM (SELECT record->'emails' FROM raw_leads GROUP BY 1 HAVING count(*) > 1) d"
    )
    assert duplicates == 0, f"{duplicates} leads stored more than once"
    if expected_leads is not None:
        links = await db.fetch(
            """SELECT l.job_id, r.record->'emails' AS emails FROM scrape_job_leads l
                 JOIN raw_leads r ON r.id = l.raw_lead_id WHERE l.job_id = ANY($1::uuid[])""",
            ids,
        )
        found: dict[uuid.UUID, set[str]] = {i: set() for i in ids}
        for link in links:
            found[link["job_id"]].update(link["emails"])
        wrong = {i: (found[i], expected_leads[i]) for i in ids if found[i] != expected_leads[i]}
        assert not wrong, f"{len(wrong)} jobs linked to the wrong leads, e.g. {list(wrong.items())[:3]}"

    topology = Topology.from_settings(settings)
    leftovers = {}
    for name, _ in topology.declarations():
        depth = await support.queue_depth(settings, name)
        if (
            name.endswith(".dead")
            and expected_dead is not None
            and name == topology.dead_queue(topology.work_queue("scrape"))
        ):
            continue
        if depth:
            leftovers[name] = depth
    assert not leftovers, f"messages stranded in queues: {leftovers}"
    if expected_dead is not None:
        dead = await support.queue_messages(settings, topology.dead_queue(topology.work_queue("scrape")))
        assert {m.message_id for m in dead} == expected_dead, [m.message_id for m in dead]
    return EndState(
        statuses=statuses,
        completions=completions,
        takeovers=sum(e["takeovers"] for e in events),
        retries=sum(e["retries"] for e in events),
    )
