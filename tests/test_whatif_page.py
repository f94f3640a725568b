""" "What if…" on a run: the page and the API apply a change to the run's stored snapshot and show what it does."""

import json

import pytest
from django.test import Client

from audits import query_guard
from audits.iam.snapshot import load_demo_snapshot
from audits.iam.whatif_report import audit_findings
from audits.models import Finding
from audits.tokens import create_token
from audits.views import whatif
from tests.helpers import make_finished_run, make_run
from tests.test_query_views import snapshot_run

# The literature account's user that can write its own inline policies: a fence on it removes its escalation.
LIT_USER = "privesc10-PutUserPolicy-user"
LIT_ARN = f"arn:aws:iam::111122223333:user/{LIT_USER}"
FENCE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "iam:PutUserPolicy", "Resource": "*"}],
}
FENCE_OPS = [{"Operation": "PutUserPolicy", "UserName": LIT_USER, "PolicyName": "fence", "PolicyDocument": FENCE}]
FENCE_CLI = (
    f"aws iam put-user-policy --user-name {LIT_USER} --policy-name fence --policy-document '{json.dumps(FENCE)}'"
)
# A Terraform plan that makes the demo account's intern an administrator.
GRANT_PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": "aws_iam_user_policy_attachment.intern_admin",
            "mode": "managed",
            "type": "aws_iam_user_policy_attachment",
            "name": "intern_admin",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": {"user": "intern", "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            },
        }
    ],
}


def removed_escalation(report_removed, arn: str) -> bool:
    return any(f["principal_arn"] == arn and f["check_id"] == "principal_privilege_escalation" for f in report_removed)


def demo_finding_with_fix(run, check_id: str = "user_admin_access") -> Finding:
    """A finding of the demo account as the engine records it, with its fix as IAM operations."""
    findings, _ = audit_findings(load_demo_snapshot())
    found = next(f for f in findings if f["check_id"] == check_id and (f.get("fix") or {}).get("ops"))
    return Finding.objects.create(run=run, **{name: found.get(name) for name in Finding.FIELDS})


def test_it_shows_the_empty_form_with_its_run(client, alice):
    run = make_run(alice)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/whatif")
    text = page.content.decode()
    assert page.status_code == 200 and 'name="change"' in text and "csrfmiddlewaretoken" in text
    assert f'href="{run.get_absolute_url()}"' in text


def test_it_gives_strangers_a_404_refuses_other_methods_and_needs_a_login(client, alice, bob, reviewer):
    run = make_run(alice)
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/whatif").status_code == 404
    assert client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)}).status_code == 404
    client.force_login(reviewer)  # staff see every run, as on the other run pages
    assert client.get(f"/audits/{run.pk}/whatif").status_code == 200
    client.force_login(alice)
    assert client.put(f"/audits/{run.pk}/whatif").status_code == 405
    assert client.delete(f"/audits/{run.pk}/whatif").status_code == 405
    client.logout()
    assert client.get(f"/audits/{run.pk}/whatif").status_code == 302


def test_it_keeps_csrf_on_the_form(alice):
    run = make_run(alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)}).status_code == 403
    token = strict.get(f"/audits/{run.pk}/whatif").cookies["csrftoken"].value
    posted = strict.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS), "csrfmiddlewaretoken": token})
    assert posted.status_code == 200


@pytest.mark.parametrize("change", [json.dumps(FENCE_OPS), json.dumps({"ops": FENCE_OPS}), FENCE_CLI])
def test_it_reads_json_operations_and_cli_lines(client, alice, change):
    run = snapshot_run(alice)
    client.force_login(alice)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": change})
    report = page.context["report"]
    assert page.status_code == 200 and removed_escalation(report.removed, LIT_ARN)
    assert 'id="whatif-gate">Gate: pass' in page.content.decode()
    assert page.context["outcome"].change.kind == ("aws iam lines" if change == FENCE_CLI else "IAM operations in JSON")


def test_it_reads_a_terraform_plan_and_fails_the_gate_on_a_new_admin(client, alice):
    run = make_run(alice)  # the demo account
    client.force_login(alice)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(GRANT_PLAN)})
    text = page.content.decode()
    assert page.status_code == 200 and page.context["outcome"].change.kind == "Terraform plan"
    assert 'id="whatif-gate">Gate: fail' in text
    access = {row["principal"]: row for row in page.context["report"].access}
    assert "administrator" in access["arn:aws:iam::123456789012:user/intern"]["gains"]


def test_it_lists_what_iam_would_refuse(client, alice):
    run = make_run(alice)
    client.force_login(alice)
    ops = [{"Operation": "DetachUserPolicy", "UserName": "nobody-here", "PolicyArn": "arn:aws:iam::aws:policy/X"}]
    page = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(ops)})
    text = page.content.decode()
    assert page.status_code == 200 and "NoSuchEntity" in text and "Gate: fail" in text


def test_it_prefills_a_findings_fix_and_shows_the_finding_gone(client, alice, bob):
    run = make_run(alice)
    finding = demo_finding_with_fix(run)
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/whatif", {"fix": finding.pk})
    text = page.content.decode()
    assert page.status_code == 200 and page.context["finding_gone"]
    assert json.loads(page.context["text"]) == finding.fix["ops"]
    assert finding.fingerprint in {f["fingerprint"] for f in page.context["report"].removed}
    assert "no longer finds" in text
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/whatif", {"fix": finding.pk}).status_code == 404
    other = make_run(bob)
    client.force_login(alice)  # a finding of another run is not this run's
    assert client.get(f"/audits/{other.pk}/whatif", {"fix": finding.pk}).status_code == 404


