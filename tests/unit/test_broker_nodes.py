"""Several broker URLs: the order each process tries them in, failover, and the quorum-size mismatch."""

from __future__ import annotations

import random
import socket

import pytest

from leadworker.broker.nodes import BrokerNodes, NoNodeReachable
from leadworker.broker.topology import QUORUM_SIZE_ARG, Topology, existing_quorum_size
from leadworker.config import Settings, mask_url

URLS = [f"amqp://u:secret{n}@mq{n}:5672/" for n in range(1, 4)]


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_every_process_has_its_own_order_and_fails_over_to_the_next() -> None:
    orders = {tuple(BrokerNodes(URLS, rng=random.Random(seed)).order()) for seed in range(40)}
    assert len(orders) > 1 and all(sorted(order) == sorted(URLS) for order in orders), "shuffled, none lost"
    nodes = BrokerNodes(URLS, shuffle=False)
    assert nodes.order() == URLS
    nodes.current = URLS[1]
    nodes.lost()
    assert nodes.order() == [URLS[2], URLS[0], URLS[1]], "after losing mq2, start with mq3"
    nodes.current = URLS[2]
    nodes.lost()
    assert nodes.order()[0] == URLS[0]


def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connecting is refused


async def test_no_node_answering_names_every_node_masked() -> None:
    urls = [f"amqp://u:hunter2@127.0.0.1:{_refusing_port()}/" for _ in range(2)]
    with pytest.raises(NoNodeReachable) as caught:
        await BrokerNodes(urls).connect(timeout=2, mask=mask_url)
    text = str(caught.value)
    assert "hunter2" not in text and all(mask_url(url) in text for url in urls)


def test_amqp_url_takes_a_comma_separated_list() -> None:
    cfg = make(amqp_url=" , ".join(URLS))
    assert cfg.amqp_urls == URLS
    shown = cfg.public_view()["amqp_url"]
    assert all(f"secret{n}" not in shown for n in range(1, 4)) and shown.count("amqp://u:***@") == 3
    for bad, message in (("", "at least one"), (f"{URLS[0]},http://x", "amqp://"), (f"{URLS[0]},{URLS[0]}", "twice")):
        with pytest.raises(ValueError, match=message):
            make(amqp_url=bad)


def test_direct_url_defaults_to_the_database_url() -> None:
    assert make(database_url="postgresql://pool/db").session_database_url == "postgresql://pool/db"
    cfg = make(database_url="postgresql://pool/db", database_direct_url="postgresql://u:pw@db/db")
    assert cfg.session_database_url == "postgresql://u:pw@db/db" and "pw" not in str(cfg.public_view())
    assert not cfg.transaction_pooled and make(db_pool_mode="transaction").transaction_pooled
    with pytest.raises(ValueError, match="postgresql://"):
        make(database_direct_url="mysql://db/x")


def test_quorum_size_is_declared_only_when_set_and_only_for_quorum_queues() -> None:
    def args(**kwargs: object) -> list[dict[str, object]]:
        return [a for _, a in Topology.from_settings(make(**kwargs)).declarations()]

    assert all(QUORUM_SIZE_ARG not in a for a in args())
    assert all(a[QUORUM_SIZE_ARG] == 3 for a in args(quorum_size=3))
    assert all(QUORUM_SIZE_ARG not in a for a in args(quorum_size=3, queue_type="classic"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # RabbitMQ 3.10's words, as the broker wrote them (seen on a real node)
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-quorum-initial-group-size' for queue 'q' in vhost '/': "
            "received '3' but current is '1'",
            (True, 1),
        ),
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-quorum-initial-group-size' for queue 'q' in vhost '/': "
            "received the value '3' of type 'byte' but current is none",
            (True, None),
        ),
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-quorum-initial-group-size' for queue 'q' in vhost '/': "
            "received none but current is the value '3' of type 'byte'",
            (True, 3),
        ),
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': "
            "received '7' but current is '20'",
            (False, None),
        ),
    ],
)
def test_the_replica_count_a_queue_has_is_read_from_the_brokers_refusal(text: str, expected: object) -> None:
    assert existing_quorum_size(RuntimeError(text)) == expected
