"""``leadworker leads outcome`` and ``leads outcomes --file``: record what became of leads (one, or a CRM's CSV).

A CSV file has a header row, an ``outcome`` column and at least one of ``lead_id``, ``domain`` and ``email`` (a
row uses the first of them it fills), optional ``at`` (ISO 8601; without a zone: UTC) and ``note``; other columns
are ignored. Every row is checked and resolved first; the good rows are recorded in one transaction and each bad
row is reported on its own line (``FILE:LINE: why``), so nothing is lost: fix the rows and import the file again
(rows recorded before are recognised and not recorded twice, if they have an ``at``).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import typer

from leadworker.cli.helpers import emit_json, run_async, settings, shown
from leadworker.errors import UsageError
from leadworker.ops.connections import database

MAX_NOTE = 2000
KEY_COLUMNS = ("lead_id", "domain", "email")


def parse_outcome(value: str) -> str:
    """``value`` as an outcome (raises ValueError naming the choices)."""
    from leadworker.store.outcomes import OUTCOMES

    outcome = value.strip().lower()
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {value!r} is not one of {', '.join(OUTCOMES)}")
    return outcome


def parse_at(value: str) -> dt.datetime:
    """An ISO 8601 time (``2026-03-01``, ``2026-03-01T14:30:00+01:00``; without a zone: UTC)."""
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"at {value!r} is not a time such as 2026-03-01T14:30:00Z") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def parse_lead_id(value: str) -> int:
    try:
        ident = int(value.strip())
        if not 1 <= ident < 2**63:
            raise ValueError
    except ValueError:
        raise ValueError(f"{value!r} is not a lead id (a positive number such as 42)") from None
    return ident


def leads_outcome(
    lead_id: str = typer.Argument(
        ..., help="The lead's id (any id it had: a merged-away lead's goes to its survivor)."
    ),
    outcome: str = typer.Argument(..., help="won, lost, contacted or bad_data."),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601) [default: now]."),
    note: str | None = typer.Option(None, "--note", help="Free text kept with the outcome."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record what became of a lead; the latest outcome of a lead is its outcome."""
    from leadworker.store.outcomes import NewOutcome, record_outcomes

    try:
        ident = parse_lead_id(lead_id)
        chosen = parse_outcome(outcome)
        when = parse_at(at) if at is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if note is not None and len(note) > MAX_NOTE:
        raise UsageError(f"--note: at most {MAX_NOTE} characters")
    cfg = settings()

    async def go() -> tuple[int | None, bool]:
        async with database(cfg) as db:
            (done,) = await record_outcomes(db, [NewOutcome(ident, chosen, when, note)], source="cli")
            return done.lead_id, done.created

    live, created = run_async(go())
    if live is None:
        typer.echo(f"leadworker: no lead {ident}", err=True)
        raise typer.Exit(1)
    if as_json:
        emit_json({"lead_id": live, "given_lead_id": ident, "outcome": chosen, "created": created})
        return
    merged = f" (lead {ident} was merged into {live})" if live != ident else ""
    typer.echo(f"{'recorded' if created else 'already recorded:'} {chosen} for lead {live}{merged}")


@dataclass
class _Row:
    line: int
    outcome: str
    key: tuple[str, str]
    at: dt.datetime | None
    note: str | None


def _read_rows(path: Path) -> tuple[list[_Row], list[tuple[int, str]]]:
    """The file's good rows and one error line per bad row; raises UsageError if the file itself is unusable."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read --file {str(path)!r}: {exc.strerror}") from None
    rows: list[_Row] = []
    errors: list[tuple[int, str]] = []
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = [(name or "").strip().lower() for name in reader.fieldnames or []]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not a CSV file with a header row ({exc})") from None
        keys = [k for k in KEY_COLUMNS if k in header]
        if "outcome" not in header or not keys:
            raise UsageError(
                f"{path}: the header needs an outcome column and one of lead_id, domain, email (found: "
                f"{', '.join(h for h in header if h) or 'nothing'})"
            )
        reader.fieldnames = header
        try:
            for record in reader:
                row = _parse_row(reader.line_num, record, keys)
                if isinstance(row, str):
                    errors.append((reader.line_num, row))
                else:
                    rows.append(row)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}:{reader.line_num}: unreadable CSV ({exc}); nothing recorded") from None
    return rows, errors


def _parse_row(line: int, record: dict[str, str | None], keys: list[str]) -> _Row | str:
    """A row, or why it is bad."""
    cell = {k: (v or "").strip() if isinstance(v, str) else "" for k, v in record.items() if k is not None}
    try:
        outcome = parse_outcome(cell.get("outcome", ""))
        at = parse_at(cell["at"]) if cell.get("at") else None
        key = next(((k, cell[k]) for k in keys if cell.get(k)), None)
        if key is None:
            return f"no {' or '.join(keys)} given"
        if key[0] == "lead_id":
            key = ("lead_id", str(parse_lead_id(key[1])))
    except ValueError as exc:
        return str(exc)
    note = cell.get("note") or None
    if note is not None and len(note) > MAX_NOTE:
        return f"note longer than {MAX_NOTE} characters"
    return _Row(line, outcome, key, at, note)


def _normalized_key(kind: str, value: str) -> str:
    if kind == "email":
        return value.lower()
    if kind == "domain":
        from leadworker.common.domains import site_identity

        text = value.lower().strip().rstrip("/")
        return site_identity(text if "//" in text else f"http://{text}/") or text
    return value


def leads_outcomes(
    file: Path = typer.Option(..., "--file", help="CSV with a header: outcome, one of lead_id/domain/email, at, note."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record outcomes from a CRM's CSV export; bad rows are listed (FILE:LINE: why) and the good ones recorded."""
    from leadworker.store.outcomes import NewOutcome, leads_by_key, record_outcomes

    rows, errors = _read_rows(file)
    cfg = settings()

    async def go() -> tuple[int, int]:
        async with database(cfg) as db:
            found: dict[tuple[str, str], int] = {}
            for kind in ("domain", "email"):
                wanted = {_normalized_key(kind, r.key[1]) for r in rows if r.key[0] == kind}
                if wanted:
                    owners = await leads_by_key(db, kind, sorted(wanted))
                    found.update({(kind, value): lead for value, lead in owners.items()})
            good: list[tuple[_Row, NewOutcome]] = []
            for row in rows:
                kind, value = row.key
                lead = int(value) if kind == "lead_id" else found.get((kind, _normalized_key(kind, value)))
                if lead is None:
                    errors.append((row.line, f"no lead with {kind} {value!r}"))
                    continue
                good.append((row, NewOutcome(lead, row.outcome, row.at, row.note)))
            done = await record_outcomes(db, [o for _, o in good], source=f"csv:{file.name}")
            for (row, outcome), result in zip(good, done, strict=True):
                if result.lead_id is None:
                    errors.append((row.line, f"no lead {outcome.lead_id}"))
            return sum(d.created for d in done), sum(d.lead_id is not None and not d.created for d in done)

    created, again = run_async(go())
    errors.sort()
    if as_json:
        emit_json(
            {
                "recorded": created,
                "already_recorded": again,
                "rejected": [{"line": line, "error": why} for line, why in errors],
            }
        )
    else:
        for line, why in errors:
            typer.echo(f"leadworker: {file}:{line}: {shown(why)}", err=True)
        typer.echo(
            f"recorded {created} outcome(s) from {file}"
            + (f", {again} already recorded" if again else "")
            + (f"; {len(errors)} row(s) rejected (listed above)" if errors else ""),
            err=bool(errors),
        )
    if errors:
        raise typer.Exit(2)
