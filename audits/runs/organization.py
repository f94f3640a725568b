"""Organization audits: a parent run that lists the member accounts and one ordinary child run per account.

The parent's task (audits.runs.worker.execute_parent) reads the organization from its connection (the management
or a delegated-admin account), creates a child run per active account (once: a re-run creates only the missing ones)
and returns; any free worker then claims the children like any other run, so accounts spread over every worker with
no account audited twice (a child is one row, claimed with the usual conditional UPDATE). Each child assumes
`member_role_name` in its account from the parent's connection. When a child ends, it records an event on the parent
(the organization page follows the parent's stream); the last child to end completes the parent, under the parent's
row lock. This module is that bookkeeping; it queues nothing (resuming does: audits.runs.start).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audits import mutelist
from audits.iam import finding_types
from audits.models import AuditRun, Finding, Suppression
from audits.runs import inputs, sources
from audits.runs import status as run_status
from audits.runs.recorder import Recorder

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "high", "medium", "low", "info")
ROLE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-/")


class OrganizationInputError(Exception):
    """The organization cannot be audited as asked; the message is shown to the user."""


def valid_role_name(name: str) -> bool:
    return 0 < len(name) <= 64 and set(name) <= ROLE_NAME_CHARS and not name.startswith("/")


def member_role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def organization_of(parent_id: int) -> dict | None:
    """The organization the parent collected (its OUs and SCPs), for a child's audit; None when not stored."""
    from audits.iam.organization import parse_organization

    raw = inputs.input_bytes(parent_id)
    if raw is None:
        return None
    try:
        return parse_organization(json.loads(raw).get("organization"))
    except (ValueError, AttributeError):  # ResourceFormatError is a ValueError
        log.warning("run %s: the stored organization could not be read; the child audits without SCPs", parent_id)
        return None


def member_session(run: AuditRun) -> Any:
    """boto3 session in the child's account: the connection's role first, then the member role from there."""
    from audits.iam.collect import CONFIG, CollectionError, session_for

    connection = run.connection
    if connection is None:
        raise CollectionError("this audit's AWS connection was deleted.")
    base = session_for(connection.role_arn, connection.external_id)
    role_arn = run.target.get("role_arn") or connection.role_arn
    if role_arn == connection.role_arn:
        return base
    import boto3
    from botocore.exceptions import ClientError

    params = {"RoleArn": role_arn, "RoleSessionName": "aegis-iam-org-audit", "DurationSeconds": 3600}
    if run.target.get("external_id"):
        params["ExternalId"] = run.target["external_id"]
    try:
        creds = base.client("sts", config=CONFIG).assume_role(**params)["Credentials"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CollectionError(
            f"Cannot assume {role_arn} in account {run.target.get('account_id')}: "
            f"{error.get('Code', 'Error')} - {error.get('Message', '')}. Deploy the member role (trusting the "
            "management account's audit role) in this account, e.g. with a CloudFormation StackSet."
        ) from None
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=base.region_name,
    )


# --- children report to the parent ----------------------------------------------------------------------------------


def org_counts(parent_id: int) -> dict:
    states = Counter(dict(AuditRun.objects.filter(parent_id=parent_id).values_list("status").annotate(n=Count("pk"))))
    severities = Counter(
        dict(
            Finding.objects.filter(run__parent_id=parent_id, suppressed=False)
            .values_list("severity")
            .annotate(n=Count("pk"))
        )
    )
    total = sum(states.values())
    done = sum(states.get(s, 0) for s in AuditRun.FINISHED)
    return {
        "total": total,
        "done": done,
        "completed": states.get(AuditRun.Status.COMPLETED, 0),
        "failed": states.get(AuditRun.Status.FAILED, 0),
        "cancelled": states.get(AuditRun.Status.CANCELLED, 0),
        "running": states.get(AuditRun.Status.RUNNING, 0),
        "queued": states.get(AuditRun.Status.QUEUED, 0),
        "paused": states.get(AuditRun.Status.PAUSED, 0) + states.get(AuditRun.Status.INTERRUPTED, 0),
        "by_severity": {s: severities.get(s, 0) for s in SEVERITIES},
    }


def account_row(child: AuditRun) -> dict:
    return {
        "run": child.pk,
        "account_id": child.account_id,
        "name": child.target.get("account_name", ""),
        "status": child.status,
        "risk_score": child.risk_score,
        "error": child.error[:300],
    }


