"""Drift between real runs of one source (moto standing in for AWS), announced to a real local webhook receiver and
shown in the runs list: an account connection, and an organization with one message for all its accounts."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditRun, AwsConnection, UserSettings
from audits.runs import start, worker
from tests.test_org_runs import ADMIN, MGMT, TRUST_MGMT, build_org, connection_for, run_queue, session_in, start_org

# local_http is autouse: imported here, it applies to these tests as to the webhook tests.
from tests.test_webhooks import Receiver, local_http  # noqa: F401


def audit_account(owner, connection: AwsConnection) -> AuditRun:
    run = start.start_run(owner, source=AuditRun.Source.CONNECTION, frameworks=["cis"], connection=connection)
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def admin_users(items: list[dict]) -> set[str]:
    return {item["principal_name"] for item in items if item["principal_type"] == "user"}


@pytest.mark.django_db(transaction=True)
def test_a_connection_run_announces_its_drift_and_the_runs_list_shows_it(aws, alice, client):
    iam = aws.client("iam")
    iam.create_role(RoleName="AegisAudit", AssumeRolePolicyDocument=TRUST_MGMT)
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="all", PolicyDocument=ADMIN)
    connection = AwsConnection.objects.create(
        owner=alice, name="prod", role_arn=f"arn:aws:iam::{MGMT}:role/AegisAudit", account_id=MGMT,
        verified_at=timezone.now(),
    )  # fmt: skip
    with Receiver() as receiver:
        UserSettings.objects.create(user=alice, webhook_url=receiver.url)
        first = audit_account(alice, connection)
        iam.delete_user_policy(UserName="dev", PolicyName="all")
        iam.create_user(UserName="intern")
        iam.put_user_policy(UserName="intern", PolicyName="all", PolicyDocument=ADMIN)
        second = audit_account(alice, connection)
    first_message, message = receiver.received
    assert "The first audit of its source" in first_message["text"] and first_message["aegis"]["run"] == first.pk
    drift = message["aegis"]
    assert (drift["run"], drift["previous"], drift["source"]) == (second.pk, first.pk, "prod")
    assert "intern" in admin_users(drift["new"]["top"]) and "dev" not in admin_users(drift["new"]["top"])
    assert "dev" in admin_users(drift["resolved"]["top"])
    assert second.target["drift"] == {
        "previous": first.pk, **{kind: drift[kind]["count"] for kind in ("new", "resolved", "changed")}
    }  # fmt: skip
    said = f"Since audit #{first.pk}: {drift['new']['count']} new, {drift['resolved']['count']} resolved"
    assert said in message["text"]
    client.force_login(alice)
    page = client.get(reverse("audits:list")).text
    assert f"/audits/{second.pk}/compare?with={first.pk}" in page
    assert f"{drift['new']['count']} new, {drift['resolved']['count']} resolved, 0 changed" in page


@pytest.mark.django_db(transaction=True)
def test_an_organization_run_sends_one_message_with_each_accounts_drift(aws, alice, client):
    ids = build_org(aws, members=2)
    connection = connection_for(alice)
    with Receiver() as receiver:
        UserSettings.objects.create(user=alice, webhook_url=receiver.url)
        first = start_org(alice, connection)
        run_queue()
        added = session_in(aws, ids[0]).client("iam")
        added.create_user(UserName="new-admin")
        added.put_user_policy(UserName="new-admin", PolicyName="all", PolicyDocument=ADMIN)
        session_in(aws, ids[1]).client("iam").delete_user_policy(UserName="dev-1", PolicyName="all")
        second = start_org(alice, connection)
        run_queue()
    second.refresh_from_db()
    assert second.status == AuditRun.Status.COMPLETED
    # One message per organization run; its accounts' own runs send none.
    first_message, message = receiver.received
    assert first_message["aegis"]["run"] == first.pk and first_message["aegis"]["organization"] is True
    drift = message["aegis"]
    assert (drift["run"], drift["previous"], drift["organization"]) == (second.pk, first.pk, True)
    members = {row["account_id"]: row for row in drift["members"]}
    assert set(members) == {ids[0], ids[1]}, "the management account did not change"
    assert members[ids[0]]["new"] >= 1 and members[ids[0]]["resolved"] == 0 and members[ids[0]]["name"] == "member-0"
    assert members[ids[1]]["resolved"] >= 1 and members[ids[1]]["new"] == 0
    assert "new-admin" in admin_users(drift["new"]["top"])
    assert {item["account_id"] for item in drift["new"]["top"]} == {ids[0]}
    assert "dev-1" in admin_users(drift["resolved"]["top"])
    by_account = next(b["text"]["text"] for b in message["blocks"] if b["text"]["text"].startswith("*By account*"))
    assert f"• {ids[0]} (member-0): {members[ids[0]]['new']} new, 0 resolved" in by_account
    assert f"organization audit #{second.pk} of" in message["text"] and "compare" not in json.dumps(message["blocks"])
    assert second.target["drift"]["members"][ids[1]]["resolved"] == members[ids[1]]["resolved"]
    # Each account's run records its own drift since the account's previous run, for the runs list.
    child = second.children.get(account_id=ids[0])
    assert child.target["drift"]["new"] == members[ids[0]]["new"]
    client.force_login(alice)
    page = client.get(reverse("audits:list")).text
    assert f"Since organization audit #{first.pk}, its accounts included" in page
