"""The audit trail: filter, read, export (CSV, JSON lines); admin changes with before/after;
and one sign-in or credential followed from event to event on a page of its own."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, stream_with_context

from gateway.admin import trail as trails
from gateway.problems import Problem
from gateway.runtime import runtime
from gateway.store import audit
from gateway.store.changelog import changes
from gateway.web.admin import bp
from gateway.web.admin.access import page

PAGE_LIMIT = 200
EXPORT_LIMIT = 10_000
# Form field → AuditFilter field; "person" is the subject the identity provider asserted.
TEXT_FILTERS = {
    "person": "subject",
    "provider": "provider",
    "role": "role_arn",
    "account": "account",
    "event_type": "event_type",
    "access_key_id": "access_key_id",
    "request_id": "request_id",
    "session_id": "session_id",
}
COLUMNS = tuple(f.name for f in fields(audit.AuditEvent))


def _instant(raw: str, name: str, problems: list[Problem]) -> datetime | None:
    """`datetime-local` input (taken as UTC) or ISO 8601 with an offset."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(Problem(name, f"expected a date and time such as 2024-05-01T12:00, "
                                      f"got {raw[:64]!r}"))
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_filters() -> tuple[audit.AuditFilter, dict[str, str], list[Problem]]:
    args = request.args
    problems: list[Problem] = []
    given = {name: (args.get(name) or "").strip()[:2048] for name in
             [*TEXT_FILTERS, "outcome", "since", "until"]}
    values: dict[str, Any] = {
        field: given[name] or None for name, field in TEXT_FILTERS.items()
    }
    outcome = given["outcome"]
    if outcome and outcome not in ("success", "failure"):
        problems.append(Problem("outcome", "expected success or failure"))
        outcome = ""
    values["outcome"] = outcome or None
    values["since"] = _instant(given["since"], "since", problems)
    values["until"] = _instant(given["until"], "until", problems)
    return audit.AuditFilter(**values), given, problems


@bp.get("/audit", endpoint="audit")
def audit_page() -> Response:
    rt = runtime()
    filters, given, problems = read_filters()
    events = audit.recent(rt.engine, filters, limit=PAGE_LIMIT) if not problems else []
    return page("admin/audit.html", title="Audit", section="admin.audit",
                status=400 if problems else 200, problems=problems, events=events,
                given=given, limit=PAGE_LIMIT, query=request.query_string.decode(),
                changes=changes(rt.engine, limit=50), pretty=_pretty,
                linkable=trails.linkable)


@bp.get("/audit/trail/<int:event_id>")
def trail(event_id: int) -> Response:
    """The sign-in or credential chain this event belongs to, in time order."""
    found = trails.build(runtime().engine, event_id)
    if found is None:
        return page("admin/not_found.html", title="No such audit event", status=404,
                    section="admin.audit",
                    message=f"There is no audit event {event_id}.")
    return page("admin/trail.html", title="Trail", section="admin.audit", trail=found,
                pretty=_pretty, moment=lambda epoch: datetime.fromtimestamp(int(epoch), UTC))


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _row(event: audit.AuditEvent) -> dict[str, Any]:
    row = asdict(event)
    row["at"] = event.at.isoformat() if event.at else None
    return row


def _exported(events: list[audit.AuditEvent], mimetype: str, suffix: str,
              body: Iterator[str]) -> Response:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{suffix}"'
    response.headers["X-Audit-Events"] = str(len(events))
    return response


def _bad_filters(problems: list[Problem]) -> Response:
    body = "\n".join(str(p) for p in problems) + "\n"
    return Response(body, status=400, mimetype="text/plain")


@bp.get("/audit/export.csv")
def export_csv() -> Response:
    filters, _, problems = read_filters()
    if problems:
        return _bad_filters(problems)
    events = audit.recent(runtime().engine, filters, limit=EXPORT_LIMIT)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for event in events:
            row = _row(event)
            writer.writerow([
                json.dumps(row[c], sort_keys=True) if c == "detail" and row[c] is not None
                else _cell(row[c]) for c in COLUMNS
            ])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if not events:
            yield buffer.getvalue()

    return _exported(events, "text/csv", "csv", rows())


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/audit/export.jsonl")
def export_jsonl() -> Response:
    filters, _, problems = read_filters()
    if problems:
        return _bad_filters(problems)
    events = audit.recent(runtime().engine, filters, limit=EXPORT_LIMIT)

    def lines() -> Iterator[str]:
        for event in events:
            yield json.dumps(_row(event), ensure_ascii=False, sort_keys=True) + "\n"

    return _exported(events, "application/jsonl", "jsonl", lines())
