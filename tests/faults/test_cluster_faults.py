"""A three-node RabbitMQ cluster losing nodes under load: the node leading the work queue killed with -9 and
restarted, another stopped and started gracefully, while two worker processes given every node's URL work
through a load of jobs and more are published through the CLI's publisher (which fails over too)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from invariants import check_end_state
from loadworld import LoadWorld

import support
from leadworker.broker.producer import publish_jobs
from leadworker.broker.topology import Topology
from leadworker.config import Settings, mask_url
from leadworker.contracts import LeadRecord, ScrapeJob
from leadworker.ops.connections import publishing
from leadworker.store.pool import Database
from support import PrivateRabbit, PrivateRabbitCluster, Spawn, jobs_reached


@pytest.fixture
def cluster() -> Iterator[PrivateRabbitCluster]:
    with PrivateRabbitCluster(3) as nodes:
        yield nodes


def cluster_jobs() -> int:
    """Inline jobs of the cluster test: 900 in ``make test``; LEADWORKER_CLUSTER_JOBS=30000 for the full load."""
    return int(os.environ.get("LEADWORKER_CLUSTER_JOBS", "900"))


def inline_load(count: int) -> tuple[list[ScrapeJob], dict[uuid.UUID, set[str]], int]:
    """``count`` inline jobs of 3 leads each, every distinct lead found by about two jobs; with each job's
    expected e-mails and the number of distinct leads."""
    distinct = max(count * 3 // 2, 3)
    pool = [
        LeadRecord(company_name=f"Cluster {i}", emails=[f"owner{i}@cluster{i}.example.org"]) for i in range(distinct)
    ]
    jobs, expected = [], {}
    for n in range(count):
        leads = [pool[(n * 3 + k) % distinct] for k in range(3)]
        job = ScrapeJob(job_id=uuid.uuid4(), source_types=["inline"], leads=leads)
        jobs.append(job)
        expected[job.job_id] = {email for lead in leads for email in lead.emails}
    return jobs, expected, distinct


def one_node(cfg: Settings, node: PrivateRabbit) -> Settings:
    """``cfg`` pointed at one node (the test's own look at queues)."""
    return cfg.model_copy(update={"amqp_url": node.url()})


async def test_cluster_loses_its_busiest_node_under_load(
    fault_settings: Settings,
    db: Database,
    world: LoadWorld,
    cluster: PrivateRabbitCluster,
    spawn: Spawn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = fault_settings.model_copy(update={"amqp_url": cluster.url(), "amqp_heartbeat": 5, "quorum_size": 3})
    queue = Topology.from_settings(cfg).work_queue("scrape")
    inline, expected, distinct = inline_load(cluster_jobs())
    scrapes = world.jobs()
    by_host = {c.host: c.email for c in world.companies}
    expected.update({job.job_id: {by_host[job.targets[0].split("//")[1].split(":")[0]]} for job in scrapes})
    third = len(inline) // 3
    batches = [inline[:third] + scrapes[:50], inline[third : 2 * third] + scrapes[50:], inline[2 * third :]]
    ids = [job.job_id for batch in batches for job in batch]

    async def publish(batch: list[ScrapeJob]) -> None:  # as `leadworker publish` does: any node that answers
        async with publishing(cfg) as (_, topology, publisher):
            await publish_jobs(db, publisher, topology, batch)

    # The site pages answer slowly until the leader is dead: the scrapes at the end of the first batch are
    # still to do when it dies, however fast the machine works through the inline jobs before them.
    monkeypatch.setattr(world, "delay", 1.0)
    await publish(batches[0])
    assert len(cluster.members_of(queue)) == 3, "LEADWORKER_QUORUM_SIZE=3: a replica on every node"
    workers = [await spawn(cfg, "--stage", "scrape", LEADWORKER_PREFETCH="20") for _ in range(2)]
    for worker in workers:
        await support.wait_for(lambda w=worker: bool(w.events("worker ready")), timeout=60, what="workers ready")
    done = len(batches[0]) // 4
    await support.wait_for(lambda: jobs_reached(db, ids, at_least=done), timeout=120, what=f"{done} completed")

    # The node leading the work queue dies (kill -9); more work comes in while it is down.
    leader = cluster.leader_of(queue)
    assert not await jobs_reached(db, ids, at_least=len(batches[0])), "the leader dies with work in the queue"
    await asyncio.to_thread(leader.kill9)
    world.delay = 0.04
    await publish(batches[1])
    survivor = next(node for node in cluster.running())
    await support.wait_for(
        lambda: cluster.leader_of(queue) is not leader, timeout=60, what="a new leader of the work queue"
    )
    done += len(batches[1]) // 3
    await support.wait_for(lambda: jobs_reached(db, ids, at_least=done), timeout=120, what=f"{done} completed")
    assert all(w.returncode is None for w in workers), "no worker exits when a node dies"
    await asyncio.to_thread(lambda: (leader.launch(), leader.await_up()))

    # Another node is stopped gracefully: one a worker is connected to (if any is; not the leader just
    # restarted), so that this fault cuts deliveries too; the rest of the load arrives while it is down, through
    # the nodes still up. (Published first, a fast machine could finish it before the stop: no fault under load.)
    current = {w.events("broker connected")[-1]["node"] for w in workers}
    others = [node for node in cluster.running() if node is not leader]
    other = next((node for node in others if mask_url(node.url()) in current), others[0])
    await asyncio.to_thread(other.stop_node)
    await publish(batches[2])
    await support.wait_for(
        lambda: jobs_reached(db, ids, at_least=len(ids) - len(batches[2]) // 2),
        timeout=180,
        what="most jobs completed",
    )
    await asyncio.to_thread(lambda: (other.launch(), other.await_up()))
    await support.wait_for(lambda: jobs_reached(db, ids), timeout=300, what="every job completed")

    look = one_node(cfg, survivor)
    await support.wait_for(
        lambda: _consumers_are(look, queue, 2), timeout=60, what="both workers consuming the work queue again"
    )
    assert all(w.returncode is None for w in workers), "no worker exits"
    for worker in workers:
        worker.terminate()
    assert [await w.wait(60) for w in workers] == [0, 0]

    end = await check_end_state(look, db, ids, expected_leads=expected)
    assert end.statuses == {"completed": len(ids)}
    assert await db.fetchval("SELECT count(*) FROM raw_leads") == distinct + len(scrapes), "every lead stored once"
    if os.environ.get("LEADWORKER_TEST_VERBOSE"):
        for worker in workers:
            interesting = [
                (line.get("event"), line.get("node") or line.get("error") or line.get("in_flight"))
                for line in worker.logs()
                if line.get("level") in ("warning", "error") or line.get("event") == "broker connected"
            ]
            print(worker.pid, interesting)
        print("takeovers", end.takeovers, "retries", end.retries)
    lost = [w for w in workers if w.events("broker connection lost; reconnecting")]
    assert lost, "a worker was connected to a node that went away and reconnected"
    nodes = {line["node"] for w in workers for line in w.events("broker connected")}
    assert len(nodes) >= 2, f"workers failed over to other nodes: {nodes}"
    for worker in workers:
        assert worker.events("ack lost; the broker will redeliver") == []


async def _consumers_are(cfg: Settings, queue: str, count: int) -> bool:
    try:
        return await support.consumer_count(cfg, queue) == count
    except Exception:
        return False
