"""A run's source is part of its identity: history, compare, trends and accepted risks follow it, not the account id.

The demo account and an upload of the demo file both name account 123456789012; they must never share a history.
"""

import hashlib
import importlib
from datetime import time, timedelta

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits import compare, schedule_drift, schedules
from audits.iam.snapshot import DEMO_PATH
from audits.models import AuditRun, AwsConnection, Finding, RunInput, Schedule, Suppression
from audits.runs import organization, retry, sources, start, worker
from tests.view_helpers import make_completed_run, make_finding

DEMO_BYTES = DEMO_PATH.read_bytes()
DEMO_DIGEST = hashlib.sha256(DEMO_BYTES).hexdigest()
DEMO_ACCOUNT = "123456789012"


def connection_of(owner, name: str = "prod", account_id: str = "111122223333") -> AwsConnection:
    return AwsConnection.objects.create(
        owner=owner,
        name=name,
        role_arn=f"arn:aws:iam::{account_id}:role/AegisAudit",
        account_id=account_id,
        verified_at=timezone.now(),
    )


def upload(client, name: str = "sample.json", content: bytes = DEMO_BYTES) -> AuditRun:
    file = SimpleUploadedFile(name, content, content_type="application/json")
    response = client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis"], "snapshot_file": file})
    assert response.status_code == 302, response.content[:500]
    return AuditRun.objects.order_by("-pk").first()


def executed(run: AuditRun) -> AuditRun:
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def completed(owner, key: str, *, source: str = "demo", findings=("a",), days_ago: int = 0, **fields) -> AuditRun:
    """A completed run of one source, with findings of the given fingerprints."""
    run = make_completed_run(
        owner,
        [make_finding(fp) for fp in findings],
        account_id=fields.pop("account_id", DEMO_ACCOUNT),
        created=timezone.now() - timedelta(days=days_ago),
    )
    AuditRun.objects.filter(pk=run.pk).update(source=source, source_key=key, **fields)
    run.refresh_from_db()
    return run


# --- the key is set where runs are created -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_keys_the_demo_a_connection_and_an_organization_with_its_members(alice):
    assert start.start_run(alice, source="demo", frameworks=["cis"]).source_key == "demo"
    conn = connection_of(alice)
    direct = start.start_run(alice, source="connection", frameworks=["cis"], connection=conn, account_id="1" * 12)
    assert direct.source_key == f"connection:{conn.pk}"
    org = start.start_run(
        alice, source="connection", frameworks=["cis"], connection=conn, kind="organization",
        target={"member_role_name": "AegisMember", "external_id": ""},
    )  # fmt: skip
    assert org.source_key == f"org:{conn.pk}"
    members = [{"id": "111122223333", "name": "mgmt", "status": "ACTIVE"},
               {"id": "444455556666", "name": "dev", "status": "ACTIVE"}]  # fmt: skip
    worker.create_children(org, members, "111122223333", conn.role_arn, "AegisMember")
    keys = dict(org.children.values_list("account_id", "source_key"))
    assert keys == {"111122223333": f"org:{conn.pk}:111122223333", "444455556666": f"org:{conn.pk}:444455556666"}


@pytest.mark.django_db
def test_it_keys_an_upload_by_the_digest_of_its_bytes_and_shows_the_file_name(client, alice):
    client.force_login(alice)
    run = upload(client, "prod-export.json")
    assert run.source_key == f"upload:{DEMO_DIGEST}"
    assert RunInput.objects.get(run=run).sha256 == DEMO_DIGEST
    assert sources.label(run) == f"prod-export.json · sha256 {DEMO_DIGEST[:12]}"
    # Another file, another source, even under the same name and account id.
    other = upload(client, "prod-export.json", DEMO_BYTES + b"\n")
    assert other.source_key != run.source_key and other.account_id == run.account_id