def test_the_finding_page_and_the_run_page_link_to_it(client, alice):
    run = make_finished_run(alice)
    finding = demo_finding_with_fix(run)
    client.force_login(alice)
    detail = client.get(f"/audits/{run.pk}/findings/{finding.pk}/").content.decode()
    assert f'href="/audits/{run.pk}/whatif?fix={finding.pk}"' in detail and "Apply this fix in a what-if" in detail
    results = client.get(f"/audits/{run.pk}/").content.decode()
    assert f'id="open-whatif" href="/audits/{run.pk}/whatif"' in results


def test_it_refuses_a_change_over_the_size_limit_with_413(client, alice):
    run = make_run(alice)
    client.force_login(alice)
    big = "# " + "x" * (whatif.MAX_CHANGE_BYTES + 10)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": big})
    assert page.status_code == 413 and "256 KB" in page.content.decode()
    assert page.context["text"] == ""  # not echoed back into the page


def test_it_refuses_a_snapshot_past_the_query_limit_with_413(client, alice, settings):
    settings.AEGIS_QUERY_MAX_SNAPSHOT_BYTES = 4096
    run = snapshot_run(alice)
    client.force_login(alice)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)})
    assert page.status_code == 413 and "what-if on snapshots up to 4 KB" in page.content.decode()


def test_it_answers_503_while_another_what_if_runs(client, alice):
    run = make_run(alice)
    client.force_login(alice)
    assert whatif._slots.acquire(blocking=False)  # another what-if holds the only slot
    try:
        busy = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)})
    finally:
        whatif._slots.release()
    assert busy.status_code == 503 and busy["Retry-After"] and "Another what-if" in busy.content.decode()
    with query_guard.query_slot(), query_guard.query_slot():  # every "Who can" slot taken
        full = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)})
    assert full.status_code == 503
    assert client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)}).status_code == 200


def test_it_stops_waiting_past_the_time_limit_and_keeps_the_slot_until_done(client, alice, monkeypatch):
    monkeypatch.setattr(whatif, "WHATIF_SECONDS", 0.0)
    run = make_run(alice)
    client.force_login(alice)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": json.dumps(FENCE_OPS)})
    assert page.status_code == 422 and "took longer than 0 seconds" in page.content.decode()
    assert whatif._slots.acquire(timeout=120)  # the what-if finishes on its own, then frees its slot
    whatif._slots.release()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("", "Paste a change"),
        ("[1, 2", "not valid JSON"),
        ('{"hello": 1}', "expected a list of operations"),
        ("aws s3 rm s3://bucket --recursive", "not an `aws iam` command"),
        ("aws iam put-user-policy --user-name x --policy-document '{bad'", "is not JSON"),
        ('{"resource_changes": "nope"}', "not a Terraform JSON plan"),
    ],
)
def test_it_explains_bad_input_with_400(client, alice, change, message):
    run = make_run(alice)
    client.force_login(alice)
    page = client.post(f"/audits/{run.pk}/whatif", {"change": change})
    assert page.status_code == 400 and message in page.content.decode()


def test_it_answers_the_api_with_a_read_token(client, alice, bob):
    run = snapshot_run(alice)
    _, read = create_token(alice, "read only")  # the default scope
    _, theirs = create_token(bob, "theirs")
    url = f"/api/v1/audits/{run.pk}/whatif"
    for body in ({"ops": FENCE_OPS}, {"cli": FENCE_CLI}):
        answer = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {read}")
        data = answer.json()
        assert answer.status_code == 200 and data["gate"] == "pass" and data["operations"] == 1
        assert removed_escalation(data["removed"], LIT_ARN)
        assert data["risk_score"]["before"] is not None
    demo = make_run(alice)
    plan = client.post(
        f"/api/v1/audits/{demo.pk}/whatif",
        {"terraform_plan": GRANT_PLAN},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {read}",
    )
    assert plan.status_code == 200 and plan.json()["gate"] == "fail" and plan.json()["input"] == "Terraform plan"
    stranger = client.post(
        url, {"ops": FENCE_OPS}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {theirs}"
    )
    assert stranger.status_code == 404


def test_the_api_needs_a_token_and_explains_bad_bodies(client, alice):
    run = make_run(alice)
    _, read = create_token(alice, "read only")
    url = f"/api/v1/audits/{run.pk}/whatif"
    assert client.post(url, {"ops": FENCE_OPS}, content_type="application/json").status_code == 401
    client.force_login(alice)  # a session is not a token
    assert client.post(url, {"ops": FENCE_OPS}, content_type="application/json").status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {read}"}
    assert client.get(url, **auth).status_code == 405
    bad = client.post(url, "not json", content_type="application/json", **auth)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    both = client.post(url, {"ops": FENCE_OPS, "cli": FENCE_CLI}, content_type="application/json", **auth)
    assert both.status_code == 400 and "exactly one" in both.json()["error"]
    big = client.post(url, {"cli": "#" * (whatif.MAX_CHANGE_BYTES + 1)}, content_type="application/json", **auth)
    assert big.status_code == 413
