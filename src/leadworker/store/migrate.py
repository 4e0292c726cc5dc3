"""Schema migrations: the numbered files of ``sql/``, applied in order, each once, each in a transaction.

Applied versions are recorded in ``schema_migrations``. A PostgreSQL advisory lock makes concurrent
``leadworker db migrate`` runs (several hosts starting at once) safe. The database itself is created if it
does not exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from leadworker.errors import ServiceUnavailable, one_line

MIGRATION_LOCK_ID = 7_411_320_001
"""Advisory lock key held while migrating (an arbitrary constant of ours)."""

_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The ``sql/`` folder: inside the installed package, or at the root of a source checkout."""
    packaged = resources.files("leadworker") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "sql"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise RuntimeError(f"migration file {path.name!r} is not named NNN_description.sql")
        found.append(Migration(match.group(1), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number in {directory}")
    return found


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (identifiers cannot be bind parameters)."""
    return '"' + name.replace('"', '""') + '"'


def _maintenance_url(url: str) -> tuple[str, str]:
    """The URL of the ``postgres`` database on the same server, and the target database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError(f"database URL has no database name: {url}")
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment)), name


async def ensure_database(url: str) -> bool:
    """Create the database of ``url`` if it does not exist. Returns True if it was created."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except asyncpg.exceptions.InvalidCatalogNameError:
        pass
    except (OSError, asyncpg.exceptions.PostgresConnectionError, TimeoutError) as exc:
        raise ServiceUnavailable(f"database server unreachable: {one_line(exc)}") from exc
    else:
        await conn.close()
        return False
    admin_url, name = _maintenance_url(url)
    admin = await asyncpg.connect(admin_url, timeout=10)
    try:
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    except asyncpg.exceptions.DuplicateDatabaseError:
        return False
    finally:
        await admin.close()
    return True


async def migrate(url: str, directory: Path | None = None) -> list[str]:
    """Create the database if needed and apply pending migrations. Returns the versions applied now."""
    await ensure_database(url)
    migrations = load_migrations(directory)
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.exceptions.PostgresConnectionError, TimeoutError) as exc:
        raise ServiceUnavailable(f"database unreachable: {one_line(exc)}") from exc
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
            applied = {r["version"]: r["checksum"] for r in rows}
            for migration in migrations:
                if migration.version in applied:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()
    return applied_now


async def pending_migrations(url: str, directory: Path | None = None) -> list[str]:
    """Names of the migrations not yet applied to ``url`` (all of them if the database is empty)."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        applied = set()
        if exists:
            applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    finally:
        await conn.close()
    return [m.name for m in migrations if m.version not in applied]
