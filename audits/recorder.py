"""The one write path for progress events: store first, then wake whoever is watching.

Each event takes the next gap-free seq of its run inside one transaction that also stores the
finding it carries and moves the run's progress and checkpoint. On SQLite the IMMEDIATE
transaction mode serialises writers across processes; on PostgreSQL the run row is locked with
SELECT ... FOR UPDATE. Either way two writers can never take the same seq or leave a hole.
"""

import logging
import time
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from audits.models import EVENT_TYPES, AuditEvent, AuditRun, Finding

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
        payload = dict(payload or {})
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._write(type, message, progress, payload)
            except (OperationalError, InterfaceError) as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.warning("event write failed (%s), retry %d/%d", exc, attempt, WRITE_ATTEMPTS)
                connection.close()
                time.sleep(WRITE_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def _write(self, type: str, message: str, progress: int | None, payload: dict) -> AuditEvent | None:
        finding = payload.get("finding")
        checkpoint = payload.get("checkpoint")
        with transaction.atomic():
            run = AuditRun.objects.select_for_update().only("last_seq", "progress", "claim").get(pk=self.run_id)
            if self.claim is not None and run.claim != self.claim:
                raise ClaimLostError(f"run {self.run_id} is now held by another worker")
            if finding and Finding.objects.filter(run_id=self.run_id, fingerprint=finding["fingerprint"]).exists():
                return None
            seq = run.last_seq + 1
            # Progress never moves backwards, whatever a resumed engine reports.
            progress = max(run.progress, min(100, max(0, int(progress if progress is not None else run.progress))))
            event = AuditEvent.objects.create(
                run_id=self.run_id,
                seq=seq,
                type=type,
                message=message,
                progress=progress,
                payload=payload,
                severity=_severity(finding),
                principal_arn=_principal_arn(payload),
                created=timezone.now(),
            )
            if finding:
                _store_finding(self.run_id, seq, finding)
            changes: dict[str, Any] = {"last_seq": seq, "progress": progress}
            if self.claim is not None:
                changes["heartbeat"] = event.created
            if checkpoint is not None:
                changes["checkpoint"] = checkpoint
            AuditRun.objects.filter(pk=self.run_id).update(**changes)
            _notify(self.run_id, seq)
        return event


def _severity(finding: dict | None) -> str:
    severity = (finding or {}).get("severity")
    return severity if isinstance(severity, str) and len(severity) <= 8 else ""


def _principal_arn(payload: dict) -> str:
    """The finding's principal, else the principal a checkpoint event names."""
    finding, principal = payload.get("finding"), payload.get("principal")
    arn = (finding or {}).get("principal_arn") or (principal.get("arn") if isinstance(principal, dict) else None)
    return arn[:512] if isinstance(arn, str) else ""


def _store_finding(run_id: int, seq: int, finding: dict) -> None:
    values = {name: finding.get(name) for name in Finding.FIELDS}
    values["suppressed"] = bool(finding.get("suppressed"))
    for name in ("principal_arn", "principal_type", "principal_name", "policy", "detail", "remediation"):
        values[name] = values[name] or ""
    values["evidence"] = values["evidence"] if values["evidence"] is not None else {}
    values["controls"] = values["controls"] or {}
    values["fix"] = values["fix"] or {}
    values["title"] = (values["title"] or values["check_id"])[:300]
    Finding.objects.create(run_id=run_id, seq=seq, **values)


def _notify(run_id: int, seq: int) -> None:
    # Delivered at commit, so a listener never hears of an event it cannot read yet.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, f"{run_id}:{seq}"])


__all__ = ["NOTIFY_CHANNEL", "Recorder"]
