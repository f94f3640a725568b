"""A stored finding keeps every mark the engine gave it, so what is rebuilt from the rows (a resumed run, a result
restated after an acceptance) scores as the engine did. The account here has escalations that hold only with MFA
(a conditioned grant, scored half) on most of its users."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import results, start
from audits.runs import status as run_status
from audits.runs import worker as runner
from audits.runs.inputs import store_input

pytestmark = pytest.mark.django_db(transaction=True)

ESCALATION = "principal_privilege_escalation"

ACCOUNT = "111122223333"
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def escalating_user(i: int, *, with_mfa: bool) -> dict:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Action": ["iam:CreatePolicyVersion", "iam:AttachUserPolicy"],
        "Resource": "*",
    }
    if with_mfa:
        statement["Condition"] = MFA
    return {
        "UserName": f"dev-{i}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev-{i}",
        "UserPolicyList": [
            {"PolicyName": "ops", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
        ],
    }


# Eight users, one principal each in the plan; every fourth one escalates without a condition.
SNAPSHOT = {
    "account_id": ACCOUNT,
    "authorization_details": {
        "UserDetailList": [escalating_user(i, with_mfa=i % 4 != 3) for i in range(8)],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    },
}


class WorkerKilled(BaseException):
    """Stands for the worker process dying mid-run: nothing in the worker catches it."""


def upload_run(owner) -> AuditRun:
    run = start.start_run(owner, source="snapshot", frameworks=["cis", "pci_dss"], account_id=ACCOUNT)
    store_input(run, SNAPSHOT)
    return run


def finished(run: AuditRun) -> AuditRun:
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED, run.error
    return run


def stop_midway(monkeypatch, how: str) -> None:
    """The next run stops (once) at the checkpoint after its third conditioned escalation is stored, asked to pause
    or its worker killed; the rest of the account is analysed after the resume."""
    stopped = False

    def reader(run_id: int):
        def control() -> str | None:
            nonlocal stopped
            conditioned = Finding.objects.filter(run_id=run_id, conditioned=True, check_id=ESCALATION)
            if stopped or conditioned.count() < 3:
                return None
            stopped = True
            if how == "killed":
                raise WorkerKilled
            assert run_status.pause(run_id)
            return "pause"

        return control

    monkeypatch.setattr(runner, "_control_reader", reader)


@pytest.fixture
def uninterrupted(alice):
    run = upload_run(alice)
    assert runner.execute(run.pk) == "completed"
    return finished(run)


@pytest.mark.parametrize("how", ["paused", "killed"])
def test_it_resumes_a_run_to_the_score_counts_and_result_of_an_uninterrupted_one(
    alice, uninterrupted, monkeypatch, how
):
    conditioned = Finding.objects.filter(run=uninterrupted, conditioned=True)
    assert conditioned.filter(check_id=ESCALATION).count() == 6
    stop_midway(monkeypatch, how)
    run = upload_run(alice)
    if how == "killed":
        with pytest.raises(WorkerKilled):
            runner.execute(run.pk)
        # The stale sweep finds it (no heartbeat since), and the owner resumes it.
        AuditRun.objects.filter(pk=run.pk).update(heartbeat=timezone.now() - timedelta(hours=1))
        assert start.requeue_stale_runs(auto_resume=False) == [run.pk]
        assert AuditRun.objects.get(pk=run.pk).status == AuditRun.Status.INTERRUPTED
    else:
        assert runner.execute(run.pk) == AuditRun.Status.PAUSED
    stored_before_resume = set(Finding.objects.filter(run=run, conditioned=True).values_list("fingerprint", flat=True))
    assert stored_before_resume, "the run stopped with conditioned findings already stored"
    assert start.resume(run.pk)
    assert runner.execute(run.pk) == "completed"
    run = finished(run)

    assert AuditEvent.objects.filter(run=run, type="resumed").count() == 1
    assert set(conditioned.values_list("fingerprint", flat=True)) - stored_before_resume, "and more found after"
    assert run.risk_score == uninterrupted.risk_score
    assert run.result == uninterrupted.result
    marks = ("fingerprint", "severity", "conditioned", "suppressed")
    assert sorted(run.findings.values_list(*marks)) == sorted(uninterrupted.findings.values_list(*marks))


def test_it_records_the_conditioned_mark_each_finding_event_carries(uninterrupted):
    events = AuditEvent.objects.filter(run=uninterrupted, type="finding")
    emitted = {e.payload["finding"]["fingerprint"]: e.payload["finding"]["conditioned"] for e in events}
    assert dict(uninterrupted.findings.values_list("fingerprint", "conditioned")) == emitted
    assert any(emitted.values()) and not all(emitted.values())


def test_a_restated_result_scores_conditioned_grants_as_the_engine_did(uninterrupted):
    rebuilt = results.findings_of(uninterrupted.pk)
    assert [f["fingerprint"] for f in rebuilt] == list(
        uninterrupted.findings.order_by("seq").values_list("fingerprint", flat=True)
    )
    assert sum(f["conditioned"] for f in rebuilt) == uninterrupted.findings.filter(conditioned=True).count()
    results.store(uninterrupted.pk)
    assert AuditRun.objects.get(pk=uninterrupted.pk).result == uninterrupted.result


def test_a_resumed_run_keeps_mutes_and_leaves_acceptances_to_the_suppressions_in_force(uninterrupted):
    accepted, muted, plain = uninterrupted.findings.order_by("seq")[:3]
    Finding.objects.filter(pk=accepted.pk).update(suppressed=True)
    Finding.objects.filter(pk=muted.pk).update(suppressed=True, muted_by="rule #1: sandbox")
    accepted.refresh_from_db()
    muted.refresh_from_db()
    assert accepted.as_engine_finding(keep_accepted=True)["suppressed"]
    assert not accepted.as_engine_finding(keep_accepted=False).get("suppressed")
    for keep_accepted in (True, False):
        again = muted.as_engine_finding(keep_accepted=keep_accepted)
        assert again["suppressed"] and again["muted_by"] == "rule #1: sandbox"
        assert not plain.as_engine_finding(keep_accepted=keep_accepted).get("suppressed")


def test_the_migration_fills_the_mark_of_existing_findings_from_their_events(uninterrupted, monkeypatch):
    expected = dict(uninterrupted.findings.values_list("pk", "conditioned"))
    Finding.objects.update(conditioned=False)
    migration = importlib.import_module("audits.migrations.0013_finding_conditioned")
    monkeypatch.setattr(migration, "BATCH", 3)  # several pages, a run's findings split across them
    migration.fill_conditioned(apps, None)
    assert dict(uninterrupted.findings.values_list("pk", "conditioned")) == expected
