"""Organization audits: a parent lists the member accounts (moto's Organizations), one child run per account.

Children are executed here by the same code the worker runs (worker.execute), with moto standing in for AWS;
the multi-worker case on PostgreSQL lives in bench/org_scale.py.
"""

import json
from datetime import timedelta

import boto3
import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from django.utils import timezone

from audits.models import AuditEvent, AuditRun, AwsConnection, Suppression
from audits.runs import organization, start, worker

MGMT = "123456789012"
TRUST_MGMT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def session_in(base, account_id: str):
    creds = base.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/Setup", RoleSessionName="setup")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def build_org(aws, members: int = 3) -> list[str]:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    ids = [
        org.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
        for i in range(members)
    ]
    aws.client("iam").create_role(RoleName="AegisAudit", AssumeRolePolicyDocument=TRUST_MGMT)
    for i, account_id in enumerate(ids):
        iam = session_in(aws, account_id).client("iam")
        iam.create_role(RoleName="AegisAudit", AssumeRolePolicyDocument=TRUST_MGMT)
        iam.create_user(UserName=f"dev-{i}")
        iam.put_user_policy(UserName=f"dev-{i}", PolicyName="all", PolicyDocument=ADMIN)
    return ids


def connection_for(owner) -> AwsConnection:
    return AwsConnection.objects.create(
        owner=owner,
        name="mgmt",
        role_arn=f"arn:aws:iam::{MGMT}:role/AegisAudit",
        account_id=MGMT,
        verified_at=timezone.now(),
    )


def refuse_assume_role_into(monkeypatch, account_id: str) -> None:
    """AccessDenied from STS for one account's member role, the way botocore's Stubber answers (before-call)."""

    def handler(params, **kwargs):
        if f":{account_id}:role/" in params["body"].get("RoleArn", ""):
            response = AWSResponse("https://sts.amazonaws.com/", 403, {}, None)
            return response, {
                "Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None

    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [*botocore.handlers.BUILTIN_HANDLERS, ("before-call.sts.AssumeRole", handler)],
    )


def run_queue() -> None:
    """Execute queued runs the way workers do, until none is left."""
    while True:
        queued = list(AuditRun.objects.filter(status=AuditRun.Status.QUEUED).values_list("pk", flat=True))
        if not queued:
            return
        for run_id in queued:
            worker.execute(run_id)


def start_org(owner, connection) -> AuditRun:
    return start.start_run(
        owner,
        source=AuditRun.Source.CONNECTION,
        frameworks=["cis"],
        connection=connection,
        kind=AuditRun.Kind.ORGANIZATION,
        target={"member_role_name": "AegisAudit"},
    )


@pytest.mark.django_db(transaction=True)
def test_it_audits_every_account_as_a_child_and_completes_the_parent(aws, alice, monkeypatch):
    ids = build_org(aws, members=3)
    refuse_assume_role_into(monkeypatch, ids[2])
    parent = start_org(alice, connection_for(alice))
    run_queue()
    parent.refresh_from_db()
    children = {c.account_id: c for c in parent.children.all()}
    assert set(children) == {MGMT, *ids}, "every account once, the management account included"
    assert children[ids[2]].status == AuditRun.Status.FAILED
    assert "AccessDenied" in children[ids[2]].error and ids[2] in children[ids[2]].error
    for account_id in (MGMT, ids[0], ids[1]):
        assert children[account_id].status == AuditRun.Status.COMPLETED, children[account_id].error
        assert children[account_id].findings.filter(principal_name__startswith="dev-").exists() or account_id == MGMT
    assert parent.status == AuditRun.Status.COMPLETED
    assert parent.result["audit_summary"] == parent.result["audit_summary"] | {
        "accounts": 4,
        "completed": 3,
        "failed": 1,
    }
    events = list(AuditEvent.objects.filter(run=parent).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "complete"
    assert [e.type for e in events].count("complete") == 1
    ended = [
        e.payload["account"]["account_id"]
        for e in events
        if e.payload.get("account", {}).get("status") in AuditRun.FINISHED
    ]
    assert sorted(ended) == sorted(children), "one end event per account"
    assert any(ids[2] in e.message and "failed" in e.message for e in events)


@pytest.mark.django_db(transaction=True)
def test_each_account_is_audited_under_the_scps_the_organization_applies_to_it(aws, alice):
    ids = build_org(aws, members=2)
    org = aws.client("organizations")
    locked = org.create_policy(
        Name="deny-all-but-reads",
        Type="SERVICE_CONTROL_POLICY",
        Description="",
        Content=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotAction": ["s3:Get*"], "Resource": "*"}]}
        ),
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=locked, TargetId=ids[0])
    parent = start_org(alice, connection_for(alice))
    run_queue()
    children = {c.account_id: c for c in AuditRun.objects.filter(parent=parent)}
    assert all(c.status == AuditRun.Status.COMPLETED for c in children.values()), [c.error for c in children.values()]

    def admins(account_id: str) -> set[str]:
        found = children[account_id].findings.filter(check_id="user_admin_access")
        return set(found.values_list("principal_name", flat=True))

    assert admins(ids[0]) == set(), "the SCP takes every action but s3:Get* away from dev-0"
    assert admins(ids[1]) == {"dev-1"}, "the same inline policy without the SCP is administrator access"


