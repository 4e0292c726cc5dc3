"""Running the app on uvicorn as ``leadworker api`` does: a stop signal (SIGTERM, Ctrl-C) stops taking
connections, ends the open event streams, lets the requests in flight finish (at most
``LEADWORKER_SHUTDOWN_GRACE``) and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from leadworker.api.app import create_app
from leadworker.config import Settings


class _Server(uvicorn.Server):
    """uvicorn's server, except that it does not re-raise the stop signal after shutdown (a supervisor would
    read that as a crash), and that the stop signal also calls ``on_stop`` on the event loop (the event
    streams end then: uvicorn would otherwise wait the whole grace for them, as for any request in flight)."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        self._loop = asyncio.get_running_loop()
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: Any) -> None:
        self.handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_stop)


def serve(settings: Settings) -> bool:
    """Serve until stopped; False if the server could not start (the port taken, a service down)."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    server = _Server(config, app.state.events.stop)
    server.run()
    return server.started