def child_started(child_id: int) -> None:
    child = AuditRun.objects.filter(pk=child_id).exclude(parent=None).first()
    if child is None:
        return
    counts = org_counts(child.parent_id)
    Recorder(child.parent_id).emit(
        "progress",
        f"Account {child.account_id} ({child.target.get('account_name', '')}) started",
        _progress(counts),
        {"account": account_row(child), "org": counts},
    )


def child_finished(child_id: int) -> None:
    """Record the child's end on its parent, and complete the parent when it was the last one."""
    child = AuditRun.objects.filter(pk=child_id).exclude(parent=None).first()
    if child is None:
        return
    counts = org_counts(child.parent_id)
    by_severity = dict(child.findings.filter(suppressed=False).values_list("severity").annotate(n=Count("pk")))
    row = account_row(child) | {"by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES}}
    if child.status == AuditRun.Status.FAILED:
        message = f"Account {child.account_id} failed: {child.error.removeprefix('Error: ')}"
        kind = "warning"
    else:
        message = f"Account {child.account_id} {child.status}: {sum(by_severity.values())} findings" + (
            f", risk {child.risk_score}/100" if child.risk_score is not None else ""
        )
        kind = "progress"
    Recorder(child.parent_id).emit(kind, message, _progress(counts), {"account": row, "org": counts})
    maybe_complete(child.parent_id)


def _progress(counts: dict) -> int:
    return 5 + 94 * counts["done"] // max(counts["total"], 1)


def _ready_to_end(parent: AuditRun | None) -> bool:
    """Still open, its accounts listed, and every one of them ended."""
    if parent is None or parent.is_finished or not (parent.checkpoint or {}).get("children_created"):
        return False
    return not parent.children.filter(~Q(status__in=AuditRun.FINISHED)).exists()


def cross_account_findings(parent_id: int) -> list[finding_types.Finding]:
    """Paths across the audited accounts (audits.iam.cross_account), from the children's stored snapshots, read
    one account at a time."""
    from audits.iam.cross_account import analyse_organization

    children = dict(
        AuditRun.objects.filter(parent_id=parent_id, status=AuditRun.Status.COMPLETED).values_list("account_id", "pk")
    )

    def load(account_id: str):
        pk = children.get(account_id)
        return inputs.load_input(pk) if pk is not None and inputs.has_input(pk) else None

    return analyse_organization(sorted(children), load, organization_of(parent_id), timezone.now())


def maybe_complete(parent_id: int) -> bool:
    """The parent ends once every child has ended; its row lock makes exactly one caller do it.

    The cross-account join runs before the lock (it reads every account's snapshot): two children ending at
    once may both compute it, and only the one that takes the lock first records it."""
    if not _ready_to_end(AuditRun.objects.filter(pk=parent_id).only("status", "checkpoint").first()):
        return False
    joined: list[finding_types.Finding] | None = None
    cancelled_early = AuditRun.objects.filter(pk=parent_id, control=AuditRun.Control.CANCEL).exists()
    if not cancelled_early:
        try:
            joined = cross_account_findings(parent_id)
        except Exception:  # the accounts' own results stand without the join; never lose the completion
            log.exception("organization run %s: the cross-account analysis failed", parent_id)
    with transaction.atomic():
        parent = AuditRun.objects.select_for_update().filter(pk=parent_id).first()
        if parent is None or not _ready_to_end(parent):
            return False
        cancelled = parent.control == AuditRun.Control.CANCEL
        if not cancelled:
            _record_cross_account(parent_id, joined)
        counts = org_counts(parent_id)
        result = organization_result(parent, counts)
        if cancelled:
            Recorder(parent_id).emit("cancelled", "Organization audit cancelled.", None, {"org": counts})
            status = AuditRun.Status.CANCELLED
        else:
            Recorder(parent_id).emit(
                "complete",
                f"Organization audit complete: {counts['completed']} of {counts['total']} accounts audited"
                + (f", {counts['failed']} failed" if counts["failed"] else "")
                + f", risk score {result['risk_score']}/100",
                100,
                {"result": result, "org": counts},
            )
            status = AuditRun.Status.COMPLETED
        run_status.finish(
            parent_id,
            status,
            result=None if cancelled else result,
            risk_score=None if cancelled else result["risk_score"],
        )
    if status == AuditRun.Status.COMPLETED:
        from audits import webhooks

        webhooks.notify_finished(parent_id)  # after the commit; never raises, one message for the organization
    return True


def _record_cross_account(parent_id: int, findings: list[finding_types.Finding] | None) -> None:
    recorder = Recorder(parent_id)
    if findings is None:
        recorder.emit(
            "warning", "Cross-account paths could not be analysed; each account's own audit stands.", None, {}
        )
        return
    findings = with_accepted_risks(parent_id, findings)
    findings = mutelist.mark_muted(parent_id, findings)  # the owner's mute rules, as an account run applies them
    accepted = sum(1 for f in findings if f.get("suppressed"))
    recorder.emit(
        "thinking",
        f"Joining the accounts: {len(findings)} cross-account path(s) found (roles trusting other accounts, "
        "resource policies naming them, and entries from outside the organization)"
        + (f", {accepted} of them accepted risks." if accepted else "."),
        None,
        {},
    )
    for finding in findings:
        recorder.emit(
            "finding",
            f"[{finding['severity'].upper()}] {finding['title']}: {finding['principal_type']} "
            f"'{finding['principal_name']}'" + _suppressed_note(finding),
            None,
            {"finding": finding},
        )


def _suppressed_note(finding: finding_types.Finding) -> str:
    if finding.get("muted_by"):
        return f" (muted by {finding['muted_by']})"
    return " (suppressed: accepted risk)" if finding.get("suppressed") else ""


def with_accepted_risks(parent_id: int, findings: list[finding_types.Finding]) -> list[finding_types.Finding]:
    """Marks the cross-account findings whose risk the organization run's owner accepted (unexpired) on the
    account each sits on, in an audit of the same organization connection; they are kept, and left out of the
    organization's counts like an account's."""
    from audits.iam.cross_account import finding_account

    keyed = [(finding_account(f["principal_arn"], f["evidence"]), f) for f in findings]
    accounts = {account for account, _ in keyed} - {""}
    if not accounts:
        return findings
    parent = AuditRun.objects.filter(pk=parent_id).values("owner_id", "source_key").first() or {}
    owner, source_key = parent.get("owner_id"), parent.get("source_key", "")
    accepted = set(
        Suppression.objects.filter(
            sources.same_source_suppressions(source_key),
            owner_id=owner,
            account_id__in=accounts,
            expires_at__gt=timezone.now(),
        ).values_list("account_id", "fingerprint")
    )
    return [{**f, "suppressed": True} if (account, f["fingerprint"]) in accepted else f for account, f in keyed]


def organization_result(parent: AuditRun, counts: dict) -> dict:
    """The organization's result: its worst account sets the score; every account is listed, and the
    cross-account findings (recorded on the organization run itself) are counted."""
    children = list(parent.children.order_by("account_id"))
    scores = [c.risk_score for c in children if c.risk_score is not None]
    score = max(scores, default=0)
    joined = dict(parent.findings.filter(suppressed=False).values_list("severity").annotate(n=Count("pk")))
    from audits.iam.scoring import band

    return {
        "success": True,
        "kind": "organization",
        "risk_score": score,
        "risk_band": band(score),
        "audit_summary": {
            "accounts": counts["total"],
            "completed": counts["completed"],
            "failed": counts["failed"],
            "findings": sum(counts["by_severity"].values()),
            "by_severity": counts["by_severity"],
        },
        "accounts": [account_row(c) for c in children],
        "cross_account": {
            "findings": sum(joined.values()),
            "by_severity": {s: joined.get(s, 0) for s in SEVERITIES},
        },
        "frameworks": list(parent.frameworks or []),
    }


def restate(parent_id: int) -> None:
    """Store a completed organization run's result again from its accounts as they stand now (a risk accepted or
    taken back on one of them has restated that account), with the function that computed it at completion.
    Inside the caller's transaction; the row lock keeps two restates from storing each other's figures."""
    parent = AuditRun.objects.select_for_update().filter(pk=parent_id, status=AuditRun.Status.COMPLETED).first()
    if parent is None or not parent.result:
        return
    result = organization_result(parent, org_counts(parent_id))
    AuditRun.objects.filter(pk=parent_id).update(result=result, risk_score=result["risk_score"])


# --- pause and cancel the whole organization (resuming queues its accounts: audits.runs.start) ---------------------


def pause(parent: AuditRun) -> int:
    """Running children stop at their next checkpoint; queued ones wait as paused."""
    n = run_status.pause_organization(parent.pk)
    Recorder(parent.pk).emit(
        "paused", f"Organization audit paused ({n} account audit(s) pausing).", None, {"org": org_counts(parent.pk)}
    )
    return n


def cancel(parent: AuditRun) -> None:
    run_status.cancel_organization(parent.pk, child_finished)
    if not parent.checkpoint.get("children_created"):
        # Cancelled before the accounts were listed: nothing will report back, so end it here.
        AuditRun.objects.filter(pk=parent.pk).update(checkpoint={"children_created": True})
    maybe_complete(parent.pk)