@pytest.mark.django_db(transaction=True)
def test_it_creates_no_account_twice_when_the_parent_runs_again(aws, alice):
    build_org(aws, members=2)
    parent = start_org(alice, connection_for(alice))
    worker.execute(parent.pk)
    # A parent presumed dead and requeued lists the organization again: no second child per account.
    AuditRun.objects.filter(pk=parent.pk).update(status=AuditRun.Status.QUEUED)
    worker.execute(parent.pk)
    assert parent.children.count() == 3
    assert sorted(parent.children.values_list("account_id", flat=True)) == sorted(
        set(parent.children.values_list("account_id", flat=True))
    )


@pytest.mark.django_db(transaction=True)
def test_the_stale_sweep_leaves_a_parent_whose_accounts_are_queued(aws, alice, settings):
    build_org(aws, members=1)
    parent = start_org(alice, connection_for(alice))
    worker.execute(parent.pk)
    AuditRun.objects.filter(pk=parent.pk).update(heartbeat=timezone.now() - timezone.timedelta(hours=1))
    assert parent.pk not in start.requeue_stale_runs()


@pytest.mark.django_db(transaction=True)
def test_pause_resume_and_cancel_act_on_the_whole_organization(aws, alice):
    build_org(aws, members=2)
    parent = start_org(alice, connection_for(alice))
    worker.execute(parent.pk)
    parent.refresh_from_db()
    organization.pause(parent)
    assert set(parent.children.values_list("status", flat=True)) == {AuditRun.Status.PAUSED}
    run_queue()  # paused children are not taken
    assert set(parent.children.values_list("status", flat=True)) == {AuditRun.Status.PAUSED}
    parent.refresh_from_db()
    assert start.resume_organization(parent) == 3
    first = parent.children.order_by("pk").first()
    worker.execute(first.pk)
    parent.refresh_from_db()
    organization.cancel(parent)
    parent.refresh_from_db()
    statuses = sorted(parent.children.values_list("status", flat=True))
    assert statuses == sorted([AuditRun.Status.COMPLETED, AuditRun.Status.CANCELLED, AuditRun.Status.CANCELLED])
    assert parent.status == AuditRun.Status.CANCELLED
    assert AuditEvent.objects.filter(run=parent).order_by("-seq").first().type == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_it_fails_clearly_when_the_connection_cannot_read_the_organization(aws, alice):
    aws.client("iam").create_role(RoleName="AegisAudit", AssumeRolePolicyDocument=TRUST_MGMT)
    parent = start_org(alice, connection_for(alice))
    worker.execute(parent.pk)
    parent.refresh_from_db()
    assert parent.status == AuditRun.Status.FAILED
    assert "organization" in parent.error
    assert not parent.children.exists()


