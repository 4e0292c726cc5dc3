"""Running the app on uvicorn as ``leadworker api`` does: a stop signal (SIGTERM, Ctrl-C) stops taking
connections, lets the requests in flight finish (at most ``LEADWORKER_SHUTDOWN_GRACE``) and exits 0."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from leadworker.api.app import create_app
from leadworker.config import Settings


class _Server(uvicorn.Server):
    """uvicorn's server, except that it does not re-raise the stop signal after shutdown (a supervisor would
    read that as a crash)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: Any) -> None:
        self.handle_exit(sig, frame)


def serve(settings: Settings) -> bool:
    """Serve until stopped; False if the server could not start (the port taken, a service down)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    server = _Server(config)
    server.run()
    return server.started
