"""The one write path for progress events: store first, then wake whoever is watching.

Each event takes the next gap-free seq of its run inside one transaction that also stores the
finding it carries and moves the run's progress and checkpoint. On SQLite the IMMEDIATE
transaction mode serialises writers across processes; on PostgreSQL the run row is locked with
SELECT ... FOR UPDATE. Either way two writers can never take the same seq or leave a hole.

Whatever the input, what one event stores is bounded (audits.size_caps): its message, its finding, a complete
event's result and the rest of its payload each have a cap, and what was cut is marked as truncated.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from audits.iam.events import EVENT_TYPES
from audits.iam.snapshot import safe_text
from audits.models import AuditEvent, AuditRun, Finding
from audits.size_caps import cap, cap_finding, cap_strings, cap_text

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "aegis_events"
# A database that is briefly unreachable (restart, failover) should not lose an audit's events.
WRITE_ATTEMPTS = 8
WRITE_BACKOFF_S = 0.25


class ClaimLostError(Exception):
    """The run was handed to another worker (this one was presumed dead); stop writing."""


class Recorder:
    def __init__(self, run_id: int, claim: str | None = None) -> None:
        self.run_id = run_id
        self.claim = claim

    def emit(
        self,
        type: str,
        message: str,
        progress: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> AuditEvent | None:
        """Store one event. Returns None when it carried a finding this run already has."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        message, payload = bounded(message, payload or {})
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._write(type, message, progress, payload)
            except DataError:
                # PostgreSQL refuses text a lone surrogate or NUL is in (SQLite stores it escaped). The event is
                # kept with U+FFFD in their place rather than lost, and the run goes on; the check costs nothing
                # on the usual path.
                cleaned = safe_text({"message": message, "payload": payload})
                if cleaned == {"message": message, "payload": payload}:
                    raise
                message, payload = cleaned["message"], cleaned["payload"]
            except (OperationalError, InterfaceError) as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.warning("event write failed (%s), retry %d/%d", exc, attempt, WRITE_ATTEMPTS)
                connection.close()
                time.sleep(WRITE_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def _write(self, type: str, message: str, progress: int | None, payload: dict) -> AuditEvent | None:
        # Plain SQL through one cursor: a 100,000-role audit records 200,000 events, and building each write's
        # five statements through the ORM cost more CPU than the audit itself.
        finding = payload.get("finding")
        checkpoint = payload.get("checkpoint")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_select_run_sql(), [self.run_id])
            row = cursor.fetchone()
            if row is None:
                raise AuditRun.DoesNotExist(f"run {self.run_id} does not exist")
            last_seq, run_progress, claim = row
            if self.claim is not None and claim != self.claim:
                raise ClaimLostError(f"run {self.run_id} is now held by another worker")
            if finding:
                cursor.execute(_finding_exists_sql(), [self.run_id, finding["fingerprint"]])
                if cursor.fetchone() is not None:
                    return None
            seq = last_seq + 1
            # Progress never moves backwards, whatever a resumed engine reports.
            progress = max(run_progress, min(100, max(0, int(progress if progress is not None else run_progress))))
            event = AuditEvent(run_id=self.run_id, seq=seq, type=type, message=message, progress=progress,
                               payload=payload, severity=_severity(finding), principal_arn=_principal_arn(payload),
                               created=timezone.now())  # fmt: skip
            event.pk = _insert(cursor, event, EVENT_COLUMNS)
            event._state.adding, event._state.db = False, connection.alias
            if finding:
                _store_finding(cursor, self.run_id, seq, finding)
            changes: dict[str, Any] = {"last_seq": seq, "progress": progress}
            if self.claim is not None:
                changes["heartbeat"] = event.created
            if checkpoint is not None:
                changes["checkpoint"] = checkpoint
            _update_run(cursor, self.run_id, changes)
            _notify(self.run_id, seq)
        return event


# Payload keys capped on their own: the finding (AEGIS_MAX_FINDING_BYTES), a complete event's result (its strings
# cut at AEGIS_MAX_RESULT_TEXT_CHARS: its compliance tables list every finding and must stay whole) and the
# engine's checkpoint (a few integers the resume depends on).
_CAPPED_APART = ("finding", "result", "checkpoint")


