"""A risk accepted (or taken back) on a finished run: the run's score and counts then equal those of a new audit of
the same snapshot with the same accepted risks, on every surface that shows them (issue #20)."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audits import schedule_drift, webhooks
from audits.models import SEVERITIES, AuditRun, Finding, MuteRule
from audits.runs import start, worker
from audits.tokens import create_token

pytestmark = pytest.mark.django_db(transaction=True)


def demo_run(owner) -> AuditRun:
    run = start.start_run(owner, source="demo", frameworks=["cis", "pci_dss"])
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def accept(client, run: AuditRun, finding: Finding) -> None:
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    data = {"justification": "Break-glass admin, approved.", "expires": expires}
    assert client.post(f"/audits/review/{run.pk}/findings/{finding.pk}/accept", data).status_code == 302


def unaccept(client, run: AuditRun, finding: Finding) -> None:
    assert client.post(f"/audits/review/{run.pk}/findings/{finding.pk}/unaccept").status_code == 302


def export(client, run, name) -> bytes:
    response = client.get(f"/audits/{run.pk}/export/{name}")
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def accepted(client, alice, reviewer, settings):
    """A finished demo run, a critical risk accepted on it afterwards, and a rerun of the same snapshot."""
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    before = first.result
    worst = Finding.objects.filter(run=first, severity="critical").order_by("seq").first()
    client.force_login(reviewer)
    accept(client, first, worst)
    first.refresh_from_db()
    rerun = demo_run(alice)
    assert Finding.objects.get(run=rerun, fingerprint=worst.fingerprint).suppressed
    return {"first": first, "rerun": rerun, "before": before, "worst": worst}


def test_it_stores_the_score_and_counts_a_rerun_gives(accepted):
    first, rerun, before = accepted["first"], accepted["rerun"], accepted["before"]
    assert first.result == rerun.result
    assert first.risk_score == rerun.risk_score == rerun.result["risk_score"]
    assert first.result["audit_summary"]["findings"] == before["audit_summary"]["findings"] - 1
    assert first.result["suppressed_findings"] == 1
    assert first.result["risk_score_before_suppressions"] == before["risk_score"]


def test_the_run_page_tiles_side_box_and_score_agree_with_a_rerun(client, alice, accepted):
    first, rerun = accepted["first"], accepted["rerun"]
    client.force_login(alice)
    pages = [client.get(f"/audits/{run.pk}/").context for run in (first, rerun)]
    for name in ("risk_score", "risk_band", "by_severity", "stats", "top_risks", "patterns"):
        assert pages[0][name] == pages[1][name], name
    assert pages[0]["summary"]["findings"] == pages[1]["summary"]["findings"]
    tables = [[(t["key"], t["passed"], t["failed"]) for t in page["compliance"]] for page in pages]
    assert tables[0] == tables[1]
    # The side box (live counters) and the summary tiles count the same findings.
    assert dict(pages[0]["stats"]) == dict(pages[0]["by_severity"])


def test_the_lists_compare_trend_and_review_pages_agree_with_a_rerun(client, alice, reviewer, accepted):
    first, rerun = accepted["first"], accepted["rerun"]
    client.force_login(alice)
    listed = client.get("/audits/").context
    rows = {run.pk: run for run in listed["runs"]}
    assert rows[first.pk].risk_score == rows[rerun.pk].risk_score == rerun.risk_score
    # The list's per-severity counts leave accepted risks out, as the run page does.
    by_severity = rerun.result["audit_summary"]["by_severity"]
    assert [getattr(rows[first.pk], sev) for sev in SEVERITIES] == [by_severity[sev] for sev in SEVERITIES]
    assert [getattr(rows[rerun.pk], sev) for sev in SEVERITIES] == [by_severity[sev] for sev in SEVERITIES]
    (line,) = listed["trends"]
    assert [dot["score"] for dot in line["dots"]] == [rerun.risk_score, rerun.risk_score]
    compared = client.get(f"/audits/{rerun.pk}/compare").context["comparison"]
    assert compared.previous.pk == first.pk and not compared.new and not compared.resolved

    client.force_login(reviewer)
    queue = {run.pk: run.risk_score for run in client.get("/audits/review/").context["runs"]}
    assert queue[first.pk] == queue[rerun.pk] == rerun.risk_score
    pages = [client.get(f"/audits/review/{run.pk}/").context for run in (first, rerun)]
    assert pages[0]["run"].risk_score == pages[1]["run"].risk_score and pages[0]["band"] == pages[1]["band"]
    assert pages[0]["open_matching"] == pages[1]["open_matching"]


def test_the_api_agrees_with_a_rerun(client, alice, accepted):
    first, rerun = accepted["first"], accepted["rerun"]
    _, raw = create_token(alice, "ci")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    runs = [client.get(f"/api/v1/audits/{run.pk}", **headers).json() for run in (first, rerun)]
    assert runs[0]["run"]["risk_score"] == runs[1]["run"]["risk_score"] == rerun.risk_score
    assert runs[0]["result"] == runs[1]["result"]
    findings = [client.get(f"/api/v1/audits/{run.pk}/findings", **headers).json() for run in (first, rerun)]
    marks = [sorted((f["fingerprint"], f["suppressed"]) for f in page["findings"]) for page in findings]
    assert marks[0] == marks[1]


def test_every_export_agrees_with_a_rerun(client, alice, accepted):
    first, rerun = accepted["first"], accepted["rerun"]
    client.force_login(alice)
    documents = [json.loads(export(client, run, "findings.json")) for run in (first, rerun)]
    for name in ("risk_score", "risk_band", "total_findings", "by_severity", "suppressed_findings", "top_risks"):
        assert documents[0]["summary"][name] == documents[1]["summary"][name], name
    assert documents[0]["summary"]["risk_score"] == rerun.risk_score
    rows = [list(csv.DictReader(io.StringIO(export(client, run, "findings.csv").decode()))) for run in (first, rerun)]
    csv_marks = [sorted((r["fingerprint"], r["suppressed"]) for r in got) for got in rows]
    assert csv_marks[0] == csv_marks[1] and sum(mark == "true" for _, mark in csv_marks[0]) == 1
    sarif = [json.loads(export(client, run, "findings.sarif"))["runs"][0]["results"] for run in (first, rerun)]
    assert [sum(bool(r.get("suppressions")) for r in results) for results in sarif] == [1, 1]
    ocsf = [json.loads(export(client, run, "findings.ocsf.json")) for run in (first, rerun)]
    statuses = [sorted(e["status"] for e in events) for events in ocsf]
    assert statuses[0] == statuses[1] and statuses[0].count("Suppressed") == 1


def test_the_webhook_message_agrees_with_a_rerun(accepted):
    first, rerun, worst = accepted["first"], accepted["rerun"], accepted["worst"]
    drift = schedule_drift.drift_between(first.pk, None)
    message = webhooks.message_for(first, drift)
    assert f"risk score {rerun.risk_score}." in message["text"]
    assert message["aegis"]["risk_score"] == rerun.risk_score
    assert ("", worst.fingerprint) not in drift.new, "an accepted risk was announced as new"
    assert message["aegis"]["new"]["count"] == rerun.result["audit_summary"]["findings"]
    # The rerun of the same snapshot with the same accepted risk drifts from it by nothing.
    assert schedule_drift.drift_between(rerun.pk, first.pk).total == 0


def test_taking_the_acceptance_back_restores_the_run_and_the_later_one(client, reviewer, accepted):
    first, rerun, before, worst = accepted["first"], accepted["rerun"], accepted["before"], accepted["worst"]
    client.force_login(reviewer)
    unaccept(client, first, worst)
    first.refresh_from_db()
    rerun.refresh_from_db()
    assert first.result == before == rerun.result
    assert first.risk_score == rerun.risk_score == before["risk_score"]
    assert not Finding.objects.filter(run__in=[first, rerun], suppressed=True).exists()
    # A later audit no longer inherits it either.
    again = demo_run(first.owner)
    assert again.result == before


def test_taking_back_a_risk_that_was_not_accepted_changes_nothing(client, reviewer, accepted):
    first = accepted["first"]
    stored = first.result
    other = Finding.objects.filter(run=first, suppressed=False).first()
    client.force_login(reviewer)
    response = client.post(f"/audits/review/{first.pk}/findings/{other.pk}/unaccept", follow=True)
    assert "was not accepted" in response.text
    first.refresh_from_db()
    assert first.result == stored and first.result["suppressed_findings"] == 1


def test_only_reviewers_take_an_acceptance_back_and_only_by_post(client, alice, reviewer, accepted):
    first, worst = accepted["first"], accepted["worst"]
    url = f"/audits/review/{first.pk}/findings/{worst.pk}/unaccept"
    client.force_login(alice)
    assert client.post(url).status_code == 404
    client.force_login(reviewer)
    assert client.get(url).status_code == 405
    assert Finding.objects.get(pk=worst.pk).suppressed


def test_a_mute_rule_counts_as_a_rerun_under_it_and_leaves_finished_runs_as_they_were(
    client, alice, reviewer, settings
):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    target = Finding.objects.filter(run=first, severity="critical").exclude(principal_arn="").first()
    rule = MuteRule.objects.create(
        owner=alice, created_by=reviewer, check_id=target.check_id, account_id=first.account_id,
        reason="CI deploy users", expires=timezone.now() + timedelta(days=30),
    )  # fmt: skip
    muted = demo_run(alice)
    # A rule applies to runs that start after it (audits.views.mutelist): the finished run keeps its result.
    first.refresh_from_db()
    assert not Finding.objects.filter(run=first, suppressed=True).exists()
    assert muted.result["suppressed_findings"] == Finding.objects.filter(run=muted, suppressed=True).count() > 0

    # Accepting another risk on the muted run restates it with its mutes kept, as a rerun under the rule gives.
    other = Finding.objects.filter(run=muted, suppressed=False, severity="high").first()
    client.force_login(reviewer)
    accept(client, muted, other)
    muted.refresh_from_db()
    rerun = demo_run(alice)
    assert muted.result == rerun.result and muted.risk_score == rerun.risk_score

    # Taking the acceptance back reopens the accepted finding, never the muted ones.
    unaccept(client, muted, other)
    muted.refresh_from_db()
    assert set(Finding.objects.filter(run=muted, suppressed=True).values_list("muted_by", flat=True)) == {rule.label()}
    rule.delete()
    after = demo_run(alice)
    assert after.result == first.result