@pytest.mark.django_db
def test_it_keys_scheduled_runs_and_a_retry_keeps_the_source(client, alice):
    conn = connection_of(alice)
    scheduled = schedules.start_scheduled_run(
        Schedule.objects.create(owner=alice, source="connection", connection=conn, at=time(3, 0))
    )
    assert scheduled.source_key == f"connection:{conn.pk}"
    demo = schedules.start_scheduled_run(Schedule.objects.create(owner=alice, source="demo", at=time(4, 0)))
    assert demo.source_key == "demo"
    client.force_login(alice)
    first = upload(client)
    AuditRun.objects.filter(pk=first.pk).update(status=AuditRun.Status.FAILED)
    again, created = retry.retry(first)
    assert created and again.source_key == first.source_key == f"upload:{DEMO_DIGEST}"
    assert again.snapshot_name == first.snapshot_name


# --- history follows the key ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_compares_an_upload_only_with_earlier_runs_of_the_same_file(client, alice):
    older_upload = completed(alice, f"upload:{DEMO_DIGEST}", source="snapshot", findings=("a", "b"), days_ago=3)
    demo = completed(alice, "demo", findings=("x", "y", "z"), days_ago=1)
    other_file = completed(alice, "upload:" + "f" * 64, source="snapshot", findings=("q",), days_ago=1)
    run = completed(alice, f"upload:{DEMO_DIGEST}", source="snapshot", findings=("a", "c"))
    assert compare.previous_run(run) == older_upload
    assert compare.previous_run(demo) is None
    assert compare.previous_run(other_file) is None
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/").text
    assert f"audit #{older_upload.pk}</a>:" in page
    assert f"audit #{demo.pk}</a>:" not in page
    result = compare.compare(run)
    assert ([f.fingerprint for f in result.new], [f.fingerprint for f in result.resolved]) == (["c"], ["b"])


@pytest.mark.django_db
def test_it_draws_one_trend_per_source_labelled_with_source_and_account(client, alice):
    conn = connection_of(alice, "prod-conn", DEMO_ACCOUNT)
    for days in (3, 2):
        completed(alice, "demo", days_ago=days)
        completed(alice, f"upload:{DEMO_DIGEST}", source="snapshot", days_ago=days, snapshot_name="sample.json")
    completed(alice, f"connection:{conn.pk}", source="connection", connection=conn)
    client.force_login(alice)
    page = client.get("/audits/").text
    assert "Risk score by source" in page
    assert page.count('class="card trend"') == 3
    assert 'data-source="demo"' in page and f'data-source="upload:{DEMO_DIGEST}"' in page
    assert f"sample.json · sha256 {DEMO_DIGEST[:12]}" in page and "prod-conn" in page
    assert page.count(f'<span class="account mono">{DEMO_ACCOUNT}</span>') == 3


@pytest.mark.django_db
def test_it_shows_the_source_in_the_compare_and_review_pickers(client, alice, reviewer):
    conn = connection_of(alice, "billing-conn", DEMO_ACCOUNT)
    completed(alice, "demo", days_ago=2)
    completed(alice, f"connection:{conn.pk}", source="connection", connection=conn, days_ago=1)
    run = completed(alice, f"upload:{DEMO_DIGEST}", source="snapshot", snapshot_name="sample.json")
    client.force_login(alice)
    picker = client.get(f"/audits/{run.pk}/compare").text.split('id="compare-with"')[1].split("</select>")[0]
    assert "Demo account · account 123456789012" in picker
    assert "billing-conn · account 123456789012" in picker
    assert f"sample.json · sha256 {DEMO_DIGEST[:12]}" in client.get(f"/audits/{run.pk}/compare").text
    client.force_login(reviewer)
    queue = client.get("/audits/review/").text
    assert "Demo account" in queue and "billing-conn" in queue and f"sha256 {DEMO_DIGEST[:12]}" in queue


@pytest.mark.django_db
def test_it_compares_scheduled_drift_within_the_source(alice):
    conn = connection_of(alice)
    earlier = completed(alice, f"connection:{conn.pk}", source="connection", connection=conn, days_ago=2)
    completed(alice, f"connection:{conn.pk + 1}", source="connection", days_ago=1)  # another connection's run
    run = completed(alice, f"connection:{conn.pk}", source="connection", connection=conn)
    assert schedule_drift.previous_of_same_source(run) == earlier


