"""Serve a :class:`~world.generate.World` on 127.0.0.1, one virtual host per site.

In a test: ``server = WorldServer(world); await server.start()`` (or through ``support.ThreadedServer``).
From a shell or a benchmark (its own process, so that serving does not share the crawler's event loop)::

    python -m world --seed 7 --sites 300 [--script-share 0.2]

prints ``PORT <port>`` once it listens, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from leadworker.ops.serving import serve_app
from world.generate import World, generate_world


class WorldServer:
    """An aiohttp server answering every host of a world by its ``Host`` header."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.bind = host
        self.port = port
        self.hits: dict[tuple[str, str], int] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve_app(app, self.bind, self.port, backlog=1024)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def _fill(self, text: str) -> str:
        return text.replace("{{port}}", str(self.port))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0].lower()
        routes = self.world.routes.get(host)
        if routes is None:
            return web.Response(status=404, text="unknown site")
        path = request.path
        key = (host, path)
        self.hits[key] = self.hits.get(key, 0) + 1
        answer = routes.get(path) or (routes.get(path.rstrip("/")) if path != "/" else None)
        if answer is None:
            return web.Response(
                status=404, text="<html><body><h1>Not found</h1></body></html>", content_type="text/html"
            )
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.location is not None:
            return web.Response(status=answer.status, headers={"Location": self._fill(answer.location)})
        body = answer.body
        data = self._fill(body).encode("utf-8") if isinstance(body, str) else body
        return web.Response(
            status=answer.status, body=data, headers={"Content-Type": answer.content_type, **answer.headers}
        )


async def _serve(seed: int, sites: int, script_share: float) -> None:
    world = generate_world(seed, sites, script_share=script_share)
    server = WorldServer(world)
    port = await server.start()
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--script-share", type=float, default=0.2)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.seed, args.sites, args.script_share))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
