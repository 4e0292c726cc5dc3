"""``leadworker tokens``: the API's Bearer tokens (create prints the token once; only its hash is stored)."""

from __future__ import annotations

import typer

from leadworker.cli.helpers import emit_json, print_table, run_async, settings
from leadworker.errors import UsageError
from leadworker.ops.connections import database
from leadworker.store import tokens as tokenstore

tokens_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)


@tokens_app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the token (who or what uses it)."),
    scope: str = typer.Option("read", "--scope", help="read, write (jobs) or admin (dead letters, tokens)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create a token and print it: it is shown this once, only its SHA-256 is stored."""
    if scope not in tokenstore.SCOPES:
        raise UsageError(f"--scope: {scope!r} is not one of read, write, admin")
    if not name.strip() or len(name) > 100:
        raise UsageError("NAME: 1 to 100 characters")
    cfg = settings()

    async def go() -> str:
        async with database(cfg) as db:
            try:
                return await tokenstore.create_token(db, name, scope)
            except tokenstore.TokenExists:
                raise UsageError(f"a token named {name!r} exists already; revoke it or choose another name") from None

    token = run_async(go())
    if as_json:
        emit_json({"token": token, "name": name, "scope": scope})
    else:
        typer.echo(token)
        typer.echo(f"token {name!r} ({scope}) created; it is not shown again", err=True)


@tokens_app.command("list")
def list_tokens(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """The tokens (never their values): name, scope, created, last used, revoked."""
    cfg = settings()

    async def go() -> list[tokenstore.TokenInfo]:
        async with database(cfg) as db:
            return await tokenstore.list_tokens(db)

    found = run_async(go())
    rows = [
        [
            t.name,
            t.scope,
            t.created_at.isoformat(timespec="seconds"),
            t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "",
            t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "",
        ]
        for t in found
    ]
    if as_json:
        emit_json(
            [dict(zip(("name", "scope", "created_at", "last_used_at", "revoked_at"), r, strict=True)) for r in rows]
        )
    else:
        print_table(rows, ["name", "scope", "created", "last used", "revoked"])


@tokens_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Revoke a token: every API process refuses it within LEADWORKER_API_TOKEN_CACHE_SECONDS (5 s)."""
    cfg = settings()

    async def go() -> bool:
        async with database(cfg) as db:
            return await tokenstore.revoke_token(db, name)

    if not run_async(go()):
        raise UsageError(f"no live token named {name!r} (see: leadworker tokens list)")
    typer.echo(f"token {name!r} revoked (API processes refuse it within {cfg.api_token_cache_seconds:g} s)", err=True)
