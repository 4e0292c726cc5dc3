"""Serving an aiohttp application on a local port: the health server, the demo's sites and webhook receiver."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


async def serve_app(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    backlog: int = 128,
    reuse_address: bool | None = None,
    **runner_options: Any,
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (port 0: any free one). Returns its runner (``cleanup()`` stops it) and
    the port it is bound to. Access logs are off unless ``runner_options`` say otherwise."""
    runner = web.AppRunner(app, **{"access_log": None, **runner_options})
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=backlog, reuse_address=reuse_address)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server
    assert isinstance(server, asyncio.Server) and server.sockets
    return runner, int(server.sockets[0].getsockname()[1])
