"""Templates and what every dashboard answer carries: Jinja2 with autoescape always on (what a scraped site wrote
is text, never markup), filters for times, numbers and links, and security headers, among them a
Content-Security-Policy that allows script only from this server's own files (no inline script, nothing from
elsewhere), so that even an escaping mistake could not run a hostile site's script."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def http_link(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else None: only such URLs become links (a site could
    not make a ``javascript:`` or ``data:`` URL clickable)."""
    if not isinstance(url, str) or len(url) > 4000:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.strip()


def when(value: Any) -> str:
    """A time as ``2026-12-03 14:05:09 UTC``; empty for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def ago(value: Any) -> str:
    """How long ago ``value`` was: ``12 s``, ``4 min``, ``3 h``, ``2 d``."""
    if not isinstance(value, dt.datetime):
        return ""
    seconds = max(0, int((dt.datetime.now(dt.UTC) - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def as_text(value: Any) -> str:
    """A value for a table cell: lists joined, mappings as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def query(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` of ``params`` with ``changes`` applied (None and empty values left out)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else "?"


_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(when=when, ago=ago, as_text=as_text, http_link=http_link)
_environment.globals.update(query=query)


def render_string(source: str, **context: Any) -> str:
    """``source`` rendered by the dashboard's environment (its autoescape and filters)."""
    return _environment.from_string(source).render(**context)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """``template`` rendered with ``context`` (and the request's path and viewer), with the security headers."""
    body = _environment.get_template(template).render(
        path=request.url.path, viewer=getattr(request.state, "viewer", None), **context
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def secured(response: Response) -> Response:
    """``response`` with the security headers (redirects, downloads, streams)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