def bounded(message: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The message and payload an event stores, each within its documented cap."""
    message = cap_text(message, settings.AEGIS_MAX_MESSAGE_CHARS)
    rest = {key: value for key, value in payload.items() if key not in _CAPPED_APART}
    rest, cut = cap(rest, settings.AEGIS_MAX_EVENT_BYTES)
    if cut:
        rest["truncated"] = True
    if isinstance(payload.get("finding"), dict):
        rest["finding"] = cap_finding(payload["finding"], settings.AEGIS_MAX_FINDING_BYTES)
    if "result" in payload:
        rest["result"] = cap_strings(payload["result"], settings.AEGIS_MAX_RESULT_TEXT_CHARS)
    for key in _CAPPED_APART:
        if key in payload and key not in rest:
            rest[key] = payload[key]
    # The payload's own key order is kept, so an event that fits is stored exactly as it was emitted.
    return message, {key: rest[key] for key in (*payload, *rest) if key in rest}


EVENT_COLUMNS = ("run_id", "seq", "type", "message", "progress", "payload", "severity", "principal_arn", "created")
FINDING_COLUMNS = ("run_id", "seq", "suppressed", "muted_by", "conditioned", *Finding.FIELDS)


def _select_run_sql() -> str:
    qn, meta = connection.ops.quote_name, AuditRun._meta
    columns = ", ".join(qn(meta.get_field(name).column) for name in ("last_seq", "progress", "claim"))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} = %s{lock}"


def _finding_exists_sql() -> str:
    qn, meta = connection.ops.quote_name, Finding._meta
    return (f"SELECT 1 FROM {qn(meta.db_table)} WHERE {qn(meta.get_field('run').column)} = %s "
            f"AND {qn(meta.get_field('fingerprint').column)} = %s LIMIT 1")  # fmt: skip


def _insert(cursor, instance, names: tuple[str, ...]) -> int:
    """INSERT one row of instance's model, the values prepared by each field as the ORM would; returns its pk."""
    qn, meta = connection.ops.quote_name, instance._meta
    fields = [meta.get_field(name) for name in names]
    sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")  # fmt: skip
    params = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]
    if connection.features.can_return_columns_from_insert:
        cursor.execute(f"{sql} RETURNING {qn(meta.pk.column)}", params)
        return cursor.fetchone()[0]
    cursor.execute(sql, params)
    return cursor.lastrowid


def _update_run(cursor, run_id: int, changes: dict[str, Any]) -> None:
    qn, meta = connection.ops.quote_name, AuditRun._meta
    fields = [meta.get_field(name) for name in changes]
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    params = [f.get_db_prep_save(value, connection) for f, value in zip(fields, changes.values(), strict=True)]
    cursor.execute(f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s", [*params, run_id])


def _severity(finding: dict | None) -> str:
    severity = (finding or {}).get("severity")
    return severity if isinstance(severity, str) and len(severity) <= 8 else ""


def _principal_arn(payload: dict) -> str:
    """The finding's principal, else the principal a checkpoint event names."""
    finding, principal = payload.get("finding"), payload.get("principal")
    arn = (finding or {}).get("principal_arn") or (principal.get("arn") if isinstance(principal, dict) else None)
    return arn[:512] if isinstance(arn, str) else ""


def _store_finding(cursor, run_id: int, seq: int, finding: dict) -> None:
    values: dict[str, Any] = {name: finding.get(name) for name in Finding.FIELDS}
    values["suppressed"] = bool(finding.get("suppressed"))
    values["muted_by"] = str(finding.get("muted_by") or "")[:400]
    values["conditioned"] = bool(finding.get("conditioned"))
    for name in ("principal_arn", "principal_type", "principal_name", "policy", "detail", "remediation"):
        values[name] = values[name] or ""
    values["evidence"] = values["evidence"] if values["evidence"] is not None else {}
    values["controls"] = values["controls"] or {}
    values["fix"] = values["fix"] or {}
    values["title"] = (values["title"] or values["check_id"])[:300]
    _insert(cursor, Finding(run_id=run_id, seq=seq, **values), FINDING_COLUMNS)


def _notify(run_id: int, seq: int) -> None:
    # Delivered at commit, so a listener never hears of an event it cannot read yet.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, f"{run_id}:{seq}"])


__all__ = ["NOTIFY_CHANNEL", "Recorder", "bounded"]