def test_the_org_page_lists_accounts_and_strangers_get_404(client, alice, bob, db):
    connection = connection_for(alice)
    parent = AuditRun.objects.create(
        owner=alice,
        source="connection",
        connection=connection,
        kind="organization",
        status=AuditRun.Status.RUNNING,
        target={"member_role_name": "AegisAudit"},
        checkpoint={"children_created": True},
    )
    for i in range(3):
        AuditRun.objects.create(
            owner=alice,
            source="connection",
            connection=connection,
            parent=parent,
            account_id=f"00000000000{i}",
            target={"account_name": f"acct-{i}"},
        )
    client.force_login(alice)
    page = client.get(f"/audits/{parent.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('data-run="') == 3 and "acct-2" in body and 'id="org-accounts"' in body
    client.force_login(bob)
    assert client.get(f"/audits/{parent.pk}/").status_code == 404
    assert client.post(f"/audits/{parent.pk}/org/cancel").status_code == 404
    assert client.get(f"/audits/{parent.pk}/org/cancel").status_code == 405


def test_the_new_organization_form_needs_a_verified_connection(client, alice, db):
    unverified = AwsConnection.objects.create(owner=alice, name="x", role_arn=f"arn:aws:iam::{MGMT}:role/A")
    client.force_login(alice)
    response = client.post("/audits/new-organization", {"connection": unverified.pk, "member_role_name": "AegisAudit"})
    assert response.status_code == 400
    assert not AuditRun.objects.exists()
    verified = connection_for(alice)
    response = client.post("/audits/new-organization", {"connection": verified.pk, "member_role_name": "bad name!"})
    assert response.status_code == 400 and "role name" in response.content.decode()
    response = client.post(
        "/audits/new-organization", {"connection": verified.pk, "member_role_name": "AegisAudit", "frameworks": ["cis"]}
    )
    run = AuditRun.objects.get()
    assert response.status_code == 302 and run.kind == "organization"
    assert run.target == {"member_role_name": "AegisAudit", "external_id": ""}


def build_cross_account_path(aws) -> list[str]:
    """A management-account user `ci` allowed to assume member 0's admin role `deploy`, which trusts its account."""
    ids = build_org(aws, members=2)
    member = session_in(aws, ids[0]).client("iam")
    trust_mgmt_root = TRUST_MGMT
    member.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust_mgmt_root)
    member.put_role_policy(RoleName="deploy", PolicyName="admin", PolicyDocument=ADMIN)
    mgmt = aws.client("iam")
    mgmt.create_user(UserName="ci")
    mgmt.put_user_policy(
        UserName="ci",
        PolicyName="deploy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ids[0]}:role/deploy"}
                ],
            }
        ),
    )
    mgmt.create_user(UserName="intern")  # no sts:AssumeRole: the trust of its account alone lets it in nowhere
    return ids