# --- accepted risks follow the key ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_demo_acceptance_does_not_suppress_an_uploads_finding(client, alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    demo = executed(start.start_run(alice, source="demo", frameworks=["cis"]))
    worst = Finding.objects.filter(run=demo, severity="critical").first()
    client.force_login(reviewer)
    accepted = client.post(
        f"/audits/review/{demo.pk}/findings/{worst.pk}/accept",
        {"justification": "Break-glass, monitored.", "expires": (timezone.now() + timedelta(days=30)).date()},
        follow=True,
    )
    assert "Risk accepted until" in accepted.text and "same source (Demo account)" in accepted.text
    assert Suppression.objects.get().source_key == "demo"

    client.force_login(alice)
    sample = executed(upload(client))
    assert sample.account_id == demo.account_id == DEMO_ACCOUNT
    same = Finding.objects.get(run=sample, fingerprint=worst.fingerprint)
    assert not same.suppressed
    assert "suppressed_findings" not in sample.result
    # The next demo run does inherit it.
    again = executed(start.start_run(alice, source="demo", frameworks=["cis"]))
    assert Finding.objects.get(run=again, fingerprint=worst.fingerprint).suppressed
    # And a second upload of the same file shares the first upload's history, not the demo's.
    second = executed(upload(client, "renamed.json"))
    assert compare.previous_run(second) == sample


@pytest.mark.django_db
def test_it_keeps_an_old_suppression_without_a_source_working_by_account(alice):
    demo = completed(alice, "demo")
    Suppression.objects.create(owner=alice, account_id=DEMO_ACCOUNT, fingerprint="a", justification="old",
                               expires_at=timezone.now() + timedelta(days=5))  # fmt: skip
    Suppression.objects.create(owner=alice, account_id=DEMO_ACCOUNT, fingerprint="b", source_key="upload:x",
                               justification="other source", expires_at=timezone.now() + timedelta(days=5))  # fmt: skip
    assert worker.accepted_risks(demo.pk, DEMO_ACCOUNT, "demo") == frozenset({"a"})


@pytest.mark.django_db
def test_it_applies_cross_account_acceptances_of_the_same_organization_only(alice):
    conn = connection_of(alice)
    parent = completed(alice, f"org:{conn.pk}", source="connection", kind="organization", connection=conn)
    finding = make_finding("path-1", principal_arn="arn:aws:iam::444455556666:role/deploy")
    expires = timezone.now() + timedelta(days=5)
    Suppression.objects.create(owner=alice, account_id="444455556666", fingerprint="path-1", source_key="demo",
                               justification="another source", expires_at=expires)  # fmt: skip
    assert not organization.with_accepted_risks(parent.pk, [finding])[0].get("suppressed")
    Suppression.objects.create(owner=alice, account_id="444455556666", fingerprint="path-1",
                               source_key=f"org:{conn.pk}", justification="same org", expires_at=expires)  # fmt: skip
    assert organization.with_accepted_risks(parent.pk, [finding])[0]["suppressed"]


# --- existing rows ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_migration_fills_keys_for_existing_runs_and_suppressions(client, alice):
    conn = connection_of(alice)
    client.force_login(alice)
    stored = upload(client)
    lost = completed(alice, "", source="snapshot")
    demo = completed(alice, "")
    direct = completed(alice, "", source="connection", connection=conn)
    parent = completed(alice, "", source="connection", kind="organization", connection=conn)
    member = completed(alice, "", source="connection", connection=conn, parent=parent, account_id="444455556666")
    AuditRun.objects.filter(pk=stored.pk).update(source_key="")
    kept = Suppression.objects.create(owner=alice, run=demo, account_id=DEMO_ACCOUNT, fingerprint="a",
                                      justification="x", expires_at=timezone.now() + timedelta(days=5))  # fmt: skip
    migration = importlib.import_module("audits.migrations.0008_run_source_key")
    migration.fill_source_keys(apps, None)
    keys = dict(AuditRun.objects.values_list("pk", "source_key"))
    assert keys[stored.pk] == f"upload:{DEMO_DIGEST}"
    assert keys[lost.pk] == f"upload:run-{lost.pk}"
    assert keys[demo.pk] == "demo"
    assert keys[direct.pk] == f"connection:{conn.pk}"
    assert keys[parent.pk] == f"org:{conn.pk}"
    assert keys[member.pk] == f"org:{conn.pk}:444455556666"
    kept.refresh_from_db()
    assert kept.source_key == "demo"
