"""A tiny virtual-host web server for the demo and the tests: one folder per host name, served on 127.0.0.1.

Each site's host name (``acme-plumbing.test``) is mapped to 127.0.0.1 through the resolver override, so the
crawler sees distinct sites, registrable domains and robots.txt files, as it would on the internet. The
server listens on a port of its own choosing; ``{{port}}`` in a page is replaced by it, so that a page can
link to another site of the same server (the sample directory links to the companies' websites).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from leadworker.ops.serving import serve_app


def _candidates(root: Path, path: str) -> list[Path]:
    clean = path.strip("/")
    if not clean:
        return [root / "index.html"]
    return [root / clean, root / f"{clean}.html", root / clean / "index.html"]


class SiteServer:
    """Serves ``root/<host>/...`` for every sub-folder ``<host>`` of ``root``."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.bind = host
        self.port = port
        self.hosts = sorted(p.name for p in root.iterdir() if p.is_dir())
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve_app(app, self.bind, self.port, shutdown_timeout=1.0)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def resolve_override(self) -> str:
        """The ``LEADWORKER_RESOLVE`` value that maps every served host to this server."""
        return ",".join(f"{host}:{self.bind}" for host in self.hosts)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0].lower()
        site = self.root / host
        if host not in self.hosts:
            return web.Response(status=404, text="unknown site")
        resolved_root = site.resolve()
        for candidate in _candidates(site, request.path):
            try:
                resolved = candidate.resolve()
            except OSError:
                continue
            if resolved_root not in resolved.parents and resolved != resolved_root:
                continue
            if resolved.is_file():
                content_type = "text/plain" if resolved.suffix == ".txt" else "text/html"
                body = resolved.read_bytes()
                if content_type == "text/html":
                    body = body.replace(b"{{port}}", str(self.port).encode())
                return web.Response(body=body, content_type=content_type, charset="utf-8")
        return web.Response(status=404, text="not found", content_type="text/html")