@pytest.mark.django_db(transaction=True)
def test_a_path_from_one_account_to_another_accounts_administrator_lands_on_the_organization_run(aws, alice, client):
    ids = build_cross_account_path(aws)
    parent = start_org(alice, connection_for(alice))
    run_queue()
    parent.refresh_from_db()
    assert parent.status == AuditRun.Status.COMPLETED
    paths = parent.findings.filter(check_id="cross_account_admin_path")
    assert set(paths.values_list("principal_name", flat=True)) == {"ci"}
    finding = paths.get()
    assert finding.evidence["target_account"] == ids[0]
    assert [h["to"] for h in finding.evidence["path"]] == [f"arn:aws:iam::{ids[0]}:role/deploy"]
    assert parent.result["cross_account"]["findings"] == parent.findings.filter(suppressed=False).count() >= 1
    events = list(AuditEvent.objects.filter(run=parent).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "complete"
    assert any(e.type == "finding" and e.payload["finding"]["principal_name"] == "ci" for e in events)
    client.force_login(alice)
    page = client.get(f"/audits/{parent.pk}/").content.decode()
    assert 'id="org-cross-account"' in page and f"arn:aws:iam::{MGMT}:user/ci" in page


@pytest.mark.django_db(transaction=True)
def test_an_accepted_cross_account_path_is_left_out_of_the_owners_later_organization_runs(aws, alice, reviewer):
    from django.test import Client

    ids = build_cross_account_path(aws)
    connection = connection_for(alice)
    first = start_org(alice, connection)
    run_queue()
    path = first.findings.get(check_id="cross_account_admin_path")
    staff = Client()
    staff.force_login(reviewer)
    answer = staff.post(
        f"/audits/review/{first.pk}/findings/{path.pk}/accept",
        {
            "justification": "CI deploys into member 0.",
            "expires": (timezone.now() + timedelta(days=30)).date().isoformat(),
        },
        follow=True,
    )
    assert answer.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.owner, suppression.account_id) == (alice, MGMT), "kept under the principal's account"
    assert f"later organization audits of account {MGMT}" in answer.content.decode()
    review = staff.get(f"/audits/review/{first.pk}/").content.decode()
    assert "accepted until" in review and "CI deploys into member 0." in review
    first.refresh_from_db()
    assert first.result["cross_account"]["findings"] == first.findings.filter(suppressed=False).count()
    assert first.result == organization.organization_result(first, organization.org_counts(first.pk))

    second = start_org(alice, connection)
    run_queue()
    second.refresh_from_db()
    again = second.findings.get(check_id="cross_account_admin_path")
    assert again.fingerprint == path.fingerprint and again.suppressed
    assert second.result["cross_account"]["findings"] == second.findings.filter(suppressed=False).count()
    assert second.result["cross_account"]["by_severity"][again.severity] == (
        second.findings.filter(suppressed=False, severity=again.severity).count()
    )
    event = AuditEvent.objects.get(run=second, type="finding", payload__finding__fingerprint=path.fingerprint)
    assert event.payload["finding"]["suppressed"] and "accepted risk" in event.message
    assert ids[0] in again.evidence["target_account"]


@pytest.mark.django_db(transaction=True)
def test_a_risk_accepted_on_an_account_restates_the_organizations_roll_up(aws, alice, reviewer, client):
    from django.test import Client

    from audits.tokens import create_token

    ids = build_org(aws, members=2)
    parent = start_org(alice, connection_for(alice))
    run_queue()
    parent.refresh_from_db()
    at_completion = parent.result
    member = parent.children.get(account_id=ids[0])
    admin = member.findings.filter(principal_name="dev-0", severity="critical").order_by("seq").first()
    assert admin is not None
    staff = Client()
    staff.force_login(reviewer)
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    answer = staff.post(
        f"/audits/review/{member.pk}/findings/{admin.pk}/accept", {"justification": "Break-glass.", "expires": expires}
    )
    assert answer.status_code == 302

    parent.refresh_from_db()
    member.refresh_from_db()
    assert parent.result == organization.organization_result(parent, organization.org_counts(parent.pk)), (
        "as on a reload"
    )
    summary = parent.result["audit_summary"]
    assert summary["by_severity"]["critical"] == at_completion["audit_summary"]["by_severity"]["critical"] - 1
    assert summary["findings"] == at_completion["audit_summary"]["findings"] - 1
    row = next(a for a in parent.result["accounts"] if a["account_id"] == ids[0])
    assert row["risk_score"] == member.risk_score == member.result["risk_score"]
    assert parent.risk_score == parent.result["risk_score"] == max(c.risk_score for c in parent.children.all())
    _, raw = create_token(alice, "ci")
    api = client.get(f"/api/v1/audits/{parent.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert api["run"]["risk_score"] == parent.risk_score and api["result"] == parent.result

    assert staff.post(f"/audits/review/{member.pk}/findings/{admin.pk}/unaccept").status_code == 302
    parent.refresh_from_db()
    assert parent.result == at_completion and parent.risk_score == at_completion["risk_score"]
