"""What :meth:`ConfirmedPublisher.publish` says when the publish under it raises a timeout."""

from __future__ import annotations

import errno
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange

from leadworker.broker.publisher import ConfirmedPublisher, OutgoingMessage, PublishError


class _TimingOutExchange:
    """An exchange whose publish fails as a socket does when the peer stops answering (ETIMEDOUT)."""

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise TimeoutError(errno.ETIMEDOUT, "Connection timed out")


def _publisher(confirm_timeout: float | None) -> ConfirmedPublisher:
    exchange = cast(AbstractExchange, _TimingOutExchange())
    return ConfirmedPublisher(cast(AbstractChannel, object()), exchange, None, confirm_timeout)


async def test_a_socket_timeout_without_a_confirm_bound_is_a_plain_publish_error() -> None:
    # No confirm timeout (the CLI's and the workers' publishers): no "not confirmed within None s".
    with pytest.raises(PublishError, match="failed: TimeoutError"):
        await _publisher(None).publish(OutgoingMessage("q", b"{}"))


async def test_a_timeout_with_a_confirm_bound_names_it() -> None:
    with pytest.raises(PublishError, match=r"not confirmed within 2\.5 s"):
        await _publisher(2.5).publish(OutgoingMessage("q", b"{}"))
