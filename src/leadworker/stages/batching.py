"""Group commit: concurrent requests of the same kind executed together, without waiting to fill a batch.

A request that finds no batch running starts one at once (no added latency when the worker is quiet); requests
that arrive while batches run wait for one to finish and then go together as the next batch. Under load, with
``prefetch`` deliveries in flight, one statement serves many jobs: fewer round trips, fewer commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")

Execute = Callable[[Sequence[Req]], Awaitable[Sequence["Res | BaseException"]]]


class GroupCommit(Generic[Req, Res]):
    """Batches concurrent :meth:`submit` calls into calls of ``execute``.

    ``execute`` receives the requests of one batch and returns one result per request, in order; a result
    that is an exception is raised to that request's caller only. If ``execute`` itself raises, every
    request of the batch gets the exception.
    """

    def __init__(self, execute: Execute[Req, Res], *, max_batch: int = 64, max_concurrent: int = 2) -> None:
        self._execute = execute
        self.max_batch = max_batch
        self.max_concurrent = max_concurrent
        self._pending: list[tuple[Req, asyncio.Future[Res]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, request: Req) -> Res:
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._running < self.max_concurrent:
            self._start()
        return await future

    def _start(self) -> None:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._running += 1
        task = asyncio.create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._execute([request for request, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # its caller was cancelled meanwhile
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._running -= 1
            if self._pending and self._running < self.max_concurrent:
                self._start()
